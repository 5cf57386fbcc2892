// One log line and the metrics for every finished response, whichever path served it.
// A client cancel is routine (debug); a completed media response is info; a 5xx is an error.
// Uploads have their own line and counter (logUploadResponse).

import type { ServerMetrics } from '../metrics.ts';
import type { MediaOutcome } from './media.ts';
import type { UploadOutcome } from './upload.ts';
import type { Logger } from '../log.ts';

/** What a finished request produced: a media body, an upload, or a plain status. */
export type ResponseOutcome = MediaOutcome | UploadOutcome | number;

/** The outcome log of both entries (Koa and the HTTP/2 media fast path): one line, the metrics. */
export function logResponse(log: Logger, metrics: ServerMetrics, line: ResponseLine, outcome: ResponseOutcome): void {
  if (typeof outcome === 'number') logPlainResponse(log, metrics, line, outcome);
  else if ('operation' in outcome) logUploadResponse(log, metrics, line, outcome);
  else logMediaResponse(log, metrics, line, outcome);
}

export interface ResponseLine {
  readonly method: string;
  readonly path: string;
  readonly startedAt: bigint;
}

function base(line: ResponseLine): { method: string; path: string; ms: number } {
  const ms = Number(process.hrtime.bigint() - line.startedAt) / 1e6;
  return { method: line.method, path: line.path, ms: Math.round(ms * 10) / 10 };
}

function logMediaResponse(log: Logger, metrics: ServerMetrics, line: ResponseLine, media: MediaOutcome): void {
  const { outcome, bytesWritten, error } = media.result;
  metrics.media.responseDone(media.status, outcome, bytesWritten);
  // Asked first: below the log level the line's fields and clock reading are made for nothing.
  if (!log.isLevelEnabled(outcome === 'error' ? 'error' : outcome === 'complete' ? 'info' : 'debug')) return;
  const fields = { ...base(line), status: media.status, range: media.range, bytes: bytesWritten, ended: outcome };
  if (outcome === 'error') log.error({ ...fields, err: error?.message }, 'media response failed mid-body');
  else if (outcome === 'complete') log.info(fields, 'media response');
  else log.debug(fields, 'media response cancelled');
}

/**
 * One line per PUT or DELETE on /media/. A body cut off (reset, closed, short or long) and a
 * wrong token are warnings without a stack: the client's doing, yet worth seeing.
 */
function logUploadResponse(log: Logger, metrics: ServerMetrics, line: ResponseLine, upload: UploadOutcome): void {
  metrics.uploads.inc({ operation: upload.operation, outcome: upload.result });
  const fields = {
    ...base(line),
    status: upload.status,
    ended: upload.result,
    bytes: upload.bytes,
    declared: upload.declaredBytes,
    reason: upload.reason,
  };
  if (upload.result === 'failed') log.error(fields, 'upload failed');
  else if (upload.result === 'incomplete') log.warn(fields, 'upload body not whole (cut off, reset, or not its Content-Length): nothing kept');
  else if (upload.result === 'unauthorized') log.warn(fields, 'upload refused: bad or missing bearer token');
  else log.info(fields, upload.operation === 'put' ? 'upload' : 'delete');
}

/** Responses that are not a media body: API routes, and media requests refused before the head. */
function logPlainResponse(log: Logger, metrics: ServerMetrics, line: ResponseLine, status: number): void {
  const isMedia = line.path.startsWith('/media/');
  const level = status >= 500 ? 'error' : isMedia ? 'info' : 'debug';
  log[level]({ ...base(line), status }, 'response');
  if (isMedia) metrics.media.responseDone(status, 'complete', 0);
}
