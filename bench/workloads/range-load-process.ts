// Runs bench/workloads/range-load.ts in its own process and returns its JSON line.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RangeLoadOptions, RangeLoadResult } from './range-load.ts';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./range-load.ts', import.meta.url));

export async function runRangeLoadProcess(options: RangeLoadOptions): Promise<RangeLoadResult> {
  const { stdout } = await run(process.execPath, [script, JSON.stringify(options)], {
    timeout: options.durationMs + 60_000,
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as RangeLoadResult;
}
