// GET /healthz and GET /metrics.

import type { Context } from 'koa';
import type { BufferPool } from '../streaming/buffer-pool.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { SharedHealth } from '../shared/shared-state.ts';

/**
 * 503 {"status":"draining"} once a drain has started, so a load balancer stops sending. A
 * Redis outage is reported ("shared": {"status": "degraded"}) but stays 200: media is still
 * served, and failing every instance's check at once would take the whole cluster down.
 */
export function healthRoute(pool: BufferPool, isDraining: () => boolean = () => false, shared?: () => SharedHealth) {
  return function health(ctx: Context): void {
    ctx.set('cache-control', 'no-store');
    if (isDraining()) {
      ctx.status = 503;
      ctx.body = { status: 'draining' };
      return;
    }
    const stats = pool.stats();
    ctx.body = { status: 'ok', pool: { inUse: stats.inUse, capacity: stats.capacitySlabs, waiting: stats.waiting }, shared: shared?.() };
  };
}

export function metricsRoute(metrics: ServerMetrics) {
  return async function scrape(ctx: Context): Promise<void> {
    ctx.set('content-type', metrics.registry.contentType);
    ctx.set('cache-control', 'no-store');
    ctx.body = await metrics.registry.metrics();
  };
}
