// Distinct timeouts per connection state (issue 4, the Jetty 8 lesson: never time out a
// connection "idle" while a request on it is being handled or answered).
//
// - Header (HEADER_TIMEOUT_MS), from TCP accept: the TLS handshake and the HTTP/2 preface
//   with the client's first SETTINGS, or the first HTTP/1.1 request head. Else the TCP socket
//   is destroyed. (The TLS server's own handshakeTimeout is set to the same value.)
// - Idle (IDLE_TIMEOUT_MS), HTTP/2: a session with no open stream gets the graceful close
//   (GOAWAY NO_ERROR, lifecycle/session-drain.ts). A session still open one more idle period later
//   cannot finish its close (its socket write is stuck): its TCP socket is destroyed.
// - Keep-alive (KEEP_ALIVE_TIMEOUT_MS), HTTP/1.1: a socket with no request in progress is
//   closed. Node 24.21's allowHTTP1 path has a keep-alive timer of its own (measured: an idle
//   socket closed after 6.0 s, its 5 s default plus a 1 s buffer); we set it to the same value so
//   the Keep-Alive header advertises it, and ours closes first, driven by the connection
//   registry's busy and idle like the HTTP/2 idle timer. A next request head that is still incomplete when it fires is
//   cut off too, so a head trickled in byte by byte cannot hold a socket.
// - Stalled write (STALLED_WRITE_TIMEOUT_MS), per response: lifecycle/stalled-writes.ts.
// Busy and idle come from the connection registry (connection/connection-registry.ts): a stream
// or request counts from its head until its response is done, so a slow handler or a paused
// video never looks idle. Each connection's timer is a ConnectionTimer, one of its hooks.
//
// Node's own timers that close busy connections stay off: server.timeout 0 (with no listener,
// server.setTimeout destroyed sessions while a handler worked, docs/node-http2-facts.md), and the
// HTTP/1.1 requestTimeout (300 s by default), which ends any request whose body is still
// arriving after that long, an upload in progress included. headersTimeout is set to
// HEADER_TIMEOUT_MS as a backstop (Node checks it every 30 s).

import type { Http2SecureServer, Http2Server, Http2Session } from 'node:http2';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { closeSessionGracefully } from './session-drain.ts';
import { sessionRecordOf } from '../connection/connection-registry.ts';
import type { ConnectionHooks, ConnectionRecord } from '../connection/connection-registry.ts';
import { StalledWrites } from './stalled-writes.ts';

export type TimeoutKind = 'header' | 'idle' | 'keep-alive' | 'stuck-connection';

export type TimeoutSettings = Pick<Config, 'headerTimeoutMs' | 'idleTimeoutMs' | 'keepAliveTimeoutMs' | 'stalledWriteTimeoutMs'>;

export interface ConnectionTimeoutsDeps {
  readonly registry: Registry;
  readonly log: Logger;
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

export class ConnectionTimeouts {
  readonly stalledWrites: StalledWrites;
  readonly #settings: TimeoutSettings;
  readonly #log: Logger;
  readonly #timeouts: Counter<'timeout'>;

  constructor(settings: TimeoutSettings, deps: ConnectionTimeoutsDeps) {
    this.#settings = settings;
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
    this.stalledWrites = new StalledWrites({
      stalledMs: settings.stalledWriteTimeoutMs,
      abandonAfterMs: Math.min(ABANDON_AFTER_MAX_MS, settings.stalledWriteTimeoutMs),
      stuckMs: settings.stalledWriteTimeoutMs,
      tcpSocketOf: (session) => openSocketOf(sessionRecordOf(session)?.connection),
      onStep: (step) => {
        stalledSteps.inc({ step });
        this.#log.debug({ step }, 'stalled response cancelled');
      },
      onQuarantinedBytes: (delta) => quarantined.inc(delta),
      onStuckConnection: () => this.count('stuck-connection'),
      ...(deps.isPoolUnderPressure ? { isUnderPressure: deps.isPoolUnderPressure } : {}),
      ...(deps.onWindowHoarding ? { onWindowHoarding: deps.onWindowHoarding } : {}),
    });
  }

  get settings(): TimeoutSettings {
    return this.#settings;
  }

  /** Node's own timers off, its HTTP/1.1 ones set to ours; call once per listener. */
  configure(server: Http2SecureServer | Http2Server, isSecure: boolean): void {
    server.setTimeout(0); // no session.setTimeout: it destroyed sessions while handlers worked
    if (!isSecure) return;
    const http1 = server as unknown as Http1Timers;
    http1.keepAliveTimeout = this.#settings.keepAliveTimeoutMs;
    http1.headersTimeout = this.#settings.headerTimeoutMs;
    http1.requestTimeout = 0;
  }

  /** A new connection's timer (a hook factory for the connection registry). */
  connectionHooks(record: ConnectionRecord): ConnectionTimer {
    return new ConnectionTimer(record, this);
  }

  count(timeout: TimeoutKind): void {
    this.#timeouts.inc({ timeout });
    this.#log.debug({ timeout }, 'connection timed out');
  }
}

/** The TCP socket of a connection, while it is open. */
function openSocketOf(record: ConnectionRecord | undefined) {
  return record && !record.isClosed && !record.socket.destroyed ? record.socket : undefined;
}

/** One connection's timer: the header timer from accept, then idle or keep-alive while idle. */
export class ConnectionTimer implements ConnectionHooks {
  readonly #record: ConnectionRecord;
  readonly #timeouts: ConnectionTimeouts;
  #timer: NodeJS.Timeout | undefined;
  /** HTTP/2: the graceful close was sent by the idle timer. */
  #isClosing = false;

  constructor(record: ConnectionRecord, timeouts: ConnectionTimeouts) {
    this.#record = record;
    this.#timeouts = timeouts;
    this.#arm(timeouts.settings.headerTimeoutMs, () => {
      this.#timeouts.count('header');
      record.socket.destroy();
    });
  }

  headReceived(): void {
    this.#clear();
    if (this.#record.inFlight === 0) this.idle();
  }

  busy(): void {
    this.#clear();
  }

  idle(): void {
    const record = this.#record;
    if (!record.isHeadReceived) return; // the header timer runs until the head arrived
    this.#clear();
    const settings = this.#timeouts.settings;
    if (record.session) {
      this.#arm(settings.idleTimeoutMs, () => this.#idleTimeout());
    } else {
      this.#arm(settings.keepAliveTimeoutMs, () => {
        this.#timeouts.count('keep-alive');
        record.socket.destroy();
      });
    }
  }

  closed(): void {
    this.#clear();
  }

  #idleTimeout(): void {
    const record = this.#record;
    const session = record.session;
    if (!session) return;
    if (!this.#isClosing) {
      this.#isClosing = true;
      if (closeSessionGracefully(session, false)) this.#timeouts.count('idle'); // false: a rotation or drain got there first
      // Normally closed at once; still open one idle period later, its socket write is stuck.
      this.#arm(this.#timeouts.settings.idleTimeoutMs, () => this.#idleTimeout());
      return;
    }
    this.#timeouts.count('stuck-connection');
    record.socket.destroy();
  }

  #arm(ms: number, onTimeout: () => void): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      onTimeout();
    }, ms);
    this.#timer.unref();
  }

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
