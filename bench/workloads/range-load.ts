// Range load for benchmarks (a) and (b): keeps `connections x streams` GET requests in flight,
// each for `rangeBytes` at a random offset of one of the given files, for a fixed time, and
// prints one JSON line with requests/s and MB/s. Random offsets on every request (h2load
// can only send one fixed Range header). Runs as its own process, so the orchestrator does
// not share its event loop; loopback only.
//
//   node bench/workloads/range-load.ts '{"origin":"https://localhost:8443","files":[{"path":"/media/a.bin","size":67108864}],
//     "rangeBytes":1048576,"connections":10,"streams":4,"durationMs":10000}'

import http2 from 'node:http2';
import { prng } from '../../test/support/seek-storm.ts';

export interface RangeLoadOptions {
  readonly origin: string;
  readonly files: readonly { readonly path: string; readonly size: number }[];
  readonly rangeBytes: number;
  readonly connections: number;
  readonly streams: number;
  readonly durationMs: number;
  readonly warmupMs?: number;
  readonly seed?: number;
}

export interface RangeLoadResult {
  readonly requests: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly requestsPerSec: number;
  readonly megabytesPerSec: number;
  readonly statuses: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly shortBodies: number;
}

export async function runRangeLoad(options: RangeLoadOptions): Promise<RangeLoadResult> {
  const random = prng(options.seed ?? 5);
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let requests = 0;
  let bytes = 0;
  let shortBodies = 0;
  let isMeasuring = false;
  let isStopping = false;
  const count = (table: Record<string, number>, key: string): void => {
    table[key] = (table[key] ?? 0) + 1;
  };

  const oneRequest = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const file = options.files[Math.floor(random() * options.files.length)]!;
      const start = Math.floor(random() * (file.size - options.rangeBytes));
      const req = session.request({ ':path': file.path, range: `bytes=${start}-${start + options.rangeBytes - 1}` });
      let received = 0;
      req.on('response', (h) => isMeasuring && count(statuses, String(h[':status'])));
      req.on('data', (chunk: Buffer) => (received += chunk.length));
      req.on('end', () => {
        if (isMeasuring) {
          requests++;
          bytes += received;
          if (received !== options.rangeBytes) shortBodies++;
        }
        resolve();
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (isMeasuring) count(errors, err.code ?? err.message);
        resolve();
      });
      req.end();
    });

  const connect = (): Promise<http2.ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(options.origin, {
        rejectUnauthorized: false,
        settings: { initialWindowSize: 16 * 1024 * 1024 },
      });
      session.once('connect', () => {
        session.setLocalWindowSize(64 * 1024 * 1024);
        resolve(session);
      });
      session.once('error', reject);
    });

  const sessions = await Promise.all(Array.from({ length: options.connections }, connect));
  for (const s of sessions) s.on('error', (err: NodeJS.ErrnoException) => count(errors, `session:${err.code ?? err.message}`));
  const loops = sessions.flatMap((session) =>
    Array.from({ length: options.streams }, async () => {
      while (!isStopping && !session.closed && !session.destroyed) await oneRequest(session);
    }),
  );
  await new Promise((r) => setTimeout(r, options.warmupMs ?? 1000));
  isMeasuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  isMeasuring = false;
  const elapsedMs = performance.now() - started;
  isStopping = true;
  await Promise.all(loops);
  for (const s of sessions) s.close();
  return {
    requests,
    bytes,
    elapsedMs: Math.round(elapsedMs),
    requestsPerSec: Math.round((requests / elapsedMs) * 1000),
    megabytesPerSec: Math.round((bytes / 1e6 / elapsedMs) * 1000 * 10) / 10,
    statuses,
    errors,
    shortBodies,
  };
}

if (import.meta.main) {
  const result = await runRangeLoad(JSON.parse(process.argv[2] ?? '{}') as RangeLoadOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
