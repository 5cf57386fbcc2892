// Benchmark (c): a seek storm from the project's load tool (loadtest/), scrubbing profile,
// every byte verified against the local copy of the bench file.

import path from 'node:path';
import { runStorm } from '../../loadtest/storm.ts';
import type { StormReport } from '../../loadtest/report.ts';
import type { BenchFile } from './storms.ts';

export function runToolStorm(origin: string, file: BenchFile, mediaRoot: string, durationMs: number): Promise<StormReport> {
  return runStorm({
    urls: [`${origin}${file.path}`],
    profile: 'scrubbing',
    viewers: 8,
    durationMs,
    verify: true,
    verifyFile: path.join(mediaRoot, path.basename(file.path)),
    tls: { insecure: true },
    metricsUrl: null,
  });
}
