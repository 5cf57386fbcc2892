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
import { streamRecordOf } from '../connection/connection-registry.ts';
import type { StreamDispatch } from '../connection/connection-registry.ts';
import { answerError } from '../http/http-error.ts';
import type { ErrorAnswer, ErrorResponder } from '../http/http-error.ts';
import { logResponse } from './response-log.ts';
import type { ResponseLine } from './response-log.ts';
import { http2SinkFor, serveMediaRequest } from './media.ts';
import type { MediaRequest, MediaRouteDeps } from './media.ts';
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
    return streamRecordOf(this.#stream)?.session.connection;
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
    (outcome) => logResponse(deps.log, deps.metrics, request, outcome),
    (err: unknown) => {
      const status = answerError(deps.log, request.path, err, new StreamResponder(stream, sink.isGone(), method === 'HEAD'));
      if (status !== undefined) logResponse(deps.log, deps.metrics, request, status);
    },
  );
}

/** The error boundary's adapter for an HTTP/2 stream of the fast path. */
class StreamResponder implements ErrorResponder {
  readonly isCommitted: boolean;
  readonly #stream: ServerHttp2Stream;
  readonly #isHead: boolean;

  constructor(stream: ServerHttp2Stream, isGone: boolean, isHead: boolean) {
    this.#stream = stream;
    this.#isHead = isHead;
    this.isCommitted = isGone || stream.headersSent;
  }

  send(answer: ErrorAnswer): void {
    const isHead = this.#isHead;
    this.#stream.respond(
      { ':status': answer.status, ...answer.headers, 'content-length': isHead ? 0 : Buffer.byteLength(answer.body) },
      { endStream: isHead },
    );
    if (!isHead) this.#stream.end(answer.body);
  }
}
