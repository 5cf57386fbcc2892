// The Koa application: middleware in flow order, each a small named factory.
//   requestLog -> errorBoundary -> route (media | upload | library | stats | health | metrics | demo)

import Koa from 'koa';
import type { Context, Next } from 'koa';
import { HttpError, answerError } from './http/http-error.ts';
import type { ErrorAnswer, ErrorResponder } from './http/http-error.ts';
import { logResponse } from './routes/response-log.ts';
import { mediaRoute } from './routes/media.ts';
import type { MediaOutcome, MediaRouteDeps } from './routes/media.ts';
import { mediaMethods, uploadRoute } from './routes/upload.ts';
import type { UploadOutcome, UploadRouteDeps } from './routes/upload.ts';
import { libraryRoute } from './routes/library.ts';
import { healthRoute, metricsRoute } from './routes/health.ts';
import { statsRoute } from './routes/stats.ts';
import { demoRoutes } from './routes/demo.ts';
import type { DemoAssets } from './demo-assets.ts';
import type { SharedState } from './shared/shared-state.ts';
import type { Logger } from './log.ts';

export interface AppDeps extends MediaRouteDeps, UploadRouteDeps {
  readonly log: Logger;
  /** True while the server drains (lifecycle/drain.ts): /healthz answers 503. */
  readonly isDraining?: () => boolean;
  /** Catalog, live stats and per-client limits, in Redis or in memory (shared/shared-state.ts). */
  readonly shared: SharedState;
  /** The browser demo's files (demo-assets.ts), served at / and /demo/. */
  readonly demoAssets?: DemoAssets;
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
    const line = { method: ctx.method, path: ctx.path, startedAt: ctx.state.startedAt as bigint };
    const outcome = (ctx.state.media as MediaOutcome | undefined) ?? (ctx.state.upload as UploadOutcome | undefined) ?? ctx.status;
    logResponse(deps.log, deps.metrics, line, outcome);
  };
}

/** Before the response head: an error becomes a JSON answer with a status and stable code. */
function errorBoundary(deps: AppDeps) {
  return async function answerErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      answerError(deps.log, ctx.path, err, new KoaResponder(ctx));
    }
  };
}

/** The error boundary's adapter for Koa: the answer becomes the context's status, fields and body. */
class KoaResponder implements ErrorResponder {
  readonly #ctx: Context;

  constructor(ctx: Context) {
    this.#ctx = ctx;
  }

  get isCommitted(): boolean {
    // ctx.respond is undefined unless a handler took the stream over (false): compare exactly.
    return this.#ctx.respond === false || this.#ctx.headerSent;
  }

  send(answer: ErrorAnswer): void {
    this.#ctx.status = answer.status;
    this.#ctx.set(answer.headers);
    this.#ctx.body = answer.body;
  }
}

function route(deps: AppDeps) {
  const serveMedia = mediaRoute(deps);
  const upload = uploadRoute(deps);
  const allowOnMedia = mediaMethods(deps.uploads);
  const fixed = new Map<string, (ctx: Context) => unknown>([
    ['/api/media', libraryRoute(deps.shared.catalog)],
    ['/api/stats', statsRoute(deps.shared)],
    ['/healthz', healthRoute(deps.pool, deps.isDraining, () => deps.shared.health())],
    ['/metrics', metricsRoute(deps.metrics)],
    ...demoRoutes(deps.demoAssets),
  ]);
  return async function dispatch(ctx: Context): Promise<void> {
    const path = ctx.path;
    const isRead = ctx.method === 'GET' || ctx.method === 'HEAD';
    if (path.startsWith('/media/')) {
      if (isRead) return serveMedia(ctx);
      if (ctx.method === 'PUT' || ctx.method === 'DELETE') return upload(ctx);
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on media`, { allow: allowOnMedia });
    }
    const handler = fixed.get(path);
    if (!handler) throw new HttpError(404, 'NOT_FOUND', 'no such route');
    if (!isRead) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here`, { allow: 'GET, HEAD' });
    await handler(ctx);
  };
}
