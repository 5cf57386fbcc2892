// Errors at the HTTP edge: a status and a stable code, and the one place where storage
// failures become statuses.

import { StorageError } from '../../storage/storage.ts';

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

/** The answer to an error before the response head: the same JSON on every path. */
export function errorAnswer(err: HttpError): { status: number; headers: Record<string, string>; body: string } {
  return {
    status: err.status,
    headers: { ...err.headers, 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error: err.code, message: err.message }),
  };
}
