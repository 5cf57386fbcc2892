// Benchmarks (a) and (b) driven by h2load (nghttp2-client), a C client that does not compete
// for the CPU the way a Node client does. h2load sends one fixed Range header per run, so a
// workload is several short rounds, each at a new random offset; results are summed.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { prng } from '../../test/support/seek-storm.ts';

const run = promisify(execFile);

export interface H2loadOptions {
  readonly url: string; // https://localhost:PORT/media/file
  readonly fileSize: number;
  readonly rangeBytes: number;
  readonly connections: number;
  readonly streams: number;
  readonly rounds: number;
  readonly roundSeconds: number;
  readonly seed?: number;
}

export interface H2loadResult {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly seconds: number;
  readonly requestsPerSec: number;
  readonly megabytesPerSec: number;
  readonly non2xx: number;
}

export async function isH2loadInstalled(): Promise<boolean> {
  try {
    await run('h2load', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const random = prng(options.seed ?? 9);
  let requests = 0;
  let succeeded = 0;
  let failed = 0;
  let non2xx = 0;
  const rates: { rps: number; mbps: number }[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const start = Math.floor(random() * (options.fileSize - options.rangeBytes));
    const { stdout } = await run(
      'h2load',
      [
        '-c', String(options.connections),
        '-m', String(options.streams),
        '-D', String(options.roundSeconds),
        '--warm-up-time', '1',
        '-H', `range: bytes=${start}-${start + options.rangeBytes - 1}`,
        options.url,
      ],
      { timeout: (options.roundSeconds + 30) * 1000, maxBuffer: 4 * 1024 * 1024 },
    );
    // "finished in 6.00s, 4674.20 req/s, 292.51MB/s": the rates exclude the warm-up second.
    const finished = /finished in [\d.]+s, ([\d.]+) req\/s, ([\d.]+)([KMG]?)B\/s/.exec(stdout);
    const counts = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
    if (!finished || !counts || !codes) throw new Error(`unexpected h2load output:\n${stdout}`);
    const unit = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 }[finished[3] as '' | 'K' | 'M' | 'G'];
    rates.push({ rps: Number(finished[1]), mbps: Number(finished[2]) * unit });
    requests += Number(counts[1]);
    succeeded += Number(counts[2]);
    failed += Number(counts[3]);
    non2xx += Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    requests,
    succeeded,
    failed,
    seconds: options.rounds * options.roundSeconds,
    requestsPerSec: Math.round(mean(rates.map((r) => r.rps))),
    megabytesPerSec: Math.round(mean(rates.map((r) => r.mbps)) * 10) / 10,
    non2xx,
  };
}
