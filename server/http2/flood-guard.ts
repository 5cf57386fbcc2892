// Flood defence for HTTP/2 connections: penalise what a player never does, never cancelling
// itself (docs/node-http2-facts.md, "How mature servers tell seeking from an attack").
//
// The rule (per connection): an "early reset" is a stream reset before the client could have
// seen any answer (read in the same event-loop turn as its HEADERS), or reset by nghttp2 for
// the client's protocol error. A seek cancels a stream whose response the player has seen:
// every seek storm we run (seek-storm, paused viewer, the load tool's max-rate and scrubbing
// storms; 26,000 streams) had no early reset at all. Rapid Reset (CVE-2023-44487: HEADERS, then
// RST_STREAM at once) and MadeYouReset (CVE-2025-8671: frames that make the server reset the
// stream) have nothing else. Whether our handler had answered is no signal: Node runs the
// handler's microtasks between nghttp2's callbacks, so a cached file is often answered before
// the RST_STREAM right behind its HEADERS is read (measured: 86 of 177 flood streams).
// Early resets drain a token bucket (EARLY_RESET_BURST, refilled EARLY_RESET_RATE_PER_SEC);
// once it is empty and early resets are at least half of the connection's last 2 x burst
// streams, the connection gets GOAWAY(ENHANCE_YOUR_CALM) with the real last stream id and its
// client is refused new connections for a while (connection/client-limits.ts). The default burst
// (50) stays far below the session guard's rotations (leak budget 256 MiB / 256 KiB in flight =
// at least 1,024 resets; reset budget 3/4 of 10,000), so a flood is penalised, not merely
// rotated gracefully.
//
// Ending the connection: GOAWAY(ENHANCE_YOUR_CALM) at once, every open stream cancelled with
// close(CANCEL), which waits for in-flight writes (destroy() would let a pooled slab be reused
// while the socket still sends it), then Node's graceful close (#end).
//
// Window hoarding (streams held at window 0 that never take a byte) is found by the stalled-write
// watch (lifecycle/stalled-writes.ts), which ends the connection here (FloodDefence.penalise).
//
// nghttp2 and Node end a connection themselves for the other floods (measured on Node 24.21,
// nghttp2 1.70; docs/flood-defence.md); their session errors are counted here by reason and
// penalise the client the same way.

import { constants as h2 } from 'node:http2';
import type { Http2Session, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';
import type { ServerMetrics } from '../metrics.ts';
import { eventLoopTurn, sessionRecordOf } from '../connection/connection-registry.ts';
import type { ConnectionHooks, ConnectionRecord, SessionHooks, SessionRecord, StreamRecord } from '../connection/connection-registry.ts';
import { ClientLimits } from '../connection/client-limits.ts';
import { clientAddressOf } from '../net/client-address.ts';
import type { RefusalReason } from '../connection/client-limits.ts';

/** Limits given to node:http2 explicitly (its defaults, measured; docs/flood-defence.md). */
export const HTTP2_FLOOD_LIMITS = {
  /** More header fields than this: RST_STREAM(ENHANCE_YOUR_CALM) on that stream only. */
  maxHeaderListPairs: 128,
  /** PINGs we send unacknowledged (we send none); incoming PING floods hit nghttp2's ACK queue. */
  maxOutstandingPings: 10,
  /** Entries in one SETTINGS frame; more: GOAWAY(ENHANCE_YOUR_CALM). */
  maxSettings: 32,
  /** Invalid frames per connection (cumulative), e.g. malformed requests; more: GOAWAY(INTERNAL_ERROR). */
  maxSessionInvalidFrames: 1000,
  /** Streams Node refuses in a row before it ends the connection with GOAWAY(INTERNAL_ERROR). */
  maxSessionRejectedStreams: 100,
} as const;

export type PenaltyReason =
  | 'rapid-reset'
  | 'made-you-reset'
  | 'ack-flood'
  | 'continuation-flood'
  | 'invalid-frames'
  | 'rejected-streams'
  | 'protocol-error'
  | 'window-hoarding'
  | RefusalReason;

export interface FloodGuardOptions {
  readonly earlyResetBurst: number;
  readonly earlyResetRatePerSec: number;
  readonly onPenalty: (reason: PenaltyReason, figures: PenaltyFigures) => void;
  readonly now?: () => number;
}

export interface PenaltyFigures {
  readonly client: string | undefined;
  readonly streams: number;
  readonly earlyResets: number;
}

/** How long a penalised connection's client may keep the socket open once the session is gone. */
const END_GRACE_MS = 2000;

/** Reset codes nghttp2 uses when it resets a stream for the client's protocol error. */
const PROTOCOL_ERROR_CODES: ReadonlySet<number> = new Set([
  h2.NGHTTP2_PROTOCOL_ERROR,
  h2.NGHTTP2_FLOW_CONTROL_ERROR,
  h2.NGHTTP2_STREAM_CLOSED,
  h2.NGHTTP2_FRAME_SIZE_ERROR,
  h2.NGHTTP2_COMPRESSION_ERROR,
]);

// nghttp2 error numbers (nghttp2.h) that Node reports as a session error's `errno`.
const NGHTTP2_ERR_CALLBACK_FAILURE = -902;
const NGHTTP2_ERR_BAD_CLIENT_MAGIC = -903;
const NGHTTP2_ERR_FLOODED = -904;
const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;

/** Made per session by the connection registry, which calls its hooks. */
export class FloodGuard implements SessionHooks {
  readonly #session: ServerHttp2Session;
  readonly #record: SessionRecord;
  readonly #options: FloodGuardOptions;
  readonly #client: string | undefined;
  /** The connection's TCP socket (its registry record's): cut off if the client keeps it open after the session. */
  readonly #socket: Socket | undefined;
  /** 1 for each of the last streams that ended in an early reset, 0 for the others. */
  readonly #recent: Uint8Array;
  #recentNext = 0;
  #recentCount = 0;
  #recentEarly = 0;
  #tokens: number;
  #refilledAt: number;
  #peerResets = 0;
  #serverResets = 0;
  #isPenalised = false;

  constructor(record: SessionRecord, options: FloodGuardOptions) {
    const session = record.session;
    this.#session = session;
    this.#record = record;
    this.#options = options;
    this.#socket = record.connection?.socket;
    this.#client = clientAddressOf(this.#socket); // the PROXY protocol's client, when a proxy announced one
    this.#recent = new Uint8Array(2 * options.earlyResetBurst);
    this.#tokens = options.earlyResetBurst;
    this.#refilledAt = this.#now();
  }

  sessionError(err: Error): void {
    const reason = floodReasonOf(err);
    if (reason) this.#penalise(reason);
  }

  get isPenalised(): boolean {
    return this.#isPenalised;
  }

  get earlyResets(): number {
    return this.#peerResets + this.#serverResets;
  }

  /** Ends the connection as a flood found elsewhere (window hoarding: lifecycle/stalled-writes.ts). */
  endAsFlood(reason: PenaltyReason): void {
    if (this.#isPenalised) return;
    this.#penalise(reason);
    this.#end();
  }

  /** A connection being ended as a flood takes no new stream. */
  streamOpened(record: StreamRecord): boolean {
    if (!this.#isPenalised) return true;
    record.stream.close(h2.NGHTTP2_CANCEL);
    return false;
  }

  // A stream reset in the read that brought its HEADERS reaches JavaScript already closed, and
  // its 'close' follows in the same event-loop turn.
  streamClosed(record: StreamRecord): void {
    this.#countIfEarly(record);
    if (!record.isEarlyResetCounted) this.#remember(0);
  }

  #countIfEarly(record: StreamRecord): void {
    const code = record.stream.rstCode;
    if (record.isEarlyResetCounted || code === undefined || code === h2.NGHTTP2_NO_ERROR || record.isCancelledByServer) return;
    if (this.#session.destroyed || this.#isPenalised) return;
    const isProtocolError = PROTOCOL_ERROR_CODES.has(code);
    if (!isProtocolError && eventLoopTurn() !== record.openedInTurn) return;
    record.isEarlyResetCounted = true;
    this.#noteEarlyReset(isProtocolError);
  }

  #noteEarlyReset(isProtocolError: boolean): void {
    if (isProtocolError) this.#serverResets++;
    else this.#peerResets++;
    this.#remember(1);
    const now = this.#now();
    const { earlyResetBurst, earlyResetRatePerSec } = this.#options;
    this.#tokens = Math.min(earlyResetBurst, this.#tokens + ((now - this.#refilledAt) / 1000) * earlyResetRatePerSec);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    if (this.#recentEarly * 2 < this.#recentCount) return;
    this.#penalise(this.#serverResets > this.#peerResets ? 'made-you-reset' : 'rapid-reset');
    this.#end();
  }

  #remember(isEarly: 0 | 1): void {
    const window = this.#recent.length;
    if (this.#recentCount === window) this.#recentEarly -= this.#recent[this.#recentNext]!;
    else this.#recentCount++;
    this.#recent[this.#recentNext] = isEarly;
    this.#recentEarly += isEarly;
    this.#recentNext = (this.#recentNext + 1) % window;
  }

  #penalise(reason: PenaltyReason): void {
    if (this.#isPenalised) return;
    this.#isPenalised = true;
    this.#options.onPenalty(reason, { client: this.#client, streams: this.#record.streamsOpened, earlyResets: this.earlyResets });
  }

  #end(): void {
    const session = this.#session;
    if (session.destroyed) return;
    // The last stream id is the last one nghttp2 processed; no new stream is taken once it is out.
    session.goaway(h2.NGHTTP2_ENHANCE_YOUR_CALM);
    for (const stream of this.#record.openStreams) if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    // Node's close() adds GOAWAY(NO_ERROR) with the same id, destroys the session once its
    // streams are closed and ends the socket gracefully (still read, so the GOAWAY is not lost
    // to a TCP reset from a client that keeps sending). Never session.destroy() here: it drops
    // streams whose writes are still in a socket write.
    session.close();
    // Unreferenced, and a no-op if the socket has closed by then.
    setTimeout(() => this.#cutLingeringSocket(), END_GRACE_MS).unref();
  }

  /**
   * A client that keeps its half of the socket open after the session is gone is cut off. A
   * session still open has a cancelled stream whose write the client is not taking: that is
   * left to the stalled-write timeout, which never frees a slab under a socket write.
   */
  #cutLingeringSocket(): void {
    if (this.#session.destroyed && this.#socket && !this.#socket.destroyed) this.#socket.destroy();
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}

/** Why nghttp2 or Node ended a session, when that was the client's flood or protocol error. */
export function floodReasonOf(err: Error): PenaltyReason | undefined {
  const { code, errno } = err as Error & { code?: string; errno?: number };
  if (code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'invalid-frames';
  // Anything else (socket errors, the client's own GOAWAY with an error, ours) is no flood.
  if (code !== 'ERR_HTTP2_ERROR') return undefined;
  switch (errno) {
    case NGHTTP2_ERR_FLOODED:
      return 'ack-flood';
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return 'continuation-flood';
    case NGHTTP2_ERR_CALLBACK_FAILURE:
      return 'rejected-streams';
    case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
      return undefined; // not HTTP/2 at all (an HTTP/1.1 request on the h2c port)
    default:
      return 'protocol-error';
  }
}

/**
 * Node refuses streams in a row when maxSessionMemory runs out, which a seek storm can cause
 * (docs/http2-lifecycle.md): that is counted, never held against the client.
 */
const isClientPenalised = (reason: PenaltyReason): boolean => reason !== 'rejected-streams';

export interface FloodDefenceOptions {
  readonly earlyResetBurst: number;
  readonly earlyResetRatePerSec: number;
  readonly maxConnectionsPerClient: number;
  readonly clientPenaltyMs: number;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
}

/** At most one log line per kind a second; the next one says how many were left out. */
const LOG_INTERVAL_MS = 1000;

export interface FloodDefence {
  /** Applies the per-client connection limits to a new connection (a hook factory for the registry). */
  admit(record: ConnectionRecord): ConnectionHooks | false;
  /** A new session's flood guard (a hook factory for the connection registry). */
  sessionHooks(record: SessionRecord): FloodGuard;
  /** Ends a session as a flood another guard found, and penalises its client. */
  penalise(session: Http2Session, reason: PenaltyReason): void;
}

/** Connection limits and flood guards for every listener, one client table across them. */
export function createFloodDefence(options: FloodDefenceOptions): FloodDefence {
  const logLimited = rateLimitedLog(options.log);
  const penalise = (reason: PenaltyReason, fields: Record<string, unknown>): void => {
    options.metrics.floodPenalties.inc({ reason });
    logLimited(reason, fields);
  };
  const clients = new ClientLimits({
    maxConnectionsPerClient: options.maxConnectionsPerClient,
    penaltyMs: options.clientPenaltyMs,
    onRefuse: (reason, client) => penalise(reason, { client }),
  });
  return {
    admit(record) {
      return clients.admit(record);
    },
    sessionHooks(record) {
      return new FloodGuard(record, {
        earlyResetBurst: options.earlyResetBurst,
        earlyResetRatePerSec: options.earlyResetRatePerSec,
        onPenalty: (reason, figures) => {
          penalise(reason, { ...figures });
          if (isClientPenalised(reason)) clients.penalise(figures.client);
        },
      });
    },
    penalise(session, reason) {
      sessionRecordOf(session)?.hookOf(FloodGuard)?.endAsFlood(reason);
    },
  };
}

function rateLimitedLog(log: Logger): (reason: PenaltyReason, fields: Record<string, unknown>) => void {
  const last = new Map<PenaltyReason, { at: number; suppressed: number }>();
  return (reason, fields) => {
    const now = Date.now();
    const entry = last.get(reason);
    if (entry && now - entry.at < LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    last.set(reason, { at: now, suppressed: 0 });
    const isRefusal = reason === 'client-connections' || reason === 'penalised-client';
    log.warn({ reason, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, isRefusal ? 'connection refused' : 'http2 connection ended as a flood');
  };
}
