// GET|HEAD /media/<path>, as its flow: path -> admit -> open -> plan -> head -> send -> close.
// The plan (range/range-plan.ts) and the head (range/response-head.ts) are pure; this file
// does the I/O around them. Before the response head, a problem is an HttpError for the caller
// to answer (Koa, or the HTTP/2 fast path in routes/media-stream.ts); from the head on, this
// handler owns the stream and writes to it directly.

import type { Http2ServerRequest } from 'node:http2';
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import mime from 'mime-types';
import { HttpError } from '../http/http-error.ts';
import { parseMediaPathRemembered } from '../media-path.ts';
import { boundedMemo } from '../bounded-memo.ts';
import { clientAddressOf } from '../net/client-address.ts';
import { planRange } from '../range/range-plan.ts';
import type { ConditionalHeaders } from '../range/range-plan.ts';
import { representationOf, responseHead } from '../range/response-head.ts';
import { createHttp1Sink, createHttp2Sink } from '../streaming/response-sink.ts';
import type { ResponseSink, SinkDecorator } from '../streaming/response-sink.ts';
import { sendBody } from '../streaming/send-body.ts';
import type { SendLimits, SendResult } from '../streaming/send-body.ts';
import type { BufferPool, SlabSource } from '../streaming/buffer-pool.ts';
import { clientKey } from '../connection/client-limits.ts';
import { connectionRecordOf } from '../connection/connection-registry.ts';
import type { SessionGuard } from '../http2/session-guard.ts';
import type { AbandonedChunks, StalledWrites } from '../lifecycle/stalled-writes.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { Storage } from '../../storage/storage.ts';
import type { ClientQuota } from '../shared/client-quota.ts';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

export interface MediaRouteDeps {
  readonly storage: Storage;
  readonly pool: BufferPool;
  readonly metrics: ServerMetrics;
  readonly limits: SendLimits;
  /** Tests only: wraps every response's sink (test/support/wrong-policies.ts). */
  readonly decorateSink?: SinkDecorator | undefined;
  readonly maxRangeParts: number;
  readonly cacheControl: string;
  /** The session guard of the stream's connection (http2/session-guard.ts). */
  readonly guardOf: (stream: ServerHttp2Stream) => SessionGuard | undefined;
  /** Cancels responses whose writes stalled (lifecycle/stalled-writes.ts). */
  readonly stalledWrites?: StalledWrites | undefined;
  /**
   * Where an abandoned stalled stream's chunks wait until no socket write can read them
   * (StalledWrites.hold); undefined: until its session has closed.
   */
  readonly quarantine?: AbandonedChunks | undefined;
  /** Per-client stream and request-rate limits (shared/client-quota.ts); undefined: none. */
  readonly quota?: ClientQuota | undefined;
}

/** What the request log reports about a media response. */
export interface MediaOutcome {
  readonly status: number;
  readonly range: string | undefined;
  readonly result: SendResult;
}

const ALLOW = 'GET, HEAD';

/** What the media handler needs of a request, whichever transport carried it. */
export interface MediaRequest {
  readonly method: string;
  /** The URL path after "/media/", still percent-encoded, without the query. */
  readonly rawPath: string;
  header(name: string): string | undefined;
  readonly startedAt: bigint;
  /** The client's address (net/client-address.ts); undefined once its socket is gone. */
  readonly client: string | undefined;
  /** What the connection's pool share is kept on: its registry record (connection-registry.ts). */
  readonly connection: object | undefined;
}

/**
 * Serves one media request into `sink`. Before the response head every problem is an HttpError
 * (a rejection) for the caller to answer; once the promise resolves, the response is done (or
 * the client went away). Not an async function: without a quota, the promise is serveAdmitted's
 * own, one promise and its ticks fewer per request.
 */
export function serveMediaRequest(req: MediaRequest, sink: ResponseSink, deps: MediaRouteDeps): Promise<MediaOutcome> {
  const method = req.method;
  if (method !== 'GET' && method !== 'HEAD') {
    return Promise.reject(new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on media`, { allow: ALLOW }));
  }
  const parsed = parseMediaPathRemembered(req.rawPath);
  if (!parsed.ok) {
    const code = parsed.status === 400 ? 'BAD_PATH' : parsed.status === 403 ? 'FORBIDDEN_PATH' : 'NOT_FOUND';
    return Promise.reject(new HttpError(parsed.status, code, parsed.reason));
  }
  const range = req.header('range');
  // A stream the client already cancelled gets no file opened for it.
  if (sink.isGone()) return Promise.resolve({ status: 0, range, result: { outcome: 'client-reset', bytesWritten: 0 } });
  if (!deps.quota) return serveAdmitted(req, sink, deps, parsed.path, range);
  return whenAdmitted(deps.quota, req.client, () => serveAdmitted(req, sink, deps, parsed.path, range));
}

/** Runs `serve` once the client's quota admits one more stream, and gives the slot back after. */
async function whenAdmitted<T>(quota: ClientQuota, client: string | undefined, serve: () => Promise<T>): Promise<T> {
  const admission = await quota.admit(client);
  if (!admission.ok) throw tooManyRequests(admission.reason, admission.retryAfterSec);
  try {
    return await serve();
  } finally {
    admission.release();
  }
}

/** Open, plan, head, send, close: the request once its path is known and its client admitted. */
async function serveAdmitted(
  req: MediaRequest,
  sink: ResponseSink,
  deps: MediaRouteDeps,
  path: string,
  range: string | undefined,
): Promise<MediaOutcome> {
  const method = req.method as 'GET' | 'HEAD'; // checked by serveMediaRequest
  const file = await deps.storage.open(path);
  try {
    // One clock reading for the Date header, the Last-Modified cap and If-Range's strength
    // test; Node's own Date comes from a cached string that can lag a second behind.
    const nowSec = Math.floor(Date.now() / 1000);
    const rep = representationOf(file.info, nowSec);
    const plan = planRange(method, requestConditions(req, range), rep, { maxRangeParts: deps.maxRangeParts, nowSec });
    // By the requested name: descriptors are shared per inode, so info.path may be an alias's.
    const type = contentTypeOf(path.slice(path.lastIndexOf('/') + 1));
    const head = responseHead(plan, method, rep, type, deps.cacheControl, nowSec);
    if (sink.isGone()) return { status: head.status, range, result: { outcome: 'client-reset', bytesWritten: 0 } };
    if (head.segments.length === 0) {
      sink.respond(head.status, head.headers, true);
      return { status: head.status, range, result: { outcome: 'complete', bytesWritten: 0 } };
    }
    const tally = deps.metrics.media;
    tally.activeStreams++;
    const firstByte = (): void => {
      tally.timeToFirstByte.observe(Number(process.hrtime.bigint() - req.startedAt) / 1e9);
    };
    try {
      // The head goes out with the first chunk (send-body.ts); a read failing before it is
      // thrown, and answered as a 500.
      const result = await sendBody(sink, file, head.segments, slabsFor(req, deps.pool), deps.limits, { head, onFirstWrite: firstByte });
      return { status: head.status, range, result };
    } finally {
      tally.activeStreams--;
    }
  } finally {
    // Every read has completed once sendBody returns; pending writes hold slabs, not the fd.
    file.close();
  }
}

/** 429 with Retry-After (RFC 6585 4): the client went past one of its per-client limits. */
function tooManyRequests(reason: 'streams' | 'rate', retryAfterSec: number): HttpError {
  const message = reason === 'streams' ? 'too many concurrent media streams from this client' : 'too many media requests per second from this client';
  return new HttpError(429, 'TOO_MANY_REQUESTS', message, { 'retry-after': String(retryAfterSec) });
}

/** The request's preconditions; `range` as serveMediaRequest already read it. */
function requestConditions(req: MediaRequest, range: string | undefined): ConditionalHeaders {
  return {
    range,
    ifRange: req.header('if-range'),
    ifMatch: req.header('if-match'),
    ifNoneMatch: req.header('if-none-match'),
    ifModifiedSince: req.header('if-modified-since'),
    ifUnmodifiedSince: req.header('if-unmodified-since'),
  };
}

/** Content-Type by file name, looked up once per name. */
const contentTypeOf = boundedMemo((name) => mime.contentType(name) || 'application/octet-stream', { maxEntries: 1024 });

/** The pool as this request's connection and client may use it (buffer-pool.ts, "Shares"). */
function slabsFor(req: MediaRequest, pool: BufferPool): SlabSource {
  const connection = req.connection;
  if (!connection) return pool; // the connection is gone: the sink refuses every write anyway
  return pool.shareOf(connection, () => {
    const address = req.client;
    return address === undefined ? undefined : clientKey(address);
  });
}

/** The Koa adapter: HTTP/1.1 (and HTTP/2 when the fast path in routes/media-stream.ts is off). */
export function mediaRoute(deps: MediaRouteDeps) {
  return async function serveMedia(ctx: Context): Promise<void> {
    const request: MediaRequest = {
      method: ctx.method,
      rawPath: ctx.path.slice('/media/'.length),
      header: (name) => ctx.get(name) || undefined,
      startedAt: ctx.state.startedAt as bigint,
      client: clientAddressOf(ctx.req.socket),
      connection: connectionOf(ctx),
    };
    const outcome = await serveMediaRequest(request, sinkFor(ctx, deps), deps);
    ctx.respond = false;
    ctx.state.media = outcome;
  };
}

function connectionOf(ctx: Context): object | undefined {
  const req = ctx.req as Http2ServerRequest | typeof ctx.req;
  const socket = 'stream' in req && req.stream ? req.stream.session?.socket : ctx.req.socket;
  return connectionRecordOf(socket);
}

function sinkFor(ctx: Context, deps: MediaRouteDeps): ResponseSink {
  const req = ctx.req as Http2ServerRequest | typeof ctx.req;
  if ('stream' in req && req.stream) return http2SinkFor(req.stream, deps);
  const sink = createHttp1Sink(ctx.res as ServerResponse, { writeWatch: deps.stalledWrites });
  return deps.decorateSink ? deps.decorateSink(sink, undefined) : sink;
}

/**
 * An HTTP/2 stream's sink, reporting peer resets and the chunks of an abandoned stalled stream
 * (held in quarantine) to its connection's session guard.
 */
export function http2SinkFor(stream: ServerHttp2Stream, deps: MediaRouteDeps): ResponseSink {
  const session = stream.session as ServerHttp2Session;
  const guard = deps.guardOf(stream);
  const stalled = deps.stalledWrites;
  const quarantine = deps.quarantine;
  const sink = createHttp2Sink(stream, {
    onPeerReset: (unflushed) => guard?.notePeerReset(unflushed),
    writeWatch: stalled,
    quarantine:
      quarantine &&
      ((bytes, release) => {
        guard?.noteQuarantined(bytes);
        quarantine(session, bytes, release);
      }),
  });
  return deps.decorateSink ? deps.decorateSink(sink, stream) : sink;
}
