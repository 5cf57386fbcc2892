// Keeps a seek storm from tripping Node's and nghttp2's per-connection limits, by rotating
// the connection gracefully (GOAWAY NO_ERROR) while it is still healthy.
//
// Two budgets are tracked per HTTP/2 session (docs/node-http2-facts.md, "The failure a seek
// storm triggers: two per-connection budgets"):
// - Session memory: bytes Node's C++ stream still held for a stream when the peer reset it
//   (handed over by the JS Writable, not yet taken by nghttp2 into DATA frames) are never
//   subtracted from Node's maxSessionMemory counter. Once it is exceeded, every new stream is
//   refused with ENHANCE_YOUR_CALM and Chrome shows ERR_HTTP2_PROTOCOL_ERROR. Each HTTP/2 sink
//   reports an upper bound of what its stream left there (response-sink.ts, Http2Sink: within
//   about a KiB of Node's own count per reset, one stream at a time); we add those up, take the
//   whole-session bound instead when it is smaller (sinkSessionDataBound: several streams in
//   flight), and rotate at `leakRotateBytes`, which config keeps below maxSessionMemory. The
//   counter is only bookkeeping: the buffers themselves come back on their write callbacks.
// - Reset budget: nghttp2 drains a token bucket (streamResetBurst, refilled streamResetRate
//   per second, whole seconds) for every RST_STREAM it receives and sends
//   GOAWAY(INTERNAL_ERROR) when it is empty. We mirror the bucket and rotate when a quarter is
//   left. Once any GOAWAY is submitted nghttp2 stops counting, so rotation also disarms it.
// Healthy sessions are rotated too, after a maximum age or number of streams
// (http2/session-lifetime.ts).

import { constants as h2 } from 'node:http2';
import { lifetimeRotation } from './session-lifetime.ts';
import { sinkSessionDataBound } from '../streaming/response-sink.ts';
import type { LifetimeLimits, LifetimeReason } from './session-lifetime.ts';
import type { SessionHooks, SessionRecord, StreamRecord } from '../connection/connection-registry.ts';

export type RotationReason = 'session-memory' | 'reset-budget' | 'stalled-writes' | LifetimeReason;

export interface SessionGuardOptions {
  readonly leakRotateBytes: number;
  readonly resetBurst: number;
  readonly resetRatePerSec: number;
  /** Rotate after this age or this many streams; absent or 0: never. */
  readonly lifetime?: LifetimeLimits;
  readonly onRotate: (session: SessionRecord, reason: RotationReason) => void;
  readonly now?: () => number;
}

/** Made per session by the connection registry, which calls its hooks. */
export class SessionGuard implements SessionHooks {
  readonly #options: SessionGuardOptions;
  /** The registry's record: it counts the streams opened. */
  readonly #record: SessionRecord;
  /** Sum of the peer resets' reports (each an upper bound of what Node kept of that stream). */
  #peerResetBytes = 0;
  /** Abandoned streams' bytes held in quarantine (lifecycle/stalled-writes.ts). */
  #quarantinedBytes = 0;
  #leakedBytes = 0;
  #resetTokens: number;
  #refilledAtSec: number;
  #rotated = false;
  #ageTimer: NodeJS.Timeout | undefined;

  constructor(record: SessionRecord, options: SessionGuardOptions) {
    this.#record = record;
    this.#options = options;
    this.#resetTokens = options.resetBurst;
    this.#refilledAtSec = this.#nowSec();
    const maxAgeMs = options.lifetime?.maxAgeMs ?? 0;
    if (maxAgeMs > 0) {
      // The timer is the age check: it can fire a millisecond before Date.now() says the age is
      // reached, and a check that then found the session too young would never rotate it.
      this.#ageTimer = setTimeout(() => this.#rotate('max-age'), maxAgeMs);
      this.#ageTimer.unref();
    }
  }

  streamOpened(): void {
    this.#checkLifetime();
  }

  streamClosed(record: StreamRecord): void {
    const code = record.stream.rstCode;
    // Our own close(CANCEL) is counted too: an overestimate only rotates a little early.
    if (code !== undefined && code !== h2.NGHTTP2_NO_ERROR) this.#spendResetToken();
  }

  sessionClosed(): void {
    clearTimeout(this.#ageTimer);
  }

  get leakedBytes(): number {
    return this.#leakedBytes;
  }

  get resetTokens(): number {
    return this.#resetTokens;
  }

  get isRotated(): boolean {
    return this.#rotated;
  }

  /** The peer reset a stream, leaving at most this many bytes on Node's session memory counter. */
  notePeerReset(leakedBytes: number): void {
    this.#peerResetBytes += leakedBytes;
    // Both are upper bounds of what resets left on Node's counter: the smaller one holds.
    const bound = sinkSessionDataBound(this.#record);
    const resets = bound === undefined ? this.#peerResetBytes : Math.min(this.#peerResetBytes, bound);
    this.#leakedBytes = resets + this.#quarantinedBytes;
    if (this.#leakedBytes >= this.#options.leakRotateBytes) this.#rotate('session-memory');
  }

  /**
   * A stalled stream was abandoned with this many bytes unflushed (lifecycle/stalled-writes.ts):
   * they are held in quarantine, and like a reset stream's they count toward the leak budget.
   */
  noteQuarantined(unflushedBytes: number): void {
    this.#quarantinedBytes += unflushedBytes;
    this.#leakedBytes += unflushedBytes;
    if (this.#leakedBytes >= this.#options.leakRotateBytes) this.#rotate('stalled-writes');
  }

  #spendResetToken(): void {
    const nowSec = this.#nowSec();
    if (nowSec > this.#refilledAtSec) {
      const refill = (nowSec - this.#refilledAtSec) * this.#options.resetRatePerSec;
      this.#resetTokens = Math.min(this.#options.resetBurst, this.#resetTokens + refill);
      this.#refilledAtSec = nowSec;
    }
    this.#resetTokens = Math.max(0, this.#resetTokens - 1);
    if (this.#resetTokens <= this.#options.resetBurst / 4) this.#rotate('reset-budget');
  }

  /**
   * The stream count only: the age is the timer's, so no clock is read per stream (that was
   * ~0.4% of the CPU of a 64 KiB range). An age of 0 never reaches a max-age.
   */
  #checkLifetime(): void {
    const lifetime = this.#options.lifetime;
    if (this.#rotated || !lifetime || lifetime.maxStreams <= 0) return;
    const reason = lifetimeRotation(lifetime, 0, this.#record.streamsOpened);
    if (reason) this.#rotate(reason);
  }

  #rotate(reason: RotationReason): void {
    if (this.#rotated) return;
    this.#rotated = true;
    this.#options.onRotate(this.#record, reason);
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #nowSec(): number {
    return Math.floor(this.#now() / 1000);
  }
}
