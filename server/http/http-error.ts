// Errors at the HTTP edge: a status and a stable code, the one place where storage failures
// become statuses, and the one error boundary both entries use (Koa's middleware and the HTTP/2
// media fast path), each through a small adapter that sends the answer its own way.

import { StorageError } from '../../storage/storage.ts';
import type { Logger } from '../log.ts';

export type HttpErrorCode =
  | 'BAD_PATH'
  | 'FORBIDDEN_PATH'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UNAUTHORIZED'
  | 'UPLOADS_DISABLED'
  | 'TOO_LARGE'
  | 'BAD_BODY'
  | 'CONFLICT'
  | 'NO_SPACE'
  | 'OVERLOADED'
  | 'TOO_MANY_REQUESTS'
  | 'INTERNAL';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: HttpErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof StorageError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return new HttpError(404, 'NOT_FOUND', 'no such media file');
      case 'OUTSIDE_ROOT':
        return new HttpError(403, 'FORBIDDEN_PATH', 'path leads outside the media root');
      case 'NOT_PERMITTED':
        return new HttpError(403, 'FORBIDDEN_PATH', 'access denied');
      case 'TOO_LARGE':
        return new HttpError(413, 'TOO_LARGE', err.message);
      case 'LENGTH_MISMATCH':
        return new HttpError(400, 'BAD_BODY', err.message);
      case 'CONFLICT':
        return new HttpError(409, 'CONFLICT', err.message);
      case 'NO_SPACE':
        return new HttpError(507, 'NO_SPACE', 'no space left for the upload');
      case 'TOO_MANY_OPEN_FILES':
        return new HttpError(503, 'OVERLOADED', 'server is out of file descriptors', { 'retry-after': '1' });
      case 'IO':
        return new HttpError(500, 'INTERNAL', 'storage error');
    }
  }
  return new HttpError(500, 'INTERNAL', 'internal error');
}

export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** How an entry answers an error: Koa's context, or an HTTP/2 stream. */
export interface ErrorResponder {
  /** The response is under way (its head is out, or a handler owns the stream): it can only end. */
  readonly isCommitted: boolean;
  send(answer: ErrorAnswer): void;
}

/**
 * The error boundary: an error before the response head becomes the JSON answer with its
 * status and stable code; a 5xx is logged with its cause. Returns the status answered, or
 * undefined when the response was already under way (its handler has ended or reset it).
 */
export function answerError(log: Logger, path: string, err: unknown, responder: ErrorResponder): number | undefined {
  const httpError = toHttpError(err);
  if (httpError.status >= 500) log.error({ err, path }, 'request failed');
  if (responder.isCommitted) return undefined;
  const answer = errorAnswer(httpError);
  responder.send(answer);
  return answer.status;
}

/** The answer to an error before the response head: the same JSON on every path. */
export function errorAnswer(err: HttpError): ErrorAnswer {
  return {
    status: err.status,
    headers: { ...err.headers, 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error: err.code, message: err.message }),
  };
}
