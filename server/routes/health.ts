// GET /healthz and GET /metrics.

import type { Context } from 'koa';
import type { BufferPool } from '../streaming/buffer-pool.ts';
import type { ServerMetrics } from '../metrics.ts';

export function healthRoute(pool: BufferPool) {
  return function health(ctx: Context): void {
    const stats = pool.stats();
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok', pool: { inUse: stats.inUse, capacity: stats.capacitySlabs, waiting: stats.waiting } };
  };
}

export function metricsRoute(metrics: ServerMetrics) {
  return async function scrape(ctx: Context): Promise<void> {
    ctx.set('content-type', metrics.registry.contentType);
    ctx.set('cache-control', 'no-store');
    ctx.body = await metrics.registry.metrics();
  };
}
