// PUT and DELETE /media/<path>: uploads into the media root, behind a bearer token.
//   authorize -> media path -> declared length (413 before reading) -> storage.replace
//
// Both transports come here through Koa: the HTTP/2 fast path (routes/media-stream.ts) takes
// only GET and HEAD and hands every other method to Node's compat bridge. An upload is bound
// by the disk, not by per-request CPU, and the compat request is the same Readable over
// HTTP/1.1 and HTTP/2, so one handler and one set of body checks serve every transport.
//
// A body is never taken as whole because it ended: Node's HTTP/2 request emits 'end' even
// after 'aborted' (a reset, or DATA ending before or going past Content-Length, which nghttp2
// resets with PROTOCOL_ERROR; http2/body-overflow.ts keeps the second from ending the
// connection). It is whole only when the transport says so (HTTP/1.1 `complete`, HTTP/2
// not `aborted`) and storage counted exactly Content-Length bytes; otherwise nothing is kept.
//
// An answer given before the body was read to its end (401, 413, a refused path) must end the
// body too: HTTP/1.1 closes the connection (Connection: close) rather than read gigabytes to
// keep it alive; HTTP/2 resets that stream with NO_ERROR once the response is out (RFC 9113
// 8.1), and the connection keeps serving its other streams.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Http2ServerRequest } from 'node:http2';
import type { Context } from 'koa';
import { continueIfExpected } from '../http/expect-continue.ts';
import { HttpError, toHttpError } from '../http/http-error.ts';
import { mediaUrl, parseMediaPath } from '../media-path.ts';
import { streamRecordOf } from '../connection/connection-registry.ts';
import type { Storage } from '../../storage/storage.ts';

export interface UploadSettings {
  /** Undefined: uploads are off (403). */
  readonly token: string | undefined;
  readonly maxBytes: number;
}

export interface UploadRouteDeps {
  readonly storage: Storage;
  readonly uploads: UploadSettings;
  /** After a file was stored or removed, before the answer: the catalog records it and tells the other instances. */
  readonly onMediaChanged?: ((relPath: string) => Promise<void>) | undefined;
}

export type UploadResult =
  | 'created'
  | 'replaced'
  | 'deleted'
  | 'disabled'
  | 'unauthorized'
  | 'too-large'
  | 'incomplete' // the body was cut off, reset, or not its Content-Length
  | 'refused' // any other answer below 500 (bad path, missing file, a folder in the way)
  | 'failed';

/** What the request log reports about an upload or a delete. */
export interface UploadOutcome {
  readonly operation: 'put' | 'delete';
  readonly status: number;
  readonly result: UploadResult;
  /** Body bytes received. */
  readonly bytes: number;
  readonly declaredBytes: number | undefined;
  readonly reason?: string | undefined;
}

type Request = IncomingMessage | Http2ServerRequest;

/** The Allow header of /media/ (RFC 9110 10.2.1): writes only when uploads are on. */
export function mediaMethods(uploads: UploadSettings): string {
  return uploads.token === undefined ? 'GET, HEAD' : 'GET, HEAD, PUT, DELETE';
}

export function uploadRoute(deps: UploadRouteDeps) {
  const tokenDigest = deps.uploads.token === undefined ? undefined : digest(deps.uploads.token);
  return async function handleUpload(ctx: Context): Promise<void> {
    const operation = ctx.method === 'PUT' ? 'put' : 'delete';
    const req = ctx.req as Request;
    const received = { bytes: 0 };
    let declaredBytes: number | undefined;
    const record = (status: number, result: UploadResult, reason?: string): void => {
      const outcome: UploadOutcome = { operation, status, result, bytes: received.bytes, declaredBytes, reason };
      ctx.state.upload = outcome;
    };
    try {
      authorize(ctx.get('authorization'), tokenDigest);
      const relPath = mediaPathOf(ctx.path);
      if (operation === 'delete') {
        await deps.storage.remove(relPath);
        await deps.onMediaChanged?.(relPath);
        ctx.status = 204;
        return record(204, 'deleted');
      }
      declaredBytes = declaredLength(ctx.get('content-length'));
      if (declaredBytes !== undefined && declaredBytes > deps.uploads.maxBytes) {
        throw new HttpError(413, 'TOO_LARGE', `Content-Length ${declaredBytes} is above the limit of ${deps.uploads.maxBytes} bytes`);
      }
      const options = { expectedBytes: declaredBytes, maxBytes: deps.uploads.maxBytes };
      // Token, path and declared size are fine: now, and only now, invite the body.
      continueIfExpected(req, ctx.res);
      const { info, created } = await deps.storage.replace(relPath, bodyOf(req, received), options);
      await deps.onMediaChanged?.(relPath);
      // RFC 9110 9.3.4: a validator may be sent because the body was stored unchanged.
      const etag = `"${info.version}"`;
      ctx.set('etag', etag);
      ctx.set('cache-control', 'no-store');
      if (created) {
        ctx.status = 201;
        ctx.body = { name: info.path, url: mediaUrl(info.path), size: info.size, etag };
      } else {
        ctx.status = 204;
      }
      record(ctx.status, created ? 'created' : 'replaced');
    } catch (err) {
      const httpError = toHttpError(err);
      record(httpError.status, resultOf(httpError), httpError.message);
      await endUnreadBody(ctx, req);
      // A reset stream or a closed socket takes no answer; the log line says what happened.
      if (isTransportGone(req)) {
        ctx.respond = false;
        return;
      }
      throw err; // errorBoundary answers it (and logs the original error of a 5xx)
    }
  };
}

function authorize(header: string, tokenDigest: Buffer | undefined): void {
  if (tokenDigest === undefined) {
    throw new HttpError(403, 'UPLOADS_DISABLED', 'uploads are off: the server has no UPLOAD_TOKEN configured');
  }
  const presented = /^Bearer +([^\s]+) *$/i.exec(header)?.[1];
  if (presented === undefined) {
    throw new HttpError(401, 'UNAUTHORIZED', 'a bearer token is required', { 'www-authenticate': 'Bearer realm="media"' });
  }
  // Digests have one length, so timingSafeEqual compares in constant time whatever was sent.
  if (!timingSafeEqual(digest(presented), tokenDigest)) {
    throw new HttpError(401, 'UNAUTHORIZED', 'the bearer token is not valid', {
      'www-authenticate': 'Bearer realm="media", error="invalid_token"',
    });
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function mediaPathOf(urlPath: string): string {
  const parsed = parseMediaPath(urlPath.slice('/media/'.length));
  if (parsed.ok) return parsed.path;
  throw new HttpError(parsed.status, parsed.status === 400 ? 'BAD_PATH' : parsed.status === 403 ? 'FORBIDDEN_PATH' : 'NOT_FOUND', parsed.reason);
}

/** Content-Length, or undefined for a body of unknown length (chunked, or HTTP/2 without it). */
function declaredLength(header: string): number | undefined {
  if (header === '') return undefined;
  // Both parsers already refuse a malformed value; this only keeps a surprise out of storage.
  if (!/^\d{1,16}$/.test(header)) throw new HttpError(400, 'BAD_BODY', 'Content-Length is not a number');
  return Number(header);
}

/**
 * The request body as storage reads it, counting bytes for the log. Any failure of the
 * transport, or an end that the transport does not call complete, is a cut-off body.
 */
async function* bodyOf(req: Request, received: { bytes: number }): AsyncGenerator<Buffer> {
  try {
    // Not destroyed when storage stops early (too large): the 413 must still go out on it.
    for await (const chunk of req.iterator({ destroyOnReturn: false })) {
      received.bytes += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new HttpError(400, 'BAD_BODY', endedEarly(req, received.bytes, code));
  }
  const isWhole = isHttp2(req) ? !req.aborted : req.complete;
  if (!isWhole) throw new HttpError(400, 'BAD_BODY', endedEarly(req, received.bytes));
}

/** The log line's reason for a body the transport ended early (`error`: how the read failed). */
function endedEarly(req: Request, bytes: number, error?: string): string {
  if (isHttp2(req) && streamRecordOf(req.stream)?.isBodyOverflow === true) {
    return `request body longer than its Content-Length: stream reset with PROTOCOL_ERROR after ${bytes} bytes`;
  }
  const code = isHttp2(req) ? req.stream.rstCode : undefined;
  const why = error ?? (isHttp2(req) ? (code === undefined ? 'stream reset' : `RST_STREAM code ${code}`) : 'connection closed');
  return `request body cut off after ${bytes} bytes (${why})`;
}

function isHttp2(req: Request): req is Http2ServerRequest {
  return 'stream' in req && req.stream !== undefined;
}

function isTransportGone(req: Request): boolean {
  return isHttp2(req) ? req.stream.closed || req.stream.destroyed : req.socket.destroyed;
}

/** Ends a body that will not be read: see the file header. */
async function endUnreadBody(ctx: Context, req: Request): Promise<void> {
  if (req.complete) return; // HTTP/2: also true once aborted or closed
  if (!isHttp2(req)) {
    // A refusal can run inside the parser's callback for the headers, before it has parsed a
    // short body that came in the same packet: one turn later such a body is complete and
    // the connection can stay open (Node discards what was not read).
    await new Promise((resolve) => setImmediate(resolve));
    if (req.complete) return;
    ctx.set('connection', 'close');
    return;
  }
  const stream = req.stream;
  if (stream.endAfterHeaders) return; // there was no body
  // 'finish': the response is written out; then RST_STREAM(NO_ERROR) tells the client to stop.
  stream.once('finish', () => {
    if (!stream.closed) stream.close(h2.NGHTTP2_NO_ERROR);
  });
}

function resultOf(err: HttpError): UploadResult {
  if (err.status >= 500) return 'failed';
  switch (err.code) {
    case 'UPLOADS_DISABLED':
      return 'disabled';
    case 'UNAUTHORIZED':
      return 'unauthorized';
    case 'TOO_LARGE':
      return 'too-large';
    case 'BAD_BODY':
      return 'incomplete';
    default:
      return 'refused';
  }
}
