// Benchmarks (a) and (b) driven by bench/driver/range-driver, our C client on libnghttp2 +
// OpenSSL: one thread on epoll, so it leaves the CPU to the server, and a new random offset on
// every request (h2load sends one fixed Range per run). It also checks every 206's
// Content-Range and length and, given the file's salt, every body byte against the offset
// encoding, so a fast but wrong server shows as failed (see rangeDriverProblems).
//
// The binary is built on first use by bench/driver/build.sh into bench/driver/.build/.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const driverDir = fileURLToPath(new URL('../driver/', import.meta.url));
const buildScript = path.join(driverDir, 'build.sh');

export interface RangeDriverOptions {
  /** https://host:PORT/path (TLS, ALPN h2, certificate not verified) or http:// (h2c). */
  readonly url: string;
  readonly fileBytes: number;
  readonly rangeBytes: number;
  readonly connections: number;
  /** Requests kept in flight per connection. */
  readonly streams: number;
  readonly durationMs: number;
  readonly warmupMs?: number;
  readonly seed?: number;
  /** The file's offset-encoding salt: check every body byte (test/support/fixtures.ts). */
  readonly verifySalt?: number;
}

/** Request counters; the top level covers the measured window, `warmup` the warm-up. */
export interface RangeDriverCounts {
  readonly requests: number;
  /** 206, exact Content-Range, every byte, none corrupt, stream closed without error. */
  readonly succeeded: number;
  readonly non206: number;
  readonly failed: number;
  readonly bodyBytes: number;
  /** Subsets of `failed`. */
  readonly badContentRange: number;
  readonly wrongLength: number;
  readonly streamErrors: number;
  readonly lostWithConnection: number;
}

export interface RangeDriverResult extends RangeDriverCounts {
  readonly url: string;
  /** libnghttp2 and OpenSSL versions. */
  readonly driver: string;
  readonly protocol: 'h2' | 'h2c';
  readonly connections: number;
  readonly streams: number;
  readonly rangeBytes: number;
  readonly fileBytes: number;
  readonly seed: number;
  readonly verifySalt: number | null;
  /** Streams above a GOAWAY's last-stream-id: never processed, not counted as requests. */
  readonly unprocessed: number;
  // Whole run, warm-up included:
  readonly resets: number;
  readonly reconnects: number;
  readonly goaways: number;
  readonly goawayErrors: number;
  readonly connectionErrors: number;
  readonly verifiedBytes: number;
  readonly corruptBytes: number;
  readonly corruptStreams: number;
  readonly firstCorrupt: { readonly connection: number; readonly streamId: number; readonly offset: number; readonly expected: number; readonly got: number } | null;
  /** Requests abandoned when the time was up. */
  readonly inFlightAtEnd: number;
  /** Measured window, by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Succeeded requests per second of the measured window. */
  readonly requestsPerSec: number;
  /** Body bytes of the requests completed in the window, MB (1e6 bytes) per second. */
  readonly megabytesPerSec: number;
  /** Submit to last byte, succeeded requests of the window. */
  readonly latency: { readonly p50Ms: number; readonly p90Ms: number; readonly p99Ms: number; readonly maxMs: number };
  readonly warmup: RangeDriverCounts;
  /** The driver's own CPU time during the measured window. */
  readonly cpuSeconds: number;
}

export type RangeDriverAvailability = { readonly ok: true; readonly binary: string } | { readonly ok: false; readonly reason: string };

let availability: Promise<RangeDriverAvailability> | undefined;

/**
 * Builds the driver if needed. `ok: false` with the reason (and the install hint) when the C
 * compiler or the libnghttp2/OpenSSL headers are missing; throws when compiling fails for
 * any other reason, which is a bug to see, not a skip.
 */
export function isRangeDriverAvailable(): Promise<RangeDriverAvailability> {
  availability ??= build().catch((err: unknown) => {
    availability = undefined; // a later call may try again
    throw err;
  });
  return availability;
}

async function build(): Promise<RangeDriverAvailability> {
  try {
    const { stdout } = await run('bash', [buildScript], { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 });
    return { ok: true, binary: stdout.trim().split('\n').pop()! };
  } catch (err) {
    // execFile's error: `code` is the exit status, or 'ENOENT' and the like when bash did not start.
    const e = err as Error & { code?: number | string; stderr?: string };
    const stderr = (e.stderr ?? '').trim();
    if (e.code === 3) return { ok: false, reason: stderr.split('\n').pop() ?? 'the C compiler or headers are missing' };
    if (e.code === 'ENOENT') return { ok: false, reason: 'bash not found: cannot run bench/driver/build.sh' };
    throw new Error(`bench/driver/build.sh failed: ${stderr || e.message}`);
  }
}

export async function runRangeDriver(options: RangeDriverOptions): Promise<RangeDriverResult> {
  const driver = await isRangeDriverAvailable();
  if (!driver.ok) throw new Error(`range driver unavailable: ${driver.reason}`);
  const warmupMs = options.warmupMs ?? 1000;
  const args = [
    '--url', options.url,
    '--file-bytes', String(options.fileBytes),
    '--range-bytes', String(options.rangeBytes),
    '--connections', String(options.connections),
    '--streams', String(options.streams),
    '--duration-ms', String(options.durationMs),
    '--warmup-ms', String(warmupMs),
    '--seed', String(options.seed ?? 9),
  ];
  if (options.verifySalt !== undefined) args.push('--verify-salt', String(options.verifySalt));
  try {
    const { stdout } = await run(driver.binary, args, {
      timeout: options.durationMs + warmupMs + 30_000,
      maxBuffer: 4 * 1024 * 1024,
    });
    return JSON.parse(stdout.trim().split('\n').pop()!) as RangeDriverResult;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`range-driver: ${(e.stderr ?? '').trim().split('\n').pop() || e.message}`);
  }
}

/**
 * What makes a run wrong rather than slow: corrupt bytes, a status other than 206, a wrong
 * Content-Range or body length (warm-up included), or no request succeeding at all.
 * Stream resets and lost connections are not here: they show as `failed`, next to the rate.
 */
export function rangeDriverProblems(r: RangeDriverResult): string[] {
  const problems: string[] = [];
  if (r.corruptBytes > 0) {
    const at = r.firstCorrupt ? ` (first at offset ${r.firstCorrupt.offset}, stream ${r.firstCorrupt.streamId})` : '';
    problems.push(`${r.corruptBytes} corrupt bytes in ${r.corruptStreams} streams${at}`);
  }
  const non206 = r.non206 + r.warmup.non206;
  if (non206 > 0) {
    const others = Object.entries(r.statuses).filter(([status]) => status !== '206');
    problems.push(`${non206} responses not 206${others.length ? ` (${others.map(([s, n]) => `${s}: ${n}`).join(', ')})` : ''}`);
  }
  const badRange = r.badContentRange + r.warmup.badContentRange;
  if (badRange > 0) problems.push(`${badRange} wrong Content-Range`);
  const wrongLength = r.wrongLength + r.warmup.wrongLength;
  if (wrongLength > 0) problems.push(`${wrongLength} bodies of the wrong length`);
  if (r.succeeded === 0) problems.push('no request succeeded');
  return problems;
}

/** The result, or an error naming what was wrong (the bench records it as a failed workload). */
export function assertRangeDriverClean(r: RangeDriverResult): RangeDriverResult {
  const problems = rangeDriverProblems(r);
  if (problems.length > 0) throw new Error(`verification failed: ${problems.join('; ')}`);
  return r;
}
