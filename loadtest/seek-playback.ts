// Playing one seek's stream until the next seek is due: the forward buffer decides when to
// stop and resume reading, the profile's read limit and pauses hold the stream too, and the
// stream is cancelled (RST_STREAM(CANCEL)) when the seek timer fires or the run stops.

import { performance } from 'node:perf_hooks';
import { nextPlaybackPause } from './behaviour.ts';
import type { SeekPlan } from './behaviour.ts';
import { PlaybackBuffer } from './playback.ts';
import type { Random } from './random.ts';
import type { RangeStream, StreamEnd } from './range-stream.ts';
import type { StormRunSettings } from './settings.ts';

export interface PlaybackStart {
  readonly stream: RangeStream;
  readonly plan: SeekPlan;
  readonly issuedAt: number;
  readonly firstByteAt: number;
}

export class SeekPlayback {
  private readonly stream: RangeStream;
  private readonly plan: SeekPlan;
  private readonly settings: StormRunSettings;
  private readonly random: Random;
  private readonly buffer: PlaybackBuffer;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly finished: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  private isFinished = false;
  private isReadLimitReached = false;
  private isRefillPending = false;

  constructor(start: PlaybackStart, settings: StormRunSettings, random: Random) {
    this.stream = start.stream;
    this.plan = start.plan;
    this.settings = settings;
    this.random = random;
    this.buffer = new PlaybackBuffer(settings.bitrateBps, settings.bufferAheadS, start.stream.offset, start.firstByteAt);
    this.buffer.add(start.stream.received, start.firstByteAt);
    if (this.plan.seekClock === 'from-request') this.after(start.issuedAt + this.plan.seekDelayMs - performance.now(), () => this.finish());
    // A paused-seeks (or max-rate) viewer seeks after reading; a stalled stream must not keep it forever.
    else this.after(this.plan.seekDelayMs + settings.ttfbTimeoutMs, () => this.finish());
    this.schedulePause();
    this.onBytes(0);
  }

  /** Resolves once the stream has been let go (next seek due, failure, or stop). */
  get done(): Promise<void> {
    return this.finished.promise;
  }

  /** The stream delivered body bytes the player wants. */
  onBytes(bytes: number): void {
    if (this.isFinished) return;
    this.buffer.add(bytes, performance.now());
    if (this.stream.received >= this.plan.readLimitBytes) this.holdAfterReading();
    if (!this.isReadLimitReached) this.holdForBuffer();
  }

  /** The stream ended on its own: the rest of the file is buffered, or it failed. */
  onEnd(end: StreamEnd): void {
    if (this.isFinished) return;
    if (end.kind === 'ended') this.holdAfterReading();
    else this.finish();
  }

  /** Lets the stream go: cancels it if still open, clears every timer. */
  finish(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.stream.cancel();
    this.finished.resolve();
  }

  private holdForBuffer(): void {
    const now = performance.now();
    const isFull = this.buffer.isFull(now);
    this.stream.hold('buffer-full', isFull);
    const wait = isFull ? this.buffer.msUntilRoom(now) : Infinity;
    if (!Number.isFinite(wait) || this.isRefillPending) return;
    this.isRefillPending = true;
    this.after(wait, () => {
      this.isRefillPending = false;
      this.holdForBuffer();
    });
  }

  private holdAfterReading(): void {
    if (this.isReadLimitReached) return;
    this.isReadLimitReached = true;
    this.stream.hold('read-limit', true);
    if (this.plan.seekClock !== 'after-read') return;
    // max-rate: no delay, not even a timer tick; the next seek is issued as soon as we return.
    if (this.plan.seekDelayMs <= 0) this.finish();
    else this.after(this.plan.seekDelayMs, () => this.finish());
  }

  /** A viewer pressing pause (chrome-like): it stops reading and the playhead stops. */
  private schedulePause(): void {
    const pause = nextPlaybackPause(this.settings.profile, this.random);
    if (!pause) return;
    this.after(pause.afterMs, () => {
      this.buffer.setPlaying(false, performance.now());
      this.stream.hold('user-pause', true);
      this.after(pause.forMs, () => {
        this.buffer.setPlaying(true, performance.now());
        this.stream.hold('user-pause', false);
        if (!this.isReadLimitReached) this.holdForBuffer();
        this.schedulePause();
      });
    });
  }

  private after(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.isFinished) action();
    }, Math.max(0, ms));
    this.timers.add(timer);
  }
}
