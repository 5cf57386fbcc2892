// Graceful shutdown (the first SIGTERM/SIGINT, and RunningServer.close()) and the graceful close
// of single HTTP/2 connections that rotation uses, on the connections the connection registry
// follows (connection/connection-registry.ts; a Drain is one of its hook factories).
//
// A drain, in order:
// 1. /healthz answers 503 {"status":"draining"}, so a load balancer stops sending. With an
//    announce period (DRAIN_ANNOUNCE_MS) nothing else changes for that long: connections are
//    still accepted and served, so the balancer's health checks mark this instance down
//    before it refuses anything (deploy/haproxy.cfg: inter x fall).
// 2. The listeners stop accepting. Not with Http2SecureServer.close(): on Node 24 that also
//    calls session.close() on every session at once (a single final GOAWAY), which would skip
//    the first step below. net.Server's own close() only closes the listening socket.
// 3. Every HTTP/2 session gets the two-step GOAWAY (lifecycle/session-drain.ts); its open streams
//    finish and the session closes by itself.
// 4. HTTP/1.1: idle keep-alive sockets are closed at once (Node's closeIdleConnections(), which
//    leaves a socket alone while a request on it is still being received); a response whose head
//    is not out yet gets `Connection: close`, and so does every request that arrives during the
//    drain; a socket whose response head had already gone out with keep-alive is closed once
//    that response has been written.
// 5. At the deadline, what is left is cancelled: streams with stream.close(CANCEL), which sends
//    RST_STREAM only after in-flight writes finished (so no slab is freed under a write),
//    HTTP/1.1 responses by destroying them. After a short grace every socket still open is
//    destroyed.
// One log line when the drain starts (one more when an announce period precedes it), one with
// the counts when every connection has closed. Behind PROXY_PROTOCOL the listening socket is
// the gate in front of the HTTP/2 server (net/proxy-listener.ts): that is the one closed.

import { performance } from 'node:perf_hooks';
import net from 'node:net';
import type { Socket } from 'node:net';
import { constants as h2 } from 'node:http2';
import type { Http2SecureServer, Http2Server, ServerHttp2Stream } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { closeSessionGracefully, sendFinalGoaway, sessionIdle } from './session-drain.ts';
import type { ConnectionHooks, ConnectionRecord, SessionRecord } from '../connection/connection-registry.ts';
import type { Logger } from '../log.ts';

/** Between cancelling what the deadline left and destroying the sockets still open. */
export const CANCEL_GRACE_MS = 1000;

export interface DrainReport {
  readonly durationMs: number;
  readonly isDeadlineReached: boolean;
  readonly sessions: number;
  readonly http1Sockets: number;
  /** HTTP/2 streams open when the drain started, how many closed by themselves, how many we cancelled. */
  readonly streams: { readonly inFlight: number; readonly closed: number; readonly cancelled: number };
  /** The same for HTTP/1.1 responses. */
  readonly responses: { readonly inFlight: number; readonly closed: number; readonly cancelled: number };
  /** Sockets destroyed after the grace that followed the deadline. */
  readonly socketsDestroyed: number;
  /** How long /healthz answered 503 before the drain itself started (DRAIN_ANNOUNCE_MS). */
  readonly announceMs: number;
}

type Listener = Http2SecureServer | Http2Server;

export class Drain {
  readonly #connections: () => Iterable<ConnectionRecord>;
  readonly #log: Logger;
  readonly #cancelGraceMs: number;
  readonly #listeners: Listener[] = [];
  /** The sockets that listen: the HTTP/2 servers themselves, or the PROXY protocol gates in front. */
  readonly #listening: net.Server[] = [];
  #isDraining = false;
  #isShuttingDown = false;
  #report: Promise<DrainReport> | undefined;

  /** `connections`: every open connection (the registry's). */
  constructor(connections: () => Iterable<ConnectionRecord>, log: Logger, cancelGraceMs = CANCEL_GRACE_MS) {
    this.#connections = connections;
    this.#log = log;
    this.#cancelGraceMs = cancelGraceMs;
  }

  /** A new connection's drain hooks (a hook factory for the connection registry). */
  connectionHooks(record: ConnectionRecord): ConnectionHooks {
    return new DrainingConnection(record, this);
  }

  /** True once the drain itself (GOAWAY, listeners closed) has begun. */
  get isDraining(): boolean {
    return this.#isDraining;
  }

  /** True from the first start() call, announce period included: /healthz answers 503. */
  get isShuttingDown(): boolean {
    return this.#isShuttingDown;
  }

  /**
   * Follows a listener, whose connections the registry follows. `listening`: the server whose
   * listening socket accepts `server`'s connections, when that is another one.
   */
  track(server: Listener, listening: net.Server = server): void {
    this.#listeners.push(server);
    this.#listening.push(listening);
  }

  /** The graceful close of one HTTP/2 session (rotation uses it too); false if already closing. */
  closeSession(session: SessionRecord): boolean {
    return closeSessionGracefully(session, session.openStreams.size > 0);
  }

  /**
   * Starts the drain (once; later calls get the same report) and resolves when every connection
   * closed. `announceMs`: /healthz answers 503 this long first, while everything else goes on.
   */
  start(deadlineMs: number, context: Record<string, unknown> = {}, announceMs = 0): Promise<DrainReport> {
    this.#report ??= this.#announceThenRun(deadlineMs, context, announceMs);
    return this.#report;
  }

  async #announceThenRun(deadlineMs: number, context: Record<string, unknown>, announceMs: number): Promise<DrainReport> {
    this.#isShuttingDown = true;
    if (announceMs > 0) {
      this.#log.info({ ...context, announceMs }, 'shutdown announced: /healthz answers 503, still serving until the drain starts');
      await new Promise((resolve) => setTimeout(resolve, announceMs));
    }
    return this.#run(deadlineMs, context, announceMs);
  }

  async #run(deadlineMs: number, context: Record<string, unknown>, announceMs: number): Promise<DrainReport> {
    const startedAt = performance.now();
    this.#isDraining = true;
    const connections = [...this.#connections()];
    const sessions = connections.flatMap((c) => (c.session ? [c.session] : []));
    const http1 = connections.filter((c) => c.protocol === 'http/1.1');
    const streamsAtStart: ServerHttp2Stream[] = sessions.flatMap((s) => [...s.openStreams]);
    const responsesAtStart: ServerResponse[] = http1.flatMap((c) => [...c.responses]);
    this.#log.info(
      { ...context, deadlineMs, sessions: sessions.length, http1Sockets: http1.length, streams: streamsAtStart.length, responses: responsesAtStart.length },
      'draining: not accepting, GOAWAY to HTTP/2 sessions, Connection: close to HTTP/1.1',
    );

    const allClosed = Promise.all(this.#listening.map((server) => new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()))));
    for (const session of sessions) this.closeSession(session);
    for (const connection of http1) {
      if (connection.responses.size > 0) connection.hookOf(DrainingConnection)?.markBusy();
      for (const res of connection.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    }
    for (const server of this.#listeners) (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();

    let isDeadlineReached = false;
    let socketsDestroyed = 0;
    const cancelled = new Set<object>();
    let graceTimer: NodeJS.Timeout | undefined;
    const deadlineTimer = setTimeout(() => {
      isDeadlineReached = true;
      for (const item of this.#cancelLeftovers()) cancelled.add(item);
      graceTimer = setTimeout(() => {
        for (const connection of this.#connections()) {
          socketsDestroyed++;
          connection.socket.destroy();
        }
      }, this.#cancelGraceMs);
    }, deadlineMs);
    await allClosed;
    clearTimeout(deadlineTimer);
    clearTimeout(graceTimer);

    const countOf = (atStart: readonly object[]) => {
      const cancelledOfThese = atStart.filter((item) => cancelled.has(item)).length;
      return { inFlight: atStart.length, closed: atStart.length - cancelledOfThese, cancelled: cancelledOfThese };
    };
    const report: DrainReport = {
      durationMs: Math.round(performance.now() - startedAt),
      isDeadlineReached,
      sessions: sessions.length,
      http1Sockets: http1.length,
      streams: countOf(streamsAtStart),
      responses: countOf(responsesAtStart),
      socketsDestroyed,
      announceMs,
    };
    this.#log.info(report, 'drained: every connection closed');
    return report;
  }

  /** At the deadline: final GOAWAY now, cancel every stream and response still open. */
  #cancelLeftovers(): object[] {
    const cancelled: object[] = [];
    for (const connection of this.#connections()) {
      if (connection.session) {
        sendFinalGoaway(connection.session);
        for (const stream of connection.session.openStreams) {
          if (stream.closed || stream.destroyed) continue;
          // close(), never destroy(): RST_STREAM goes out after the in-flight write finished.
          stream.close(h2.NGHTTP2_CANCEL);
          cancelled.push(stream);
        }
      } else if (connection.protocol === 'http/1.1') {
        for (const res of [...connection.responses]) {
          res.destroy();
          cancelled.push(res);
        }
        (connection.http1Socket ?? connection.socket).destroy();
      }
    }
    return cancelled;
  }
}

/** One connection as the drain sees it. */
class DrainingConnection implements ConnectionHooks {
  readonly #record: ConnectionRecord;
  readonly #drain: Drain;
  /** HTTP/1.1: it had a request during the drain, so it closes once idle again. */
  #isBusyDuringDrain = false;

  constructor(record: ConnectionRecord, drain: Drain) {
    this.#record = record;
    this.#drain = drain;
  }

  markBusy(): void {
    this.#isBusyDuringDrain = true;
  }

  busy(): void {
    if (!this.#drain.isDraining) return;
    const session = this.#record.session;
    if (session) this.#drain.closeSession(session);
    else this.#isBusyDuringDrain = true;
  }

  idle(): void {
    const session = this.#record.session;
    if (session) {
      sessionIdle(session); // a session in the first GOAWAY step gets the final one now
      if (this.#drain.isDraining) this.#drain.closeSession(session); // also one that opened during the drain
    } else if (this.#drain.isDraining && this.#isBusyDuringDrain && this.#record.http1Socket) {
      closeSoon(this.#record.http1Socket);
    }
  }

  requestReceived(res: ServerResponse): void {
    if (this.#drain.isDraining) res.shouldKeepAlive = false;
  }
}

/** FIN once what is queued has been written, then close: Node's net.Socket.destroySoon(). */
function closeSoon(socket: Socket): void {
  if (!socket.destroyed) socket.destroySoon();
}
