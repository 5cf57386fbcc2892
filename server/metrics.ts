// Prometheus metrics for the data path. One registry per server instance (tests run several
// in one process). What every media response touches is counted in a MediaTally of plain
// numbers and turned into Prometheus metrics only when scraped; pool and storage figures are
// read at scrape time too; the rare events (rotations, penalties, uploads) are pushed.
//
// Why a tally: prom-client's Counter.inc() with labels hashes the label set and its
// Histogram.observe() walks the buckets through the same label machinery, per call. On a
// 64 KiB range that was ~3% of the server's CPU (a --cpu-prof under the C range driver); a
// tally's field increments cost next to nothing, and a scrape reads them once.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Aggregator, Metric } from 'prom-client';
import type { BufferPool } from './streaming/buffer-pool.ts';
import { reclaimedWriteCallbackCount } from './streaming/response-sink.ts';
import type { Storage } from '../storage/storage.ts';
import type { SendOutcome } from './streaming/send-body.ts';

export interface ServerMetrics {
  readonly registry: Registry;
  /** The media responses' counts (the hot path writes here; the metrics below read it). */
  readonly media: MediaTally;
  readonly activeStreams: Gauge;
  readonly responses: Counter<'status' | 'outcome'>;
  readonly resetsReceived: Counter;
  readonly bytesSent: Counter;
  readonly cancelledStreamBytes: Counter;
  readonly timeToFirstByte: TallyHistogram;
  readonly sessionRotations: Counter<'reason'>;
  readonly sessions: Gauge;
  readonly floodPenalties: Counter<'reason'>;
  readonly uploads: Counter<'operation' | 'outcome'>;
}

export function createMetrics(pool: BufferPool, storage: Storage): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const poolGauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  poolGauge('media_pool_slabs_in_use', 'Pool slabs leased to chunks', () => pool.stats().inUse);
  poolGauge('media_pool_slabs_free', 'Pool slabs available before the cap', () => pool.stats().free);
  poolGauge('media_pool_slabs_high_water', 'Most slabs ever in use at once', () => pool.stats().highWater);
  poolGauge('media_pool_slab_bytes', 'Size of one pool slab', () => pool.slabBytes);
  poolGauge('media_pool_waiting', 'Streams waiting for a free slab now', () => pool.stats().waiting);
  poolGauge('media_pool_waits_total', 'Times a stream had to wait for a slab', () => pool.stats().waitsTotal);
  poolGauge(
    'media_pool_premature_releases_total',
    'Slabs released before their write completed (must stay 0)',
    () => pool.stats().prematureReleases,
  );
  poolGauge('media_open_files', 'File descriptors open: shared ones for reads, one per upload being written', () => storage.openCounts().files);
  poolGauge(
    'media_write_callbacks_reclaimed_total',
    'HTTP/2 write callbacks Node never called, settled when the socket closed (process-wide)',
    reclaimedWriteCallbackCount,
  );
  // Counters read at scrape time from storage (a prom-client Counter cannot be set).
  new Counter({
    name: 'media_file_reads_total',
    help: 'File reads by where they ran: event loop (sync), thread pool (async), and loop reads that were slow',
    labelNames: ['mode'] as const,
    registers: [registry],
    collect() {
      const counts = storage.readCounts();
      this.reset();
      this.inc({ mode: 'sync' }, counts.sync);
      this.inc({ mode: 'async' }, counts.async);
      this.inc({ mode: 'slow-sync' }, counts.slowSync);
    },
  });
  const media = new MediaTally();
  /** A counter that is the tally's figure at scrape time. */
  const tallyCounter = (name: string, help: string, read: () => number): Counter =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const timeToFirstByte = new TallyHistogram(
    'media_time_to_first_byte_seconds',
    'From request to the first body byte handed to the transport',
    media.timeToFirstByte,
  );
  registry.registerMetric(timeToFirstByte as unknown as Metric);
  return {
    registry,
    media,
    activeStreams: new Gauge({
      name: 'media_active_streams',
      help: 'Media responses being sent',
      registers: [registry],
      collect() {
        this.set(media.activeStreams);
      },
    }),
    responses: new Counter({
      name: 'media_responses_total',
      help: 'Finished responses by status and how they ended',
      labelNames: ['status', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [status, outcome, count] of media.responseCounts()) this.inc({ status: String(status), outcome }, count);
      },
    }),
    resetsReceived: tallyCounter('media_resets_received_total', 'Media streams cancelled by the client (RST_STREAM or closed socket)', () => media.resetsReceived),
    bytesSent: tallyCounter('media_bytes_sent_total', 'Body bytes handed to the transport', () => media.bytesSent),
    cancelledStreamBytes: tallyCounter(
      'media_cancelled_stream_bytes_total',
      'Body bytes written for streams the client then cancelled',
      () => media.cancelledStreamBytes,
    ),
    timeToFirstByte,
    sessionRotations: new Counter({
      name: 'media_session_rotations_total',
      help: 'HTTP/2 connections closed gracefully before a limit was reached',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sessions: new Gauge({ name: 'media_http2_sessions', help: 'Open HTTP/2 connections', registers: [registry] }),
    floodPenalties: new Counter({
      name: 'media_flood_penalties_total',
      help: 'Connections ended as floods or refused (too many per client, client penalised), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    uploads: new Counter({
      name: 'media_uploads_total',
      help: 'PUT and DELETE on /media/ by operation and outcome (created, replaced, deleted, or why not)',
      labelNames: ['operation', 'outcome'] as const,
      registers: [registry],
    }),
  };
}

/** Outcomes in the order of their two-bit code in MediaTally's response keys. */
const OUTCOMES: readonly SendOutcome[] = ['complete', 'client-reset', 'server-cancel', 'error'];

/** Upper bounds of the time-to-first-byte buckets, in seconds (instance-stats.ts reads them as ms). */
export const TTFB_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** Observations in fixed buckets: per observation, one short scan and two additions. */
export class BucketCounts {
  readonly bounds: readonly number[];
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * What every media response adds to the metrics, as plain numbers. The hot path calls these;
 * the Prometheus metrics in createMetrics() read the figures when scraped.
 */
export class MediaTally {
  /** Media responses sending a body now. */
  activeStreams = 0;
  bytesSent = 0;
  resetsReceived = 0;
  cancelledStreamBytes = 0;
  readonly timeToFirstByte = new BucketCounts(TTFB_BUCKETS_SEC);
  /** Responses by status << 2 | outcome code (OUTCOMES). */
  readonly #responses = new Map<number, number>();

  /** A response finished: its status, how it ended, and the body bytes handed to the transport. */
  responseDone(status: number, outcome: SendOutcome, bytes: number): void {
    const key = (status << 2) | OUTCOMES.indexOf(outcome);
    this.#responses.set(key, (this.#responses.get(key) ?? 0) + 1);
    this.bytesSent += bytes;
    if (outcome === 'client-reset') {
      this.resetsReceived++;
      this.cancelledStreamBytes += bytes;
    }
  }

  /** Responses so far: status, outcome, count. */
  *responseCounts(): IterableIterator<readonly [number, SendOutcome, number]> {
    for (const [key, count] of this.#responses) yield [key >> 2, OUTCOMES[key & 3]!, count];
  }
}

/**
 * A Prometheus histogram whose figures live in a BucketCounts: the same exposition as
 * prom-client's Histogram (cumulative `_bucket` series with `le`, `_sum`, `_count`), and the
 * same get() for code that reads it (shared/instance-stats.ts).
 */
/** One series of a scraped metric, in the shape prom-client's get() gives it. */
export interface ScrapedValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

export interface ScrapedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: Aggregator;
  readonly values: readonly ScrapedValue[];
}

export class TallyHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator: Aggregator = 'sum';
  readonly #counts: BucketCounts;

  constructor(name: string, help: string, counts: BucketCounts) {
    this.name = name;
    this.help = help;
    this.#counts = counts;
  }

  async get(): Promise<ScrapedHistogram> {
    const { bounds, counts, sum, count } = this.#counts;
    const values: ScrapedValue[] = [];
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: i < bounds.length ? bounds[i]! : '+Inf' }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: sum }, { metricName: `${this.name}_count`, labels: {}, value: count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics() calls this. */
  reset(): void {
    this.#counts.counts.fill(0);
    this.#counts.sum = 0;
    this.#counts.count = 0;
  }
}
