// Benchmarks (d), (e) and (f): what a seek storm does to a server, beyond speed.
// (d) 3,000 open-ended ranges on one connection, 16 in flight, each read for 64 KiB and then
//     cancelled: does the server survive (graceful GOAWAY and reconnecting is allowed)?
// (e) a paused viewer on one connection: seeks until the first refused stream (cap 2,000).
// (f) 1,000 concurrent streams whose clients stopped reading (f-stalled-10k: 10,000): the
//     server's peak RSS, how many of the streams it answered, and what a fresh viewer from
//     another loopback address sees meanwhile (three 1 MiB fetches, each on a new connection).
// Bytes are verified against the offset-encoded bench file throughout (d), (e) and (f)'s viewer.

import http2 from 'node:http2';
import { readFile, readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { firstMismatch } from '../../test/support/fixtures.ts';
import { RawH2Connection, Setting } from '../../test/support/raw-h2.ts';
import type { RawH2Options } from '../../test/support/raw-h2.ts';
import { runPausedViewer } from '../../test/support/paused-viewer.ts';
import type { PausedViewerReport } from '../../test/support/paused-viewer.ts';
import { prng, runSeekStorm } from '../../test/support/seek-storm.ts';
import type { StormReport } from '../../test/support/seek-storm.ts';

export interface BenchFile {
  readonly path: string; // URL path, /media/...
  readonly size: number;
  readonly salt: number;
}

function connectTo(origin: string, options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(origin, { rejectUnauthorized: false, ...options });
  session.on('error', () => {});
  return session;
}

export function runCancelStorm(origin: string, file: BenchFile): Promise<StormReport> {
  return runSeekStorm({
    connect: () => connectTo(origin),
    path: file.path,
    size: file.size,
    salt: file.salt,
    sessions: 1,
    seeksPerSession: 3000,
    inFlight: 16,
    readMinBytes: 64 * 1024,
    readMaxBytes: 64 * 1024 + 1,
    // Ours does the 3,000 in seconds; a server that stops answering is reported, not waited on.
    seekDeadlineMs: 10_000,
    maxDurationMs: 90_000,
  });
}

export function runPausedUntilRefused(origin: string, file: BenchFile): Promise<PausedViewerReport> {
  return runPausedViewer({
    connect: () => connectTo(origin, { settings: { initialWindowSize: 65535 } }),
    path: file.path,
    size: file.size,
    salt: file.salt,
    seeks: 2000,
    readMaxBytes: 256 * 1024,
    pauseMs: 3,
    seekDeadlineMs: 10_000,
    stopAtFirstFailure: true,
  });
}

export interface ViewerFetch {
  /** Connect (TLS, SETTINGS) to the last byte of a verified 1 MiB answer, in ms. */
  readonly viewerMs?: number;
  /** Connect to the response headers, in ms. */
  readonly ttfbMs?: number;
  /** Why the fetch failed: the deadline, a status other than 206, a wrong length or byte. */
  readonly viewerFailed?: string;
}

export interface MemoryResult {
  readonly idleRssBytes: number;
  readonly peakRssBytes: number;
  /** Stalled connections asked for, and opened (TLS and the server's SETTINGS arrived). */
  readonly connectionsWanted: number;
  readonly connectionsOpened: number;
  /** Connections that did not open, by reason (a per-address limit shows here). */
  readonly connectFailures: Readonly<Record<string, number>>;
  /** Open stalled connections the server closed while they stalled. */
  readonly connectionsClosedByServer: number;
  /** GOAWAYs the server sent on stalled connections, by error code. */
  readonly goaways: Readonly<Record<string, number>>;
  /** The lowest SETTINGS_MAX_CONCURRENT_STREAMS a stalled connection was given, if any was. */
  readonly serverMaxConcurrentStreams?: number;
  readonly streamsWanted: number;
  readonly streamsOpened: number;
  readonly streamsAnswered: number;
  /** Response statuses of the answered streams. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly refusedOrReset: number;
  /** Streams that got any DATA (a server may answer a stalled stream and send its body later). */
  readonly streamsWithData: number;
  /** DATA bytes the stalled streams got (at most one 64 KiB window each). */
  readonly stalledBytesReceived: number;
  /** Opening the connections and streams, one connection after another. */
  readonly openMs: number;
  /** From the last stream opened until DATA stopped arriving (or the settle cap). */
  readonly settleMs: number;
  /** The fresh viewer's fetches (a new connection from 127.0.0.2 each), in order. */
  readonly viewers: readonly ViewerFetch[];
  /** The slowest of them; a failed one counts as slowest. */
  readonly slowestViewer: ViewerFetch;
  /** This (the bench's) process's RSS before and at its peak during the workload: the raw client is bounded too. */
  readonly clientIdleRssBytes: number;
  readonly clientPeakRssBytes: number;
}

export interface StalledOptions {
  readonly connections: number;
  readonly streams: number;
  /** How long the streams stall (and RSS is sampled), counted from the last one opened. */
  readonly holdMs: number;
}

/** Fresh viewer fetches while the streams stall, each on a new connection. */
const VIEWER_FETCHES = 3;
const VIEWER_BYTES = 1024 * 1024;
const VIEWER_DEADLINE_MS = 10_000;
/** Another client on the same machine's loopback, as a second viewer on another host would be. */
const VIEWER_ADDRESS = '127.0.0.2';
/**
 * The stalled streams' connections come from 127.0.1.x, this many per address: ten clients of
 * ten connections for the 10,000-stream variant, as many users would be, not one address
 * holding 100 connections (which a per-client connection limit would refuse, ours at 64).
 */
const CONNECTIONS_PER_ADDRESS = 10;
/**
 * Bounds on the raw client, so the workload ends in about a minute whatever the server does:
 * opening all connections (a server that never answers costs one CONNECT_DEADLINE_MS per
 * connection until the budget is spent), and the settle (until no DATA arrived for SETTLE_QUIET_MS).
 * Worst case: 15 s + 8 s + 3 x 10 s of viewers + teardown.
 */
const OPEN_BUDGET_MS = 15_000;
const CONNECT_DEADLINE_MS = 5_000;
const SETTLE_MIN_MS = 1_000;
const SETTLE_QUIET_MS = 500;
const SETTLE_MAX_MS = 8_000;

/**
 * Opens connections x streams open-ended ranges whose client stops granting stream window
 * after the first 64 KiB, samples the server's RSS, and while they stall has a fresh viewer
 * from another loopback address fetch a verified 1 MiB range three times, each on a new
 * connection: what a second user sees while the server holds the stalled streams.
 */
export async function runStalledStreamsMemory(
  port: number,
  file: BenchFile,
  pid: number,
  options: StalledOptions = { connections: 10, streams: 100, holdMs: 5000 },
): Promise<MemoryResult> {
  const random = prng(17);
  const idleRssBytes = await settledRss(pid);
  let peakRssBytes = idleRssBytes;
  const clientIdleRssBytes = process.memoryUsage.rss();
  let clientPeakRssBytes = clientIdleRssBytes;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRssBytes = Math.max(peakRssBytes, await processTreeRss(pid));
      clientPeakRssBytes = Math.max(clientPeakRssBytes, process.memoryUsage.rss());
      await sleep(100);
    }
  })();

  let answered = 0;
  let refusedOrReset = 0;
  let streamsOpened = 0;
  let stalledBytesReceived = 0;
  let streamsWithData = 0;
  let lastDataAt = performance.now();
  let connectionsClosedByServer = 0;
  let serverMaxConcurrentStreams: number | undefined;
  const statuses: Record<string, number> = {};
  const goaways: Record<string, number> = {};
  const connectFailures: Record<string, number> = {};
  const connections: RawH2Connection[] = [];
  let tearingDown = false;
  const openStarted = performance.now();
  const openBy = openStarted + OPEN_BUDGET_MS;
  try {
    for (let c = 0; c < options.connections; c++) {
      const left = openBy - performance.now();
      if (left <= 0) {
        count(connectFailures, `open budget of ${OPEN_BUDGET_MS / 1000} s spent`, options.connections - c);
        break;
      }
      let conn: RawH2Connection;
      try {
        const localAddress = `127.0.1.${1 + Math.floor(c / CONNECTIONS_PER_ADDRESS)}`;
        conn = await connectWithin({ host: '127.0.0.1', port, tls: true, servername: 'localhost', localAddress }, Math.min(CONNECT_DEADLINE_MS, left));
      } catch (err) {
        count(connectFailures, failureReason(err));
        continue;
      }
      conn.on('error', () => {});
      conn.on('headers', (_id, status) => {
        if (status === undefined) return; // trailers
        answered++;
        count(statuses, String(status));
      });
      const withData = new Set<number>();
      conn.on('data', (id, payload) => {
        if (!withData.has(id)) {
          withData.add(id);
          streamsWithData++;
        }
        stalledBytesReceived += payload.length;
        lastDataAt = performance.now();
      });
      conn.on('rst', () => refusedOrReset++);
      conn.on('goaway', (_last, code) => count(goaways, String(code)));
      conn.on('close', () => {
        if (!tearingDown) connectionsClosedByServer++;
      });
      connections.push(conn);
      // A client does not open more streams than the server allows (RFC 9113 section 5.1.2).
      const limit = conn.remoteSettings.get(Setting.MAX_CONCURRENT_STREAMS);
      if (limit !== undefined) serverMaxConcurrentStreams = Math.min(serverMaxConcurrentStreams ?? limit, limit);
      for (let s = 0; s < Math.min(options.streams, limit ?? Infinity) && !conn.isClosed; s++) {
        const start = Math.floor(random() * file.size);
        const id = conn.request([
          [':method', 'GET'],
          [':scheme', 'https'],
          [':authority', 'localhost'],
          [':path', file.path],
          ['range', `bytes=${start}-`],
        ]);
        conn.pause(id); // a viewer that stopped reading: no WINDOW_UPDATE after the first 64 KiB
        streamsOpened++;
      }
    }
    const opened = performance.now();

    // Settle: the first windows' worth of DATA has arrived and the streams now stall.
    const settleCap = opened + SETTLE_MAX_MS;
    await sleep(SETTLE_MIN_MS);
    while (performance.now() - lastDataAt < SETTLE_QUIET_MS && performance.now() < settleCap) await sleep(50);
    const settleMs = Math.round(performance.now() - opened);

    const viewerRandom = prng(29);
    const viewers: ViewerFetch[] = [];
    for (let i = 0; i < VIEWER_FETCHES; i++) {
      const start = Math.floor(viewerRandom() * (file.size - VIEWER_BYTES));
      viewers.push(await freshViewerFetch(port, file, start));
    }
    const holdUntil = opened + options.holdMs;
    while (performance.now() < holdUntil) await sleep(100);

    return {
      idleRssBytes,
      peakRssBytes: Math.max(peakRssBytes, await processTreeRss(pid)),
      connectionsWanted: options.connections,
      connectionsOpened: connections.length,
      connectFailures,
      connectionsClosedByServer,
      goaways,
      ...(serverMaxConcurrentStreams !== undefined ? { serverMaxConcurrentStreams } : {}),
      streamsWanted: options.connections * options.streams,
      streamsOpened,
      streamsAnswered: answered,
      statuses,
      refusedOrReset,
      streamsWithData,
      stalledBytesReceived,
      openMs: Math.round(opened - openStarted),
      settleMs,
      viewers,
      slowestViewer: slowest(viewers),
      clientIdleRssBytes,
      clientPeakRssBytes,
    };
  } finally {
    tearingDown = true;
    for (const conn of connections) conn.destroy();
    sampling = false;
    await sampler;
  }
}

/** RawH2Connection.connect with a deadline; a connection that opens after it is closed at once. */
function connectWithin(options: RawH2Options, ms: number): Promise<RawH2Connection> {
  const pending = RawH2Connection.connect(options);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.then((late) => late.destroy(), () => {});
      reject(new Error(`no TLS and SETTINGS within ${(ms / 1000).toFixed(1)} s`));
    }, ms);
    pending.then(
      (conn) => {
        clearTimeout(timer);
        resolve(conn);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * One fresh viewer: a new node:http2 TLS connection from VIEWER_ADDRESS, one 1 MiB range,
 * status, Content-Range, length and every byte checked. The time runs from connecting to the
 * last byte; verifying comes after it.
 */
function freshViewerFetch(port: number, file: BenchFile, start: number): Promise<ViewerFetch> {
  const end = start + VIEWER_BYTES - 1;
  const began = performance.now();
  // A browser's windows (Chrome: 6 MiB per stream, 15 MiB per connection), not Node's 64 KiB.
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    localAddress: VIEWER_ADDRESS,
    servername: 'localhost',
    rejectUnauthorized: false,
    settings: { initialWindowSize: 6 * 1024 * 1024 },
  } as http2.SecureClientSessionOptions);
  session.on('error', () => {});
  session.once('connect', () => session.setLocalWindowSize(15 * 1024 * 1024));
  return new Promise<ViewerFetch>((resolve) => {
    const body = Buffer.alloc(VIEWER_BYTES);
    let received = 0;
    let status: number | undefined;
    let contentRange: string | undefined;
    let ttfbMs: number | undefined;
    let done = false;
    const finish = (fetch: ViewerFetch): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(fetch);
    };
    const timer = setTimeout(() => {
      const got = status === undefined ? 'no response headers' : `status ${status}, ${received} of ${VIEWER_BYTES} bytes`;
      finish({ viewerFailed: `deadline ${VIEWER_DEADLINE_MS / 1000} s: ${got}` });
    }, VIEWER_DEADLINE_MS);
    const req = session.request({ ':path': file.path, ':authority': `localhost:${port}`, range: `bytes=${start}-${end}` });
    req.on('response', (headers) => {
      ttfbMs = Math.round((performance.now() - began) * 10) / 10;
      status = Number(headers[':status']);
      contentRange = headers['content-range'] as string | undefined;
    });
    req.on('data', (chunk: Buffer) => {
      // Bytes past the range are counted, not kept: the viewer's memory stays 1 MiB.
      if (received < VIEWER_BYTES) chunk.copy(body, received, 0, Math.min(chunk.length, VIEWER_BYTES - received));
      received += chunk.length;
    });
    req.on('error', (err: Error) => finish({ viewerFailed: `${failureReason(err)} after ${received} bytes` }));
    req.on('close', () => finish({ viewerFailed: `stream closed (code ${req.rstCode}) after ${received} bytes` }));
    req.on('end', () => {
      const viewerMs = Math.round((performance.now() - began) * 10) / 10;
      if (status !== 206) return finish({ viewerFailed: `status ${status}` });
      if (contentRange !== `bytes ${start}-${end}/${file.size}`) return finish({ viewerFailed: `Content-Range ${contentRange}` });
      if (received !== VIEWER_BYTES) return finish({ viewerFailed: `${received} bytes, not ${VIEWER_BYTES}` });
      const mismatch = firstMismatch(body, start, file.salt);
      if (mismatch >= 0) return finish({ viewerFailed: `wrong byte at offset ${start + mismatch}` });
      finish({ viewerMs, ...(ttfbMs !== undefined ? { ttfbMs } : {}) });
    });
    req.end();
  });
}

/** The slowest fetch; any failed one is slower than every completed one. */
function slowest(fetches: readonly ViewerFetch[]): ViewerFetch {
  return fetches.find((f) => f.viewerFailed !== undefined) ?? fetches.reduce((a, b) => ((b.viewerMs ?? 0) > (a.viewerMs ?? 0) ? b : a));
}

function failureReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e.code ?? e.message ?? String(err)).split('\n')[0]!.slice(0, 100);
}

function count(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The process tree's RSS once it has settled after start: a server may still be starting work
 * (ours probes the library with short-lived ffprobe children, ~13 MiB each for under a second)
 * when the workload begins. Two samples 500 ms apart within 1 MiB, or the last of 10 s.
 */
async function settledRss(pid: number): Promise<number> {
  let last = await processTreeRss(pid);
  for (const until = Date.now() + 10_000; Date.now() < until; ) {
    await sleep(500);
    const now = await processTreeRss(pid);
    if (Math.abs(now - last) < 1024 * 1024) return now;
    last = now;
  }
  return last;
}

/** Resident memory of a process and all its descendants (nginx's workers, h2o's children). */
export async function processTreeRss(rootPid: number): Promise<number> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let rss = 0;
  for (const pid of tree) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // gone
    }
  }
  return rss;
}
