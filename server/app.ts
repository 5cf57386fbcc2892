// The Koa application: middleware in flow order, each a small named factory.
//   requestLog -> errorBoundary -> route (media | library | health | metrics)

import Koa from 'koa';
import type { Context, Next } from 'koa';
import { HttpError, toHttpError } from './http/http-error.ts';
import { mediaRoute } from './routes/media.ts';
import type { MediaOutcome, MediaRouteDeps } from './routes/media.ts';
import { libraryRoute } from './routes/library.ts';
import { healthRoute, metricsRoute } from './routes/health.ts';
import { recordOutcome } from './metrics.ts';
import type { Logger } from './log.ts';

export interface AppDeps extends MediaRouteDeps {
  readonly log: Logger;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Errors are answered and logged by errorBoundary; Koa's stderr printer would only add noise.
  app.silent = true;
  app.on('error', (err: Error) => deps.log.debug({ err: err.message }, 'koa error after response'));
  for (const middleware of [requestLog(deps), errorBoundary(deps), route(deps)]) app.use(middleware);
  return app;
}

/** One line per finished response. A client cancel is routine (debug); a 5xx is an error. */
function requestLog(deps: AppDeps) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    ctx.state.startedAt = process.hrtime.bigint();
    await next();
    const ms = Number(process.hrtime.bigint() - (ctx.state.startedAt as bigint)) / 1e6;
    const media = ctx.state.media as MediaOutcome | undefined;
    const base = { method: ctx.method, path: ctx.path, ms: Math.round(ms * 10) / 10 };
    if (!media) {
      const level = ctx.status >= 500 ? 'error' : ctx.path.startsWith('/media/') ? 'info' : 'debug';
      deps.log[level]({ ...base, status: ctx.status }, 'response');
      if (ctx.path.startsWith('/media/')) deps.metrics.responses.inc({ status: String(ctx.status), outcome: 'complete' });
      return;
    }
    const { outcome, bytesWritten, error } = media.result;
    recordOutcome(deps.metrics, media.status, outcome, bytesWritten);
    const line = { ...base, status: media.status, range: media.range, bytes: bytesWritten, ended: outcome };
    if (outcome === 'error') deps.log.error({ ...line, err: error?.message }, 'media response failed mid-body');
    else if (outcome === 'complete') deps.log.info(line, 'media response');
    else deps.log.debug(line, 'media response cancelled');
  };
}

/** Before the response head: an error becomes a JSON answer with a status and stable code. */
function errorBoundary(deps: AppDeps) {
  return async function answerErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      const httpError = toHttpError(err);
      if (httpError.status >= 500) deps.log.error({ err, path: ctx.path }, 'request failed');
      // ctx.respond is undefined unless a handler took the stream over (false): compare exactly.
      if (ctx.respond === false || ctx.headerSent) return; // the media handler already reset its stream
      ctx.status = httpError.status;
      ctx.set(httpError.headers);
      ctx.set('cache-control', 'no-store');
      ctx.body = { error: httpError.code, message: httpError.message };
    }
  };
}

function route(deps: AppDeps) {
  const serveMedia = mediaRoute(deps);
  const listLibrary = libraryRoute(deps.storage);
  const health = healthRoute(deps.pool);
  const scrape = metricsRoute(deps.metrics);
  return async function dispatch(ctx: Context): Promise<void> {
    const path = ctx.path;
    if (path.startsWith('/media/')) return serveMedia(ctx);
    const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
    const fixed: Record<string, (ctx: Context) => unknown> = { '/api/media': listLibrary, '/healthz': health, '/metrics': scrape };
    const handler = fixed[path];
    if (!handler) throw new HttpError(404, 'NOT_FOUND', 'no such route');
    if (!isRead) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here`, { allow: 'GET, HEAD' });
    await handler(ctx);
  };
}
