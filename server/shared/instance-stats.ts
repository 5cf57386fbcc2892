// One instance's live figures, sampled once a second from its own metrics and pool: what it is
// doing now (streams, sessions, slabs), rates over the last second, and time to first byte over
// the last ten seconds as histogram counts, which add up across instances (percentiles do not).

import os from 'node:os';
import type { BufferPool } from '../streaming/buffer-pool.ts';
import { TTFB_BUCKETS_SEC } from '../metrics.ts';
import type { ServerMetrics } from '../metrics.ts';

/** Upper bounds of the TTFB histogram buckets in ms: metrics.ts's buckets, then +Inf. */
export const TTFB_BOUNDS_MS: readonly number[] = [...TTFB_BUCKETS_SEC.map((sec) => sec * 1000), Infinity];
/** Percentiles cover this many one-second samples. */
const TTFB_WINDOW_SAMPLES = 10;

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface InstanceStats {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly at: string;
  readonly isDraining: boolean;
  readonly activeStreams: number;
  readonly sessions: number;
  readonly slabsInUse: number;
  readonly slabsHighWater: number;
  readonly bytesPerSec: number;
  readonly requestsPerSec: number;
  readonly resetsPerSec: number;
  /** Totals since the instance started. */
  readonly bytesSent: number;
  readonly requests: number;
  readonly resetsReceived: number;
  /** Requests refused with 429/503 plus connections refused or ended as floods. */
  readonly refusedStreams: number;
  /** Upper bucket bounds in ms; null when no first byte was sent in the window. */
  readonly ttfbMs: Percentiles | null;
  /** First bytes in the window per TTFB_BOUNDS_MS bucket (not cumulative). */
  readonly ttfbCounts: readonly number[];
}

interface Totals {
  readonly atMs: number;
  readonly bytesSent: number;
  readonly requests: number;
  readonly resetsReceived: number;
  readonly refused: number;
  /** Cumulative bucket counts, as prom-client keeps them. */
  readonly ttfbCumulative: readonly number[];
}

export interface SamplerDeps {
  readonly id: string;
  readonly metrics: ServerMetrics;
  readonly pool: BufferPool;
  readonly isDraining: () => boolean;
}

export class InstanceSampler {
  readonly #deps: SamplerDeps;
  readonly #startedAt = new Date().toISOString();
  /** The last TTFB_WINDOW_SAMPLES + 1 totals, oldest first. */
  readonly #history: Totals[] = [];

  constructor(deps: SamplerDeps) {
    this.#deps = deps;
  }

  async sample(): Promise<InstanceStats> {
    const { metrics, pool } = this.#deps;
    const now = await this.#totals();
    const history = this.#history;
    const previous = history.at(-1) ?? now;
    history.push(now);
    if (history.length > TTFB_WINDOW_SAMPLES + 1) history.shift();
    const seconds = Math.max(0.001, (now.atMs - previous.atMs) / 1000);
    const oldest = history[0]!;
    const ttfbCounts = now.ttfbCumulative.map((c, i) => c - (oldest.ttfbCumulative[i] ?? 0));
    for (let i = ttfbCounts.length - 1; i > 0; i--) ttfbCounts[i]! -= ttfbCounts[i - 1]!;
    const poolStats = pool.stats();
    return {
      id: this.#deps.id,
      host: os.hostname(),
      pid: process.pid,
      startedAt: this.#startedAt,
      at: new Date(now.atMs).toISOString(),
      isDraining: this.#deps.isDraining(),
      activeStreams: await gaugeValue(metrics.activeStreams),
      sessions: await gaugeValue(metrics.sessions),
      slabsInUse: poolStats.inUse,
      slabsHighWater: poolStats.highWater,
      bytesPerSec: Math.round((now.bytesSent - previous.bytesSent) / seconds),
      requestsPerSec: round1((now.requests - previous.requests) / seconds),
      resetsPerSec: round1((now.resetsReceived - previous.resetsReceived) / seconds),
      bytesSent: now.bytesSent,
      requests: now.requests,
      resetsReceived: now.resetsReceived,
      refusedStreams: now.refused,
      ttfbMs: percentilesOf(ttfbCounts),
      ttfbCounts,
    };
  }

  async #totals(): Promise<Totals> {
    const { metrics } = this.#deps;
    const [bytes, responses, resets, penalties, ttfb] = await Promise.all([
      metrics.bytesSent.get(),
      metrics.responses.get(),
      metrics.resetsReceived.get(),
      metrics.floodPenalties.get(),
      metrics.timeToFirstByte.get(),
    ]);
    let requests = 0;
    let refused = sum(penalties.values);
    for (const v of responses.values) {
      requests += v.value;
      if (v.labels.status === '429' || v.labels.status === '503') refused += v.value;
    }
    const ttfbCumulative = TTFB_BOUNDS_MS.map(() => 0);
    for (const v of ttfb.values) {
      if (!v.metricName?.endsWith('_bucket')) continue;
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le) * 1000;
      const i = TTFB_BOUNDS_MS.findIndex((bound) => Math.abs(bound - le) < 1e-9 || (bound === Infinity && le === Infinity));
      if (i >= 0) ttfbCumulative[i] = v.value;
    }
    return { atMs: Date.now(), bytesSent: sum(bytes.values), requests, resetsReceived: sum(resets.values), refused, ttfbCumulative };
  }
}

/** Percentiles of bucket counts, each as its bucket's upper bound (the last finite one for +Inf). */
export function percentilesOf(counts: readonly number[]): Percentiles | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const at = (q: number): number => {
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= q * total) return Math.min(TTFB_BOUNDS_MS[i]!, TTFB_BOUNDS_MS[TTFB_BOUNDS_MS.length - 2]!);
    }
    return TTFB_BOUNDS_MS[TTFB_BOUNDS_MS.length - 2]!;
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

async function gaugeValue(gauge: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return sum((await gauge.get()).values);
}

function sum(values: readonly { value: number }[]): number {
  let total = 0;
  for (const v of values) total += v.value;
  return total;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
