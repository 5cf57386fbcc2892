// Benchmarks (d), (e) and (f): what a seek storm does to a server, beyond speed.
// (d) 3,000 open-ended ranges on one connection, 16 in flight, each read for 64 KiB and then
//     cancelled: does the server survive (graceful GOAWAY and reconnecting is allowed)?
// (e) a paused viewer on one connection: seeks until the first refused stream (cap 2,000).
// (f) 1,000 concurrent streams whose clients stopped reading: the server's peak RSS.
// Bytes are verified against the offset-encoded bench file throughout (d) and (e).

import http2 from 'node:http2';
import { readFile, readdir } from 'node:fs/promises';
import { RawH2Connection } from '../../test/support/raw-h2.ts';
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

export interface MemoryResult {
  readonly idleRssBytes: number;
  readonly peakRssBytes: number;
  readonly streamsOpened: number;
  readonly streamsAnswered: number;
  readonly refusedOrReset: number;
}

/** Opens connections x streams open-ended ranges, never reads past the first window, samples RSS. */
export async function runStalledStreamsMemory(
  port: number,
  file: BenchFile,
  pid: number,
  options: { connections: number; streams: number; holdMs: number } = { connections: 10, streams: 100, holdMs: 5000 },
): Promise<MemoryResult> {
  const random = prng(17);
  const idleRssBytes = await processTreeRss(pid);
  let peakRssBytes = idleRssBytes;
  let answered = 0;
  let refusedOrReset = 0;
  const connections: RawH2Connection[] = [];
  for (let c = 0; c < options.connections; c++) {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port, tls: true, servername: 'localhost' });
    conn.on('error', () => {});
    conn.on('headers', () => answered++);
    conn.on('rst', () => refusedOrReset++);
    connections.push(conn);
    for (let s = 0; s < options.streams; s++) {
      const start = Math.floor(random() * file.size);
      const id = conn.request([
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', file.path],
        ['range', `bytes=${start}-`],
      ]);
      conn.pause(id); // a viewer that stopped reading: no WINDOW_UPDATE after the first 64 KiB
    }
  }
  const until = Date.now() + options.holdMs;
  while (Date.now() < until) {
    peakRssBytes = Math.max(peakRssBytes, await processTreeRss(pid));
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const conn of connections) conn.destroy();
  return {
    idleRssBytes,
    peakRssBytes,
    streamsOpened: options.connections * options.streams,
    streamsAnswered: answered,
    refusedOrReset,
  };
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
