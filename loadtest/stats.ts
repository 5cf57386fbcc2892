// The storm's figures: counters, TTFB samples with percentiles and a histogram, and a
// one-second timeline. Failures are counted by class; once the run is stopping, teardown
// noise (streams the tool itself ends) is no longer counted, corrupt bytes always are.

import { performance } from 'node:perf_hooks';
import { FAILURE_CLASSES } from './report.ts';
import type { FailureClass, Percentiles, TimelinePoint } from './report.ts';

export const TTFB_BOUNDS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** Nearest-rank percentiles (p50, p90, p99) and the maximum, in the values' unit. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number): number => round2(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);
  return { count: sorted.length, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: round2(sorted[sorted.length - 1]) };
}

/** Counts per bucket: value <= bound goes to the first such bucket; the last bucket is +Inf. */
export function histogram(values: readonly number[], boundsMs: readonly number[]): number[] {
  const counts = new Array<number>(boundsMs.length + 1).fill(0);
  for (const value of values) {
    let i = 0;
    while (i < boundsMs.length && value > boundsMs[i]) i++;
    counts[i]++;
  }
  return counts;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

interface MutablePoint {
  seeks: number;
  failures: number;
  retries: number;
  bytes: number;
}

export interface StormProgress {
  readonly elapsedMs: number;
  readonly seeksStarted: number;
  readonly seeksCompleted: number;
  readonly failures: number;
  readonly retries: number;
  readonly bytesReceived: number;
  readonly corruptBytes: number;
}

export class StormRecorder {
  seeksStarted = 0;
  seeksCompleted = 0;
  bytesReceived = 0;
  wastedBytes = 0;
  retries = 0;
  gracefulGoaways = 0;
  connections = 0;
  readonly ttfbMs: number[] = [];
  readonly failures: Record<FailureClass, number> = Object.fromEntries(FAILURE_CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>;
  private readonly startedMs: number;
  private readonly points: MutablePoint[] = [];
  private isStopping = false;
  private readonly onFailure: (cls: FailureClass, detail: string) => void;
  private readonly onRetry: (detail: string) => void;

  constructor(startedMs: number, onFailure: (cls: FailureClass, detail: string) => void = () => {}, onRetry: (detail: string) => void = () => {}) {
    this.startedMs = startedMs;
    this.onFailure = onFailure;
    this.onRetry = onRetry;
  }

  /** From here on, only bytes (and corruption) are counted. */
  stop(): void {
    this.isStopping = true;
  }

  get stopping(): boolean {
    return this.isStopping;
  }

  seekStarted(): void {
    this.seeksStarted++;
  }

  firstByte(ttfbMs: number): void {
    if (this.isStopping) return;
    this.seeksCompleted++;
    this.ttfbMs.push(ttfbMs);
    this.point().seeks++;
  }

  failure(cls: FailureClass, detail: string): void {
    if (this.isStopping && cls !== 'corrupt') return;
    this.failures[cls]++;
    this.point().failures++;
    this.onFailure(cls, detail);
  }

  /** An unprocessed stream retried on a fresh connection; `detail` says why it was unprocessed. */
  retry(detail: string): void {
    if (this.isStopping) return;
    this.retries++;
    this.point().retries++;
    this.onRetry(detail);
  }

  gracefulGoaway(): void {
    if (!this.isStopping) this.gracefulGoaways++;
  }

  connectionOpened(): void {
    this.connections++;
  }

  bytes(count: number, isWasted: boolean): void {
    this.bytesReceived += count;
    if (isWasted) this.wastedBytes += count;
    this.point().bytes += count;
  }

  get failureTotal(): number {
    return FAILURE_CLASSES.reduce((sum, c) => sum + this.failures[c], 0);
  }

  progress(nowMs: number, corruptBytes: number): StormProgress {
    return {
      elapsedMs: nowMs - this.startedMs,
      seeksStarted: this.seeksStarted,
      seeksCompleted: this.seeksCompleted,
      failures: this.failureTotal,
      retries: this.retries,
      bytesReceived: this.bytesReceived,
      corruptBytes,
    };
  }

  /** One point per whole second of the run, up to elapsedMs (late teardown bytes fold into the last). */
  timeline(elapsedMs: number): TimelinePoint[] {
    const seconds = Math.max(1, Math.ceil(elapsedMs / 1000));
    const out: TimelinePoint[] = [];
    for (let t = 0; t < seconds; t++) {
      const p = this.points[t] ?? { seeks: 0, failures: 0, retries: 0, bytes: 0 };
      out.push({ t, seeks: p.seeks, failures: p.failures, retries: p.retries, bytes: p.bytes });
    }
    for (let t = seconds; t < this.points.length; t++) {
      const late = this.points[t];
      if (!late) continue;
      const last = out[seconds - 1];
      out[seconds - 1] = { ...last, bytes: last.bytes + late.bytes, failures: last.failures + late.failures };
    }
    return out;
  }

  private point(): MutablePoint {
    const t = Math.max(0, Math.floor((performance.now() - this.startedMs) / 1000));
    for (let i = this.points.length; i <= t; i++) this.points.push({ seeks: 0, failures: 0, retries: 0, bytes: 0 });
    return this.points[t];
  }
}
