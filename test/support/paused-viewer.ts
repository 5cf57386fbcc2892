// A paused viewer: one connection at a time, sequential seeks. Each seek reads a little,
// then stops reading (so the server's data queues behind flow control, as for a paused or
// buffered-ahead <video>), waits, and cancels with RST_STREAM(CANCEL) to seek elsewhere.
// This is what leaks Node's session memory accounting and drains nghttp2's reset budget.

import http2 from 'node:http2';
import { countMismatches } from './fixtures.ts';
import { prng, SEEK_DEADLINE_MS } from './seek-storm.ts';

export interface PausedViewerOptions {
  readonly connect: () => http2.ClientHttp2Session;
  readonly path: string;
  readonly size: number;
  readonly salt: number;
  readonly seeks: number;
  readonly readMaxBytes: number;
  readonly pauseMs: number;
  /** A seek with no outcome after this long is cancelled and fails as 'deadline' (default SEEK_DEADLINE_MS). */
  readonly seekDeadlineMs?: number;
  readonly seed?: number;
  /** End the run at the first failure (benchmarks: "seeks until the first refused stream"). */
  readonly stopAtFirstFailure?: boolean;
}

export interface PausedViewerReport {
  seeks: number;
  seeksWithAllBytes: number;
  corruptBytes: number;
  /** Streams GOAWAY left unprocessed (above last-stream-id), retried on a new connection. */
  retried: number;
  connections: number;
  gracefulGoaways: number;
  /** Failure class -> count: rst-11 (ENHANCE_YOUR_CALM), rst-N, goaway-N, status-N, short-read. */
  failures: Record<string, number>;
  /** 1-based index of the first failed seek, if any. */
  firstFailureAtSeek?: number;
  elapsedMs: number;
}

export async function runPausedViewer(options: PausedViewerOptions): Promise<PausedViewerReport> {
  const random = prng(options.seed ?? 3);
  const report: PausedViewerReport = {
    seeks: 0,
    seeksWithAllBytes: 0,
    corruptBytes: 0,
    retried: 0,
    connections: 0,
    gracefulGoaways: 0,
    failures: {},
    elapsedMs: 0,
  };
  const fail = (what: string): void => {
    report.failures[what] = (report.failures[what] ?? 0) + 1;
  };
  const started = Date.now();
  let session: http2.ClientHttp2Session | undefined;
  let isGoingAway = false;
  const connect = (): http2.ClientHttp2Session => {
    report.connections++;
    isGoingAway = false;
    const s = options.connect();
    s.on('goaway', (code: number) => {
      if (s !== session) return;
      isGoingAway = true;
      if (code === http2.constants.NGHTTP2_NO_ERROR) report.gracefulGoaways++;
      else {
        fail(`goaway-${code}`);
        report.firstFailureAtSeek ??= report.seeks + 1;
      }
    });
    return s;
  };
  for (let i = 0; i < options.seeks; i++) {
    if (!session || session.closed || session.destroyed || isGoingAway) {
      session?.close();
      session = connect();
    }
    const offset = Math.floor(random() * (options.size - options.readMaxBytes));
    const want = 1 + Math.floor(random() * options.readMaxBytes);
    let result = await pausedSeek(session, options, offset, want);
    while (result.failure === 'unprocessed' && result.received === 0) {
      // Above GOAWAY's last-stream-id: never processed, safe to retry elsewhere (as a browser does).
      report.retried++;
      session.close();
      session = connect();
      result = await pausedSeek(session, options, offset, want);
    }
    report.seeks++;
    report.corruptBytes += result.corruptBytes;
    const failure = result.failure ?? (result.received >= want ? undefined : 'short-read');
    if (!failure) {
      report.seeksWithAllBytes++;
      continue;
    }
    fail(failure);
    report.firstFailureAtSeek ??= report.seeks;
    if (options.stopAtFirstFailure) break;
  }
  session?.close();
  report.elapsedMs = Date.now() - started;
  return report;
}

interface SeekResult {
  readonly received: number;
  readonly corruptBytes: number;
  readonly failure?: string;
}

function pausedSeek(session: http2.ClientHttp2Session, options: PausedViewerOptions, offset: number, want: number): Promise<SeekResult> {
  return new Promise((resolve) => {
    const req = session.request({ ':path': options.path, range: `bytes=${offset}-` });
    let received = 0;
    let corruptBytes = 0;
    let isPaused = false;
    let status = 0;
    let isSettled = false;
    const settle = (result: SeekResult): void => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    // A server that never answers or never closes the stream must not hold the run forever.
    const deadline = setTimeout(() => {
      settle({ received, corruptBytes, failure: 'deadline' });
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, options.seekDeadlineMs ?? SEEK_DEADLINE_MS);
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (chunk: Buffer) => {
      const useful = chunk.subarray(0, Math.max(0, want - received));
      corruptBytes += countMismatches(useful, offset + received, options.salt);
      received += chunk.length;
      if (received >= want && !isPaused) {
        isPaused = true;
        req.pause(); // stop reading: no more WINDOW_UPDATE, the server's bytes queue up
        setTimeout(() => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          // A paused readable never emits 'close' while it holds unread data (the server may
          // have finished the stream meanwhile); let it drain into the void.
          req.resume();
        }, options.pauseMs);
      }
    });
    req.on('close', () => {
      const code = req.rstCode ?? -1;
      const isOk = code === http2.constants.NGHTTP2_CANCEL || code === http2.constants.NGHTTP2_NO_ERROR;
      if (isPaused && isOk) return settle({ received, corruptBytes });
      if (status !== 0 && status !== 206) return settle({ received, corruptBytes, failure: `status-${status}` });
      // Node's client reports a stream above GOAWAY's last-stream-id as REFUSED_STREAM; with no
      // response it was never processed. A REFUSED_STREAM after a response would be a failure.
      const isUnprocessed = code === http2.constants.NGHTTP2_REFUSED_STREAM && status === 0;
      settle({ received, corruptBytes, failure: isUnprocessed ? 'unprocessed' : `rst-${code}` });
    });
    req.on('error', () => {});
    req.end();
  });
}
