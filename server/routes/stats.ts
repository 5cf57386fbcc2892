// GET /api/stats: live figures of every instance and their cluster totals (shared/stats-board.ts).
// "degraded" when Redis is configured but out of reach: then only this instance's figures.

import type { Context } from 'koa';
import type { SharedState } from '../shared/shared-state.ts';

export function statsRoute(shared: SharedState) {
  return async function liveStats(ctx: Context): Promise<void> {
    ctx.set('cache-control', 'no-store');
    ctx.body = await shared.stats();
  };
}
