// GET|HEAD /media/<path>: route -> range plan -> open file -> send body.
// Koa handles routing and errors before the first byte; from the response head on, this
// handler owns the stream (ctx.respond = false) and writes to it directly.

import type { Http2ServerRequest } from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http2';
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import mime from 'mime-types';
import { HttpError } from '../http/http-error.ts';
import { parseMediaPathRemembered } from '../media-path.ts';
import { boundedMemo } from '../bounded-memo.ts';
import { clientAddressOf } from '../net/client-address.ts';
import { contentRange, planRange } from '../range/range-plan.ts';
import type { RangePlan, Representation } from '../range/range-plan.ts';
import { layoutMultipart } from '../range/multipart.ts';
import { createHttp1Sink, createHttp2Sink } from '../streaming/response-sink.ts';
import type { ResponseSink, SinkDecorator } from '../streaming/response-sink.ts';
import { sendBody } from '../streaming/send-body.ts';
import type { BodySegment, SendLimits, SendResult } from '../streaming/send-body.ts';
import type { BufferPool, SlabSource } from '../streaming/buffer-pool.ts';
import { clientKey } from '../lifecycle/client-limits.ts';
import type { SessionGuard } from '../http2/session-guard.ts';
import type { StalledWrites } from '../lifecycle/stalled-writes.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { FileInfo, Storage } from '../../storage/storage.ts';
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
  /** What the connection's pool share is kept on: the HTTP/2 session or the HTTP/1.1 socket. */
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

/** 429 with Retry-After (RFC 6585 4): the client went past one of its per-client limits. */
function tooManyRequests(reason: 'streams' | 'rate', retryAfterSec: number): HttpError {
  const message = reason === 'streams' ? 'too many concurrent media streams from this client' : 'too many media requests per second from this client';
  return new HttpError(429, 'TOO_MANY_REQUESTS', message, { 'retry-after': String(retryAfterSec) });
}

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
    const texts = headerTextsOf(file.info);
    const rep = representationOf(file.info, texts, nowSec);
    const plan = planRange(method, requestConditions(req, range), rep, { maxRangeParts: deps.maxRangeParts, nowSec });
    const lastModified = rep.lastModifiedSec === texts.mtimeSec ? texts.lastModified : httpDate(rep.lastModifiedSec);
    // By the requested name: descriptors are shared per inode, so info.path may be an alias's.
    const type = contentTypeOf(path.slice(path.lastIndexOf('/') + 1));
    const { headers, segments } = describeResponse(plan, rep, type, lastModified, deps.cacheControl, httpDate(nowSec));
    if (sink.isGone()) return { status: plan.status, range, result: { outcome: 'client-reset', bytesWritten: 0 } };
    const hasBody = method === 'GET' && segments.length > 0;
    if (!hasBody) {
      sink.respond(plan.status, headers, true);
      return { status: plan.status, range, result: { outcome: 'complete', bytesWritten: 0 } };
    }
    const tally = deps.metrics.media;
    tally.activeStreams++;
    const firstByte = (): void => {
      tally.timeToFirstByte.observe(Number(process.hrtime.bigint() - req.startedAt) / 1e9);
    };
    try {
      // The head goes out with the first chunk (send-body.ts); a read failing before it is
      // thrown, and answered as a 500.
      const head = { status: plan.status, headers };
      const result = await sendBody(sink, file, segments, slabsFor(req, deps.pool), deps.limits, { head, onFirstWrite: firstByte });
      return { status: plan.status, range, result };
    } finally {
      tally.activeStreams--;
    }
  } finally {
    // Every read has completed once sendBody returns; pending writes hold slabs, not the fd.
    file.close();
  }
}

/** The pool as this request's connection and client may use it (buffer-pool.ts, "Shares"). */
function slabsFor(req: MediaRequest, pool: BufferPool): SlabSource {
  const connection = req.connection;
  if (!connection) return pool; // the connection is gone: the sink refuses every write anyway
  return pool.shareOf(connection, () => {
    const address = req.client;
    return address === undefined ? undefined : clientKey(address);
  });
}

/** The Koa adapter: HTTP/1.1 (and HTTP/2 when the fast path in http2/media-stream.ts is off). */
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
  if ('stream' in req && req.stream) return req.stream.session;
  return ctx.req.socket ?? undefined;
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
  const sink = createHttp2Sink(stream, {
    onPeerReset: (unflushed) => guard?.notePeerReset(unflushed),
    writeWatch: stalled,
    quarantine:
      stalled &&
      ((bytes, release) => {
        guard?.noteQuarantined(bytes);
        stalled.hold(session, bytes, release);
      }),
    isQuarantineOff: stalled?.isQuarantineOff,
  });
  return deps.decorateSink ? deps.decorateSink(sink, stream) : sink;
}

interface HeaderTexts {
  readonly etag: string;
  readonly mtimeSec: number;
  readonly lastModified: string;
}

/**
 * Header values that depend only on the file, made once per open file (FileInfo objects are
 * shared by every request on one descriptor): formatting them per request was ~2% of the CPU
 * of a 64 KiB range in a profile.
 */
const headerTexts = new WeakMap<FileInfo, HeaderTexts>();

function headerTextsOf(info: FileInfo): HeaderTexts {
  let texts = headerTexts.get(info);
  if (!texts) {
    const mtimeSec = Math.floor(info.mtimeMs / 1000);
    texts = { etag: `"${info.version}"`, mtimeSec, lastModified: new Date(mtimeSec * 1000).toUTCString() };
    headerTexts.set(info, texts);
  }
  return texts;
}

function representationOf(info: FileInfo, texts: HeaderTexts, nowSec: number): Representation {
  // RFC 9110 8.8.2.1: a Last-Modified later than the response's Date (a file dated in the
  // future) MUST be replaced by the Date; being that recent, it is then weak for If-Range.
  return { size: info.size, etag: texts.etag, lastModifiedSec: Math.min(texts.mtimeSec, nowSec) };
}

/** Content-Type by file name, looked up once per name. */
const contentTypeOf = boundedMemo((name) => mime.contentType(name) || 'application/octet-stream', { maxEntries: 1024 });

let dateCache = { sec: -1, text: '' };

/** IMF-fixdate for a second, formatted once per second. */
function httpDate(sec: number): string {
  if (dateCache.sec !== sec) dateCache = { sec, text: new Date(sec * 1000).toUTCString() };
  return dateCache.text;
}

/** The request's preconditions; `range` as serveMediaRequest already read it. */
function requestConditions(req: MediaRequest, range: string | undefined) {
  return {
    range,
    ifRange: req.header('if-range'),
    ifMatch: req.header('if-match'),
    ifNoneMatch: req.header('if-none-match'),
    ifModifiedSince: req.header('if-modified-since'),
    ifUnmodifiedSince: req.header('if-unmodified-since'),
  };
}

/** The validators and caching fields every 2xx and 416 answer carries (RFC 9110 8.8, 14.3). */
function validatorHeaders(etag: string, lastModified: string, cacheControl: string, date: string): OutgoingHttpHeaders {
  return { etag, 'last-modified': lastModified, 'cache-control': cacheControl, 'accept-ranges': 'bytes', date };
}

/**
 * Response head and body layout for a plan (RFC 9110 14.4 for Content-Range). The heads are
 * built field by field on one shared start, not spread from it: spreads made their shapes vary,
 * and every reader of them slower.
 */
function describeResponse(
  plan: RangePlan,
  rep: Representation,
  type: string,
  lastModified: string,
  cacheControl: string,
  date: string,
): { headers: OutgoingHttpHeaders; segments: BodySegment[] } {
  const etag = rep.etag;
  switch (plan.kind) {
    case 'full': {
      const headers = validatorHeaders(etag, lastModified, cacheControl, date);
      headers['content-type'] = type;
      headers['content-length'] = rep.size;
      return { headers, segments: rep.size > 0 ? [{ kind: 'file', start: 0, end: rep.size - 1 }] : [] };
    }
    case 'partial': {
      const { start, end } = plan.range;
      const headers = validatorHeaders(etag, lastModified, cacheControl, date);
      headers['content-type'] = type;
      headers['content-length'] = end - start + 1;
      headers['content-range'] = contentRange(plan.range, rep.size);
      return { headers, segments: [{ kind: 'file', start, end }] };
    }
    case 'multipart': {
      const layout = layoutMultipart(plan.ranges, rep.size, type);
      const segments: BodySegment[] = [];
      for (const part of layout.parts) {
        segments.push({ kind: 'literal', bytes: part.preamble }, { kind: 'file', start: part.range.start, end: part.range.end });
      }
      segments.push({ kind: 'literal', bytes: layout.epilogue });
      const headers = validatorHeaders(etag, lastModified, cacheControl, date);
      headers['content-type'] = layout.contentType;
      headers['content-length'] = layout.contentLength;
      return { headers, segments };
    }
    case 'unsatisfiable': {
      const headers = validatorHeaders(etag, lastModified, cacheControl, date);
      headers['content-range'] = `bytes */${rep.size}`;
      headers['content-length'] = 0;
      return { headers, segments: [] };
    }
    case 'not-modified':
      return { headers: { etag, 'last-modified': lastModified, 'cache-control': cacheControl, date }, segments: [] };
    case 'precondition-failed':
      return { headers: { etag, 'content-length': 0, date }, segments: [] };
  }
}
