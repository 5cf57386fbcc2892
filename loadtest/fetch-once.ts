// One GET on its own short-lived HTTP/2 connection, body buffered up to a cap: for the probe
// before the storm, the reference download and the /metrics scrapes. Never part of the load.

import http2 from 'node:http2';
import { openSession } from './connection.ts';
import { classifySessionError } from './classify.ts';
import type { TlsTrust } from './settings.ts';

export interface FetchedResponse {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body was cut at maxBytes (the stream was cancelled). */
  readonly isTruncated: boolean;
}

export interface FetchOptions {
  readonly trust: TlsTrust;
  readonly headers?: http2.OutgoingHttpHeaders;
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** Rejects with a one-line Error naming what failed (connect, TLS, timeout, reset). */
export function fetchOnce(url: URL, options: FetchOptions): Promise<FetchedResponse> {
  return new Promise((resolve, reject) => {
    const session = openSession(url.origin, options.trust);
    let settled = false;
    const finish = (error: Error | undefined, response?: FetchedResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
      if (error) reject(error);
      else if (response) resolve(response);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    session.on('error', (err) => finish(new Error(classifySessionError(err).detail)));
    const req = session.request({ ':path': url.pathname + url.search, ...options.headers }, { endStream: true });
    const chunks: Buffer[] = [];
    let length = 0;
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      chunks.push(chunk);
      length += chunk.length;
      if (length >= options.maxBytes) {
        req.close(http2.constants.NGHTTP2_CANCEL);
        finish(undefined, { status, headers, body: Buffer.concat(chunks).subarray(0, options.maxBytes), isTruncated: true });
      }
    });
    let streamError: (Error & { cause?: unknown }) | undefined;
    req.on('error', (err) => (streamError = err)); // the 'close' below says what happened
    req.on('close', () => {
      if (streamError?.cause) return finish(new Error(classifySessionError(streamError.cause).detail));
      if (status === 0) return finish(new Error(`stream closed with no response (${streamError?.message ?? `code ${req.rstCode}`})`));
      if (req.rstCode && req.rstCode !== 0) return finish(new Error(`stream reset with code ${req.rstCode} after the response head`));
      finish(undefined, { status, headers, body: Buffer.concat(chunks), isTruncated: false });
    });
  });
}
