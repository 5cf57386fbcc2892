// Benchmark (c): a seek storm from the project's load tool (loadtest/), max-rate profile
// (each viewer seeks again as soon as it has read 16-128 KiB: no pacing, so seeks/s ranks
// the servers), every byte verified against the local copy of the bench file. 8 viewers, one
// connection each, one seek in flight per viewer: enough to keep a one-core server busy while
// the tool (this process, on the other core) verifies, without its own queueing swamping TTFB.
// Bounded by durationMs and the tool's default --max-seeks.

import path from 'node:path';
import { runStorm } from '../../loadtest/storm.ts';
import type { StormReport } from '../../loadtest/report.ts';
import type { BenchFile } from './storms.ts';

export function runToolStorm(origin: string, file: BenchFile, mediaRoot: string, durationMs: number): Promise<StormReport> {
  return runStorm({
    urls: [`${origin}${file.path}`],
    profile: 'max-rate',
    viewers: 8,
    connectionsPerViewer: 1,
    durationMs,
    verify: true,
    verifyFile: path.join(mediaRoot, path.basename(file.path)),
    tls: { insecure: true },
    metricsUrl: null,
  });
}
