// GET /healthz and GET /metrics.

import type { Context } from 'koa';
import type { BufferPool } from '../streaming/buffer-pool.ts';
import type { ServerMetrics } from '../metrics.ts';

/** 503 {"status":"draining"} once a drain has started, so a load balancer stops sending. */
export function healthRoute(pool: BufferPool, isDraining: () => boolean = () => false) {
  return function health(ctx: Context): void {
    ctx.set('cache-control', 'no-store');
    if (isDraining()) {
      ctx.status = 503;
      ctx.body = { status: 'draining' };
      return;
    }
    const stats = pool.stats();
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
