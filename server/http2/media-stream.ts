// The HTTP/2 fast path for /media/: the stream goes straight to the data path, without
// Node's compat request/response objects and Koa's context around it. Measured on 64 KiB
// ranges, those cost about a quarter of the server's CPU per request; Koa keeps every other
// route and HTTP/1.1, and media on both paths runs the same serveMediaRequest.
//
// Node wires an HTTP/2 server's 'request' handler through one 'stream' listener of its own
// (the compat bridge). The connection registry (connection/connection-registry.ts) takes that
// listener's place and offers every stream to this dispatcher first: GET and HEAD of media are
// served here, every other stream goes to the bridge unchanged. So
// uploads (PUT, DELETE: routes/upload.ts) and refusals of other methods run in Koa on every
// transport: one body-handling path for HTTP/1.1 and HTTP/2, where a disk-bound upload does
// not miss the compat layer's CPU. The fast path never reads a request body: Node answers,
// then resets such a stream with NO_ERROR (RFC 9113 8.1), as the uploads tests check.

import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { StreamDispatch } from '../connection/connection-registry.ts';
import { errorAnswer, toHttpError } from '../http/http-error.ts';
import { logMediaResponse, logPlainResponse } from '../http/response-log.ts';
import type { ResponseLine } from '../http/response-log.ts';
import { http2SinkFor, serveMediaRequest } from '../routes/media.ts';
import type { MediaRequest, MediaRouteDeps } from '../routes/media.ts';
import type { Logger } from '../log.ts';
import { clientAddressOf } from '../net/client-address.ts';

const MEDIA_PREFIX = '/media/';

export interface MediaStreamDeps extends MediaRouteDeps {
  readonly log: Logger;
}

/** Takes the streams of the fast path: GET and HEAD under /media/. */
export function mediaStreamDispatch(deps: MediaStreamDeps): StreamDispatch {
  return (stream, headers) => {
    const path = headers[':path'];
    const method = headers[':method'];
    const isRead = method === 'GET' || method === 'HEAD';
    if (!isRead || typeof path !== 'string' || !path.startsWith(MEDIA_PREFIX)) return false;
    serveMediaStream(stream, headers, path, deps);
    return true;
  };
}

/**
 * One media request on the fast path: the MediaRequest the route reads and the line the log
 * writes, in one object whose method lives on the prototype (no closures per request).
 */
class Http2MediaRequest implements MediaRequest, ResponseLine {
  readonly method: string;
  /** The URL path without the query, for the log. */
  readonly path: string;
  readonly rawPath: string;
  readonly startedAt: bigint;
  readonly #headers: IncomingHttpHeaders;
  readonly #stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: string, path: string) {
    this.#stream = stream;
    this.#headers = headers;
    this.method = method;
    this.path = path;
    this.rawPath = path.slice(MEDIA_PREFIX.length);
    this.startedAt = process.hrtime.bigint();
  }

  header(name: string): string | undefined {
    const value = this.#headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  get connection(): object | undefined {
    return this.#stream.session;
  }

  /** Looked up when asked (the per-client quota, a new connection's pool share), not for every request. */
  get client(): string | undefined {
    return clientAddressOf(this.#stream.session?.socket);
  }
}

function serveMediaStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, path: string, deps: MediaStreamDeps): void {
  const query = path.indexOf('?');
  const method = headers[':method'] === 'HEAD' ? 'HEAD' : 'GET'; // the dispatcher lets only these in
  const request = new Http2MediaRequest(stream, headers, method, query < 0 ? path : path.slice(0, query));
  const sink = http2SinkFor(stream, deps);
  serveMediaRequest(request, sink, deps).then(
    (outcome) => logMediaResponse(deps.log, deps.metrics, request, outcome),
    (err: unknown) => {
      const httpError = toHttpError(err);
      if (httpError.status >= 500) deps.log.error({ err, path: request.path }, 'request failed');
      if (sink.isGone() || stream.headersSent) return;
      const answer = errorAnswer(httpError);
      const isHead = method === 'HEAD';
      stream.respond(
        { ':status': answer.status, ...answer.headers, 'content-length': isHead ? 0 : Buffer.byteLength(answer.body) },
        { endStream: isHead },
      );
      if (!isHead) stream.end(answer.body);
      logPlainResponse(deps.log, deps.metrics, request, answer.status);
    },
  );
}
