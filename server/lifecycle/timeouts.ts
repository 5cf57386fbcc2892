// Distinct timeouts per connection state (issue 4, the Jetty 8 lesson: never time out a
// connection "idle" while a request on it is being handled or answered).
//
// - Header (HEADER_TIMEOUT_MS), from TCP accept: the TLS handshake and the HTTP/2 preface
//   with the client's first SETTINGS, or the first HTTP/1.1 request head. Else the TCP socket
//   is destroyed. (The TLS server's own handshakeTimeout is set to the same value.)
// - Idle (IDLE_TIMEOUT_MS), HTTP/2: a session with no open stream gets the graceful close
//   (GOAWAY NO_ERROR, http2/session-drain.ts). A session still open one more idle period later
//   cannot finish its close (its socket write is stuck): its TCP socket is destroyed.
// - Keep-alive (KEEP_ALIVE_TIMEOUT_MS), HTTP/1.1: a socket with no request in progress is
//   closed. Node 24.21's allowHTTP1 path has a keep-alive timer of its own (measured: an idle
//   socket closed after 6.0 s, its 5 s default plus a 1 s buffer); we set it to the same value so
//   the Keep-Alive header advertises it, and ours closes first, driven by ConnectionActivity
//   like the HTTP/2 idle timer. A next request head that is still incomplete when it fires is
//   cut off too, so a head trickled in byte by byte cannot hold a socket.
// - Stalled write (STALLED_WRITE_TIMEOUT_MS), per response: lifecycle/stalled-writes.ts.
// Busy and idle come from ConnectionActivity: a stream or request counts from its head until
// its response is done, so a slow handler or a paused video never looks idle.
//
// Node's own timers that close busy connections stay off: server.timeout 0 (with no listener,
// server.setTimeout destroyed sessions while a handler worked, NODE-HTTP2-NOTES.md), and the
// HTTP/1.1 requestTimeout (300 s by default), which ends any request whose body is still
// arriving after that long, an upload in progress included. headersTimeout is set to
// HEADER_TIMEOUT_MS as a backstop (Node checks it every 30 s).

import type { Http2SecureServer, Http2Server, Http2Session, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { closeSessionGracefully } from '../http2/session-drain.ts';
import type { Connection, ConnectionActivity } from './connection-activity.ts';
import { StalledWrites } from './stalled-writes.ts';

export type TimeoutKind = 'header' | 'idle' | 'keep-alive' | 'stuck-connection';

export type TimeoutSettings = Pick<Config, 'headerTimeoutMs' | 'idleTimeoutMs' | 'keepAliveTimeoutMs' | 'stalledWriteTimeoutMs'>;

export interface ConnectionTimeoutsDeps {
  readonly activity: ConnectionActivity;
  readonly registry: Registry;
  readonly log: Logger;
  /** Negative control only: abandoned streams release their chunks on Node's early callbacks. */
  readonly isQuarantineOff?: boolean | undefined;
  /** Streams wait for a pool slab: stalled writes are cancelled sooner (stalled-writes.ts). */
  readonly isPoolUnderPressure?: () => boolean;
  /** A session whose client holds streams at window 0 without ever taking a byte (stalled-writes.ts). */
  readonly onWindowHoarding?: (session: Http2Session) => void;
}

/** Step 1 of a stalled cancel may take this long to close the stream before step 2. */
const ABANDON_AFTER_MAX_MS = 5000;

/** The HTTP/1.1 knobs of Node's allowHTTP1 path (plain properties, read when used). */
interface Http1Timers {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
}

interface ConnectionTimers {
  timer: NodeJS.Timeout | undefined;
  hasRequest: boolean;
  /** HTTP/2: the graceful close was sent by the idle timer. */
  isClosing: boolean;
}

export class ConnectionTimeouts {
  readonly stalledWrites: StalledWrites;
  readonly #settings: TimeoutSettings;
  readonly #activity: ConnectionActivity;
  readonly #log: Logger;
  readonly #timeouts: Counter<'timeout'>;
  /** Header timers, by TCP socket, until the head arrived or the socket closed. */
  readonly #headerTimers = new Map<Socket, NodeJS.Timeout>();
  readonly #timers = new Map<Connection, ConnectionTimers>();

  constructor(settings: TimeoutSettings, deps: ConnectionTimeoutsDeps) {
    this.#settings = settings;
    this.#activity = deps.activity;
    this.#log = deps.log;
    this.#timeouts = new Counter({
      name: 'media_connection_timeouts_total',
      help: 'Connections closed by a timeout: header, idle (HTTP/2), keep-alive (HTTP/1.1), stuck-connection (socket write stuck)',
      labelNames: ['timeout'] as const,
      registers: [deps.registry],
    });
    const stalledSteps = new Counter({
      name: 'media_stalled_write_cancels_total',
      help: 'Responses cancelled for stalled writes: cancel (RST_STREAM CANCEL), abandon (stream destroyed, chunks quarantined)',
      labelNames: ['step'] as const,
      registers: [deps.registry],
    });
    const quarantined = new Gauge({
      name: 'media_quarantined_bytes',
      help: 'Bytes of abandoned streams held until no socket write can reference them',
      registers: [deps.registry],
    });
    const activity = deps.activity;
    this.stalledWrites = new StalledWrites({
      stalledMs: settings.stalledWriteTimeoutMs,
      abandonAfterMs: Math.min(ABANDON_AFTER_MAX_MS, settings.stalledWriteTimeoutMs),
      stuckMs: settings.stalledWriteTimeoutMs,
      tcpSocketOf: (session) => activity.tcpSocketOf({ kind: 'h2', session }),
      onStep: (step) => {
        stalledSteps.inc({ step });
        this.#log.debug({ step }, 'stalled response cancelled');
      },
      onQuarantinedBytes: (delta) => quarantined.inc(delta),
      onStuckConnection: () => this.#count('stuck-connection'),
      isQuarantineOff: deps.isQuarantineOff ?? false,
      ...(deps.isPoolUnderPressure ? { isUnderPressure: deps.isPoolUnderPressure } : {}),
      ...(deps.onWindowHoarding ? { onWindowHoarding: deps.onWindowHoarding } : {}),
    });
    activity.subscribe({
      onBusy: (connection) => this.#onBusy(connection),
      onIdle: (connection) => this.#onIdle(connection),
      onClosed: (connection) => this.#clear(connection),
    });
  }

  /** Applies the timeouts to one listener; call before listen(). */
  track(server: Http2SecureServer | Http2Server, isSecure: boolean): void {
    server.setTimeout(0); // no session.setTimeout: it destroyed sessions while handlers worked
    if (isSecure) {
      const http1 = server as unknown as Http1Timers;
      http1.keepAliveTimeout = this.#settings.keepAliveTimeoutMs;
      http1.headersTimeout = this.#settings.headerTimeoutMs;
      http1.requestTimeout = 0;
    }
    server.on('connection', (socket: Socket) => this.#startHeaderTimer(socket));
    server.on('session', (session: ServerHttp2Session) => {
      session.once('remoteSettings', () => this.#headReceived({ kind: 'h2', session }));
    });
  }

  #startHeaderTimer(socket: Socket): void {
    if (socket.destroyed) return;
    const timer = setTimeout(() => {
      this.#headerTimers.delete(socket);
      this.#count('header');
      socket.destroy();
    }, this.#settings.headerTimeoutMs);
    timer.unref();
    this.#headerTimers.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      this.#headerTimers.delete(socket);
    });
  }

  #headReceived(connection: Connection): void {
    const socket = this.#activity.tcpSocketOf(connection);
    if (!socket) return;
    clearTimeout(this.#headerTimers.get(socket));
    this.#headerTimers.delete(socket);
  }

  #onBusy(connection: Connection): void {
    const state = this.#stateOf(connection);
    clearTimeout(state.timer);
    state.timer = undefined;
    if (connection.kind === 'http/1.1' && !state.hasRequest) this.#headReceived(connection);
    state.hasRequest = true;
  }

  #onIdle(connection: Connection): void {
    const state = this.#stateOf(connection);
    clearTimeout(state.timer);
    state.timer = undefined;
    if (connection.kind === 'h2') {
      this.#arm(state, this.#settings.idleTimeoutMs, () => this.#idleTimeout(connection.session, state));
    } else if (state.hasRequest) {
      // Before the first request the header timer is the one running.
      this.#arm(state, this.#settings.keepAliveTimeoutMs, () => {
        this.#count('keep-alive');
        connection.socket.destroy();
      });
    }
  }

  #idleTimeout(session: ServerHttp2Session, state: ConnectionTimers): void {
    if (!state.isClosing) {
      state.isClosing = true;
      if (closeSessionGracefully(session, false)) this.#count('idle'); // false: a rotation or drain got there first
      // Normally closed at once; still open one idle period later, its socket write is stuck.
      this.#arm(state, this.#settings.idleTimeoutMs, () => this.#idleTimeout(session, state));
      return;
    }
    this.#count('stuck-connection');
    const socket = this.#activity.tcpSocketOf({ kind: 'h2', session });
    if (socket) socket.destroy();
    else session.destroy();
  }

  #arm(state: ConnectionTimers, ms: number, onTimeout: () => void): void {
    state.timer = setTimeout(() => {
      state.timer = undefined;
      onTimeout();
    }, ms);
    state.timer.unref();
  }

  #stateOf(connection: Connection): ConnectionTimers {
    let state = this.#timers.get(connection);
    if (!state) {
      state = { timer: undefined, hasRequest: false, isClosing: false };
      this.#timers.set(connection, state);
    }
    return state;
  }

  #clear(connection: Connection): void {
    clearTimeout(this.#timers.get(connection)?.timer);
    this.#timers.delete(connection);
  }

  #count(timeout: TimeoutKind): void {
    this.#timeouts.inc({ timeout });
    this.#log.debug({ timeout }, 'connection timed out');
  }
}
