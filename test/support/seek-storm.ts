// A seek storm from Node's own HTTP/2 client: several sessions, each issuing open-ended
// Range requests at random offsets (as a <video> element does), reading a random amount and
// cancelling with RST_STREAM(CANCEL). Every byte received is checked against the file at its
// offset. Graceful GOAWAY (NO_ERROR) is followed by reconnecting, like a browser; any other
// failure is counted by class.

import http2 from 'node:http2';
import { seededRandom } from '../../loadtest/random.ts';
import { countMismatches, firstMismatch } from './fixtures.ts';

export interface StormOptions {
  readonly connect: () => http2.ClientHttp2Session;
  readonly path: string;
  readonly size: number;
  readonly salt: number;
  readonly sessions: number;
  readonly seeksPerSession: number;
  /** Streams a viewer keeps open at once (a browser: 1-2 for one <video>). */
  readonly inFlight: number;
  readonly readMinBytes: number;
  readonly readMaxBytes: number;
  readonly seed?: number;
  /** A seek with no outcome after this long is cancelled and counted as fail:deadline (default 30 s). */
  readonly seekDeadlineMs?: number;
  /**
   * No seek starts after this long; those left are counted as fail:time-budget. Without it a
   * server that answers no stream costs seeks x deadline / in-flight (3,000 seeks: 94 min).
   */
  readonly maxDurationMs?: number;
}

export interface StormReport {
  seeks: number;
  cancelled: number;
  readToEnd: number;
  bytesVerified: number;
  corruptBytes: number;
  corruptions: string[];
  rotations: number;
  retried: number;
  failures: Record<string, number>;
  elapsedMs: number;
}

/** Seeded, so a failing storm can be replayed: the load tool's generator. */
export const prng = seededRandom;

type SeekOutcome = 'cancelled' | 'complete' | 'retry' | `fail:${string}`;

/** How long a seek may go without an outcome, unless the caller says otherwise. */
export const SEEK_DEADLINE_MS = 30_000;

export async function runSeekStorm(options: StormOptions): Promise<StormReport> {
  const report: StormReport = {
    seeks: 0,
    cancelled: 0,
    readToEnd: 0,
    bytesVerified: 0,
    corruptBytes: 0,
    corruptions: [],
    rotations: 0,
    retried: 0,
    failures: {},
    elapsedMs: 0,
  };
  const started = Date.now();
  const viewers = Array.from({ length: options.sessions }, (_, i) => runViewer(options, report, prng((options.seed ?? 1) * 1000 + i)));
  await Promise.all(viewers);
  report.elapsedMs = Date.now() - started;
  return report;
}

async function runViewer(options: StormOptions, report: StormReport, random: () => number): Promise<void> {
  let session = openSession(options, report);
  let remaining = options.seeksPerSession;
  const stopAt = options.maxDurationMs === undefined ? Infinity : Date.now() + options.maxDurationMs;
  const worker = async (): Promise<void> => {
    while (remaining > 0) {
      if (Date.now() >= stopAt) {
        report.failures['fail:time-budget'] = (report.failures['fail:time-budget'] ?? 0) + remaining;
        remaining = 0;
        break;
      }
      remaining--;
      const offset = Math.floor(random() * options.size);
      const readBytes = options.readMinBytes + Math.floor(random() * (options.readMaxBytes - options.readMinBytes));
      for (let attempt = 0; ; attempt++) {
        if (session.closed || session.destroyed || isGoingAway(session)) session = openSession(options, report);
        const outcome = await seekOnce(session, options, offset, readBytes, report);
        if (outcome === 'retry' && attempt < 3) {
          report.retried++;
          continue;
        }
        report.seeks++;
        if (outcome === 'cancelled') report.cancelled++;
        else if (outcome === 'complete') report.readToEnd++;
        else report.failures[outcome] = (report.failures[outcome] ?? 0) + 1;
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  session.close();
}

const goingAway = new WeakSet<http2.ClientHttp2Session>();
function isGoingAway(session: http2.ClientHttp2Session): boolean {
  return goingAway.has(session);
}

function openSession(options: StormOptions, report: StormReport): http2.ClientHttp2Session {
  const session = options.connect();
  session.on('goaway', (code: number) => {
    goingAway.add(session);
    if (code === http2.constants.NGHTTP2_NO_ERROR) report.rotations++;
    else report.failures[`fail:goaway-${code}`] = (report.failures[`fail:goaway-${code}`] ?? 0) + 1;
  });
  return session;
}

function seekOnce(
  session: http2.ClientHttp2Session,
  options: StormOptions,
  offset: number,
  readBytes: number,
  report: StormReport,
): Promise<SeekOutcome> {
  return new Promise((resolve) => {
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request({ ':path': options.path, range: `bytes=${offset}-` });
    } catch {
      resolve('retry'); // the session closed between our check and the request
      return;
    }
    let position = offset;
    let isCancelledByUs = false;
    let isResponseOk = false;
    let settled = false;
    const settle = (outcome: SeekOutcome): void => {
      if (!settled) {
        settled = true;
        clearTimeout(deadline);
        resolve(outcome);
      }
    };
    // Every seek ends within SEEK_DEADLINE_MS, as a counted failure if need be: a stream that
    // never closes must not leave the storm waiting with nothing alive (a bench run against
    // fastify-static once ended with Node's "unsettled top-level await" there).
    const deadline = setTimeout(() => {
      settle('fail:deadline');
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, options.seekDeadlineMs ?? SEEK_DEADLINE_MS);
    req.on('response', (headers) => {
      const expected = `bytes ${offset}-${options.size - 1}/${options.size}`;
      isResponseOk = headers[':status'] === 206 && headers['content-range'] === expected;
      if (!isResponseOk) {
        settle(`fail:status-${headers[':status']}`);
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    req.on('data', (chunk: Buffer) => {
      const bad = firstMismatch(chunk, position, options.salt);
      if (bad >= 0) {
        report.corruptBytes += countMismatches(chunk, position, options.salt);
        if (report.corruptions.length < 10) report.corruptions.push(`stream ${req.id} offset ${position + bad}`);
      }
      report.bytesVerified += chunk.length;
      position += chunk.length;
      if (!isCancelledByUs && position - offset >= readBytes) {
        isCancelledByUs = true;
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    req.on('end', () => {
      if (position === options.size) settle('complete');
    });
    req.on('close', () => {
      if (isCancelledByUs) return settle('cancelled');
      if (position === options.size && isResponseOk) return settle('complete');
      const code = req.rstCode ?? -1;
      // REFUSED_STREAM, or a stream above GOAWAY's last-stream-id: never processed, safe to retry.
      if (code === http2.constants.NGHTTP2_REFUSED_STREAM) return settle('retry');
      if (!isResponseOk && position === offset && isGoingAway(session)) return settle('retry');
      settle(`fail:rst-${code}`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_HTTP2_GOAWAY_SESSION') settle('retry');
    });
    req.end();
  });
}
