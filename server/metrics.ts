// Prometheus metrics for the data path. One registry per server instance (tests run several
// in one process); pool and storage figures are read at scrape time, counters are pushed.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BufferPool } from './streaming/buffer-pool.ts';
import { reclaimedWriteCallbackCount } from './streaming/response-sink.ts';
import type { Storage } from '../storage/storage.ts';
import type { SendOutcome } from './streaming/send-body.ts';

export interface ServerMetrics {
  readonly registry: Registry;
  readonly activeStreams: Gauge;
  readonly responses: Counter<'status' | 'outcome'>;
  readonly resetsReceived: Counter;
  readonly bytesSent: Counter;
  readonly cancelledStreamBytes: Counter;
  readonly timeToFirstByte: Histogram;
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
  return {
    registry,
    activeStreams: new Gauge({ name: 'media_active_streams', help: 'Media responses being sent', registers: [registry] }),
    responses: new Counter({
      name: 'media_responses_total',
      help: 'Finished responses by status and how they ended',
      labelNames: ['status', 'outcome'] as const,
      registers: [registry],
    }),
    resetsReceived: new Counter({
      name: 'media_resets_received_total',
      help: 'Media streams cancelled by the client (RST_STREAM or closed socket)',
      registers: [registry],
    }),
    bytesSent: new Counter({ name: 'media_bytes_sent_total', help: 'Body bytes handed to the transport', registers: [registry] }),
    cancelledStreamBytes: new Counter({
      name: 'media_cancelled_stream_bytes_total',
      help: 'Body bytes written for streams the client then cancelled',
      registers: [registry],
    }),
    timeToFirstByte: new Histogram({
      name: 'media_time_to_first_byte_seconds',
      help: 'From request to the first body byte handed to the transport',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
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

export function recordOutcome(metrics: ServerMetrics, status: number, outcome: SendOutcome, bytes: number): void {
  metrics.responses.inc({ status: String(status), outcome });
  metrics.bytesSent.inc(bytes);
  if (outcome === 'client-reset') {
    metrics.resetsReceived.inc();
    metrics.cancelledStreamBytes.inc(bytes);
  }
}
