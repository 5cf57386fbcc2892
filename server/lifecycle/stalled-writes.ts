// Stalled writes: a response whose client stopped taking its bytes (a paused <video> behind a
// zero HTTP/2 window, or a client that stopped reading its socket) is cancelled after
// STALLED_WRITE_TIMEOUT_MS without progress, and no slab is ever freed under a socket write.
//
// Progress is a write callback: a sink with unflushed bytes whose count of called-back writes
// has not changed for `stalledMs` is stalled. One sweep every stalledMs/4 (at most 1 s) looks
// at every watched sink; nothing runs per chunk but a counter.
//
// Step 1, cancel(): stream.close(CANCEL). Measured on Node 24.21 (bench/experiments/
// stalled-cancel.ts, docs/http2-lifecycle.md): behind a zero stream window (the client still
// reads its socket) the RST_STREAM is on the wire at once and every queued write is called back
// (ECANCELED), so the slabs return through the normal on-flush path. Node submits that RST only
// when no socket write of the session is in flight, so no callback comes early.
// Step 2, abandon(), `abandonAfterMs` later if the stream has still not closed: the session's
// socket write itself is stuck (the client stopped reading TCP; the RST waits behind it). The
// stream is destroyed so its handler, file and stream count are let go, and its unflushed chunks
// are quarantined (response-sink.ts): destroy() calls back chunks whose first slice may still
// be in the pending socket write. The quarantine ends when
// - the session acknowledges a PING sent after the abandon: nghttp2 writes frames to the socket
//   in order and starts a socket write only once the previous one completed, so the ACK proves
//   the write that was pending at the abandon has completed; or
// - the connection's socket has closed (its pending writes are cancelled, nothing is written
//   from our memory after that).
// If no ACK comes within `stuckMs`, the connection is dead: its TCP socket is destroyed (Node's
// session.destroy() would itself wait for the stuck write).
//
// Stalled streams hold pool slabs (docs/slab-policy.md). While other streams wait for one, the
// timeout is a quarter as long. And a connection with HOARDING_STREAMS streams that step 1
// closed before any of their writes was called back is reported as window hoarding (the flood
// guard ends it and penalises its client): its client reads its socket (the RST went out at
// once) but never opened those streams' windows, which no player does.

import type { Http2Session, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { WatchedWrites, WriteWatch } from '../streaming/response-sink.ts';
import { SessionState, sessionRecordOf } from '../connection/connection-registry.ts';
import type { SessionRecord } from '../connection/connection-registry.ts';

export type StalledStep = 'cancel' | 'abandon';

/** Holds an abandoned stream's unflushed chunks; `release` once no socket write can reference them. */
export type AbandonedChunks = (session: ServerHttp2Session, bytes: number, release: () => void) => void;

export interface StalledWritesOptions {
  readonly stalledMs: number;
  /** After step 1, how long the stream may take to close before it is abandoned. */
  readonly abandonAfterMs: number;
  /** No PING acknowledged this long after a quarantine began: the connection's socket is destroyed. */
  readonly stuckMs: number;
  /** The TCP socket under a session, while it is open (its connection record's). */
  readonly tcpSocketOf: (session: ServerHttp2Session) => Socket | undefined;
  readonly onStep?: (step: StalledStep) => void;
  /** Quarantined bytes held (positive) or released (negative). */
  readonly onQuarantinedBytes?: (delta: number) => void;
  readonly onStuckConnection?: () => void;
  /**
   * True while streams wait for a pool slab: stalled writes hold slabs others need, so they are
   * cancelled after stalledMs / PRESSURE_DIVISOR instead.
   */
  readonly isUnderPressure?: () => boolean;
  /**
   * A session had HOARDING_STREAMS streams closed by step 1 that never took a byte: its client
   * reads its socket but kept those streams' windows shut (a browser's paused video has taken
   * its first window before it stalls; a client that stopped reading its socket leaves step 1
   * unfinished and is not counted).
   */
  readonly onWindowHoarding?: (session: Http2Session) => void;
}

/** Under pool pressure a stalled write is cancelled this many times sooner. */
export const PRESSURE_DIVISOR = 4;
/** Never-flowed stalled streams on one session that make it a window hoarder. */
export const HOARDING_STREAMS = 8;

interface StalledSession {
  /** The quarantined chunks of its abandoned streams. */
  quarantine: SessionQuarantine | undefined;
  /** Stalled streams cancelled before any of their writes completed. */
  neverFlowed: number;
}

interface Watched {
  flushedWrites: number;
  progressAt: number;
  cancelledAt: number | undefined;
}

export class StalledWrites implements WriteWatch {
  readonly #options: StalledWritesOptions;
  readonly #sweepMs: number;
  readonly #watched = new Map<WatchedWrites, Watched>();
  /** What this watch keeps per session, on the session's registry record. */
  readonly #perSession = new SessionState<StalledSession>(() => ({ quarantine: undefined, neverFlowed: 0 }), {
    // Once the session or its socket has closed, no socket write can read the chunks any more.
    sessionClosed: (state) => state.quarantine?.releaseAll(),
    socketClosed: (state) => state.quarantine?.releaseAll(),
  });
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: StalledWritesOptions) {
    this.#options = options;
    this.#sweepMs = Math.max(10, Math.min(1000, Math.round(options.stalledMs / 4)));
  }

  /** Sinks being watched now (tests, metrics). */
  get watchedCount(): number {
    return this.#watched.size;
  }

  watch(writes: WatchedWrites): () => void {
    this.#watched.set(writes, { flushedWrites: writes.flushedWrites, progressAt: performance.now(), cancelledAt: undefined });
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), this.#sweepMs);
      this.#sweeper.unref();
    }
    return () => {
      const state = this.#watched.get(writes);
      this.#watched.delete(writes);
      // Closed by step 1 with no write ever called back: the RST went out at once, so the
      // socket was not stuck; the client's window was the only thing that never moved.
      // (Cancelling calls the queued writes back: what counts is none before the cancel.)
      if (state?.cancelledAt !== undefined && state.flushedWrites === 0 && writes.sessionRecord) this.#noteNeverFlowed(writes.sessionRecord);
    };
  }

  /** An abandoned stream's unflushed chunks; `release` runs once no socket write can reference them. */
  hold(session: ServerHttp2Session, bytes: number, release: () => void): void {
    const record = sessionRecordOf(session);
    if (!record) {
      // Not a session the registry follows (none in the server): held until it closes.
      if (session.destroyed) release();
      else session.once('close', release);
      return;
    }
    const state = record.stateOf(this.#perSession);
    if (!state || record.isClosed) {
      release(); // the session has closed: nothing of it is written any more
      return;
    }
    state.quarantine ??= new SessionQuarantine(session, this.#options);
    state.quarantine.hold(bytes, release);
  }

  #noteNeverFlowed(record: SessionRecord): void {
    const state = record.stateOf(this.#perSession);
    if (!state) return;
    state.neverFlowed++;
    if (state.neverFlowed === HOARDING_STREAMS) this.#options.onWindowHoarding?.(record.session);
  }

  #sweep(): void {
    const now = performance.now();
    const { abandonAfterMs } = this.#options;
    const stalledMs = this.#options.isUnderPressure?.() ? this.#options.stalledMs / PRESSURE_DIVISOR : this.#options.stalledMs;
    for (const [writes, state] of this.#watched) {
      if (state.cancelledAt !== undefined) {
        if (now - state.cancelledAt < abandonAfterMs) continue;
        this.#watched.delete(writes);
        this.#options.onStep?.('abandon');
        writes.abandon();
        continue;
      }
      if (writes.unflushedBytes === 0 || writes.flushedWrites !== state.flushedWrites) {
        state.flushedWrites = writes.flushedWrites;
        state.progressAt = now;
      } else if (now - state.progressAt >= stalledMs) {
        state.cancelledAt = now;
        this.#options.onStep?.('cancel');
        writes.cancel();
      }
    }
    if (this.#watched.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

interface Held {
  readonly bytes: number;
  readonly release: () => void;
}

/** The quarantined chunks of one session's abandoned streams. */
class SessionQuarantine {
  readonly #session: ServerHttp2Session;
  readonly #options: StalledWritesOptions;
  /** Held since the PING in flight (if any) was sent: the next PING covers them. */
  #waiting: Held[] = [];
  /** Covered by the PING in flight, or released only at close when no PING could be sent. */
  #covered: Held[] = [];
  #isPinging = false;
  #isClosed = false;
  #stuckTimer: NodeJS.Timeout | undefined;

  constructor(session: ServerHttp2Session, options: StalledWritesOptions) {
    this.#session = session;
    this.#options = options;
  }

  hold(bytes: number, release: () => void): void {
    if (this.#isClosed) {
      release();
      return;
    }
    this.#options.onQuarantinedBytes?.(bytes);
    this.#waiting.push({ bytes, release });
    if (!this.#isPinging) this.#ping();
  }

  #ping(): void {
    const batch = this.#waiting;
    this.#waiting = [];
    this.#covered.push(...batch);
    let isSent = false;
    try {
      isSent = this.#session.ping((err) => {
        this.#isPinging = false;
        // An error means the session is going away: its socket's 'close' releases them.
        if (err || this.#isClosed) return;
        this.#release(batch);
        if (this.#waiting.length > 0) this.#ping();
        else if (this.#covered.length === 0) this.#disarm();
      });
    } catch {
      // Destroyed, or too many PINGs unanswered: only the socket's close can release them.
    }
    this.#isPinging = isSent;
    this.#armStuckTimer();
  }

  #armStuckTimer(): void {
    clearTimeout(this.#stuckTimer);
    this.#stuckTimer = setTimeout(() => {
      this.#options.onStuckConnection?.();
      const socket = this.#options.tcpSocketOf(this.#session);
      if (socket) socket.destroy();
      else this.#session.destroy();
    }, this.#options.stuckMs);
    this.#stuckTimer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#stuckTimer);
    this.#stuckTimer = undefined;
  }

  #release(batch: readonly Held[]): void {
    const released = new Set(batch);
    this.#covered = this.#covered.filter((held) => !released.has(held));
    for (const held of batch) {
      this.#options.onQuarantinedBytes?.(-held.bytes);
      held.release();
    }
  }

  /** The session or its socket closed (the connection registry reports it). */
  releaseAll(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#disarm();
    const all = [...this.#covered, ...this.#waiting];
    this.#covered = [];
    this.#waiting = [];
    this.#release(all);
  }
}
