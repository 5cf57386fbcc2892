// `npm run bench`: starts each server on loopback with the same media files and certificate,
// runs the same workloads against each, one after another, and writes the results
// (bench/results/<date>.json and .md, and the latest table in bench/README.md).
//
//   npm run bench -- [--peers ours,nginx] [--quick] [--workloads b-driver-64KiB,b-h2load-64KiB]
//
// With --workloads only those run (names as in results-table.ts); such a partial run writes
// bench/results/<date>-partial.json and .md and leaves the table in bench/README.md alone.
//
// A peer that is not installed is skipped with a line saying so. Absolute numbers from a
// shared 2-core machine are indicative only; compare ratios from one run.

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSelfSignedCert } from '../server/tls/self-signed-cert.ts';
import { expectedBytes } from '../test/support/fixtures.ts';
import { PEERS } from './peers/index.ts';
import type { Peer, PeerContext, PeerHandle } from './peers/index.ts';
import { describeMachine } from './machine.ts';
import { renderMarkdown, updateBenchReadme, WORKLOAD_NAMES } from './results-table.ts';
import type { BenchResults, PeerResult, WorkloadName } from './results-table.ts';
import { isH2loadInstalled, runH2load } from './workloads/h2load.ts';
import { assertRangeDriverClean, isRangeDriverAvailable, runRangeDriver } from './workloads/range-driver.ts';
import type { RangeDriverAvailability } from './workloads/range-driver.ts';
import { runRangeLoadProcess } from './workloads/range-load-process.ts';
import { runCancelStorm, runPausedUntilRefused, runStalledStreamsMemory } from './workloads/storms.ts';
import type { BenchFile } from './workloads/storms.ts';
import { runToolStorm } from './workloads/tool-storm.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const FILE_BYTES = 64 * 1024 * 1024;

const { values: args } = parseArgs({
  options: { peers: { type: 'string' }, quick: { type: 'boolean', default: false }, workloads: { type: 'string' } },
});
const quick = args.quick ?? false;
const wanted = args.peers?.split(',');
const onlyWorkloads = args.workloads?.split(',') as WorkloadName[] | undefined;
const unknownWorkload = onlyWorkloads?.find((name) => !WORKLOAD_NAMES.includes(name));
if (unknownWorkload) {
  console.error(`unknown workload ${unknownWorkload}; one of ${WORKLOAD_NAMES.join(', ')}`);
  process.exit(2);
}

const workDir = await mkdtemp(path.join(os.tmpdir(), 'seekable-bench-'));
const mediaRoot = path.join(workDir, 'media');
await mkdir(mediaRoot);
const files: BenchFile[] = [
  { path: '/media/bench-a.bin', size: FILE_BYTES, salt: 0xb1 },
  { path: '/media/bench-b.bin', size: FILE_BYTES, salt: 0xb2 },
];
for (const f of files) await writeFile(path.join(mediaRoot, path.basename(f.path)), expectedBytes(0, f.size, f.salt));
const pair = createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 2 });
const certFile = path.join(workDir, 'cert.pem');
const keyFile = path.join(workDir, 'key.pem');
await writeFile(certFile, pair.certPem);
await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
const ctx: PeerContext = { mediaRoot, certFile, keyFile, workDir };
const hasH2load = await isH2loadInstalled();
if (!hasH2load) console.log('note: h2load not installed (apt-get install nghttp2-client): no h2load rounds for (a) and (b)');
// The C range driver (bench/driver/) is the primary driver of (a) and (b); built here if needed.
const rangeDriver: RangeDriverAvailability = await isRangeDriverAvailable().catch((err: Error) => ({
  ok: false as const,
  reason: err.message.split('\n')[0]!,
}));
if (!rangeDriver.ok) console.log(`skip a-driver-1MiB and b-driver-64KiB (the C range driver): ${rangeDriver.reason}`);

const results: PeerResult[] = [];
for (const peer of PEERS) {
  if (wanted && !wanted.includes(peer.name)) continue;
  const availability = await peer.available();
  if (!availability.ok) {
    console.log(`skip ${peer.name}: ${availability.reason}`);
    results.push({ peer: peer.name, kind: peer.kind, skipped: availability.reason, workloads: {} });
    continue;
  }
  console.log(`== ${peer.name}`);
  const about = { ...(peer.workloads ? { only: peer.workloads } : {}), ...(peer.note ? { note: peer.note } : {}) };
  results.push({ peer: peer.name, kind: peer.kind, ...about, workloads: await benchPeer(peer) });
}

const finishedAt = new Date();
const bench: BenchResults = {
  startedAt: finishedAt.toISOString(),
  machine: await describeMachine(),
  quick,
  ...(onlyWorkloads ? { onlyWorkloads } : {}),
  settings: { fileBytes: FILE_BYTES, files: files.length },
  ...(rangeDriver.ok ? {} : { rangeDriverSkipped: rangeDriver.reason }),
  peers: results,
};
const stamp = `${finishedAt.toISOString().replaceAll(':', '-').slice(0, 19)}${onlyWorkloads ? '-partial' : ''}`;
const resultsDir = path.join(benchDir, 'results');
await mkdir(resultsDir, { recursive: true });
const markdown = renderMarkdown(bench);
await writeFile(path.join(resultsDir, `${stamp}.json`), `${JSON.stringify(bench, null, 2)}\n`);
await writeFile(path.join(resultsDir, `${stamp}.md`), markdown);
// Only a run of every workload stands for the latest results.
if (!onlyWorkloads) await updateBenchReadme(path.join(benchDir, 'README.md'), markdown, `bench/results/${stamp}.json`);
console.log(`\n${markdown}\nwrote bench/results/${stamp}.json and .md${onlyWorkloads ? ' (partial run: bench/README.md left as it is)' : ', updated bench/README.md'}`);
process.exit(0);

/** Each group of workloads gets a fresh server process, so one that dies cannot spoil the rest. */
async function benchPeer(peer: Peer): Promise<PeerResult['workloads']> {
  const out: PeerResult['workloads'] = {};
  const seconds = quick ? 2 : 4;
  const rounds = quick ? 2 : 3;
  const record = async (name: WorkloadName, run: (handle: PeerHandle) => Promise<unknown>): Promise<void> => {
    if (onlyWorkloads && !onlyWorkloads.includes(name)) return;
    if (peer.workloads && !peer.workloads.includes(name)) return;
    const handle = await peer.start(ctx);
    const started = Date.now();
    try {
      out[name] = { ok: true, result: await run(handle), ms: Date.now() - started };
    } catch (err) {
      out[name] = { ok: false, error: (err as Error).message.split('\n')[0]!, ms: Date.now() - started };
    } finally {
      await handle.stop();
    }
    console.log(`   ${name}: ${JSON.stringify(out[name])}`);
  };
  const url = (handle: PeerHandle, f = files[0]!): string => `${handle.url}${f.path}`;
  if (rangeDriver.ok) {
    // A new random offset per request, every byte verified; a wrong byte, a status other than
    // 206 or a wrong Content-Range fails the workload instead of reporting a rate.
    const driven = (rangeBytes: number, connections: number, streams: number) => async (h: PeerHandle) =>
      assertRangeDriverClean(
        await runRangeDriver({
          url: url(h),
          fileBytes: FILE_BYTES,
          rangeBytes,
          connections,
          streams,
          durationMs: seconds * 1000 * rounds,
          warmupMs: 1000,
          seed: 9,
          verifySalt: files[0]!.salt,
        }),
      );
    await record('a-driver-1MiB', driven(1024 * 1024, 10, 4));
    await record('b-driver-64KiB', driven(64 * 1024, 20, 10));
  }
  if (hasH2load) {
    await record('a-h2load-1MiB', (h) =>
      runH2load({ url: url(h), fileSize: FILE_BYTES, rangeBytes: 1024 * 1024, connections: 10, streams: 4, rounds, roundSeconds: seconds }),
    );
    await record('b-h2load-64KiB', (h) =>
      runH2load({ url: url(h), fileSize: FILE_BYTES, rangeBytes: 64 * 1024, connections: 20, streams: 10, rounds, roundSeconds: seconds }),
    );
  }
  const rangeLoad = (rangeBytes: number, connections: number, streams: number) => (h: PeerHandle) =>
    runRangeLoadProcess({ origin: h.url, files, rangeBytes, connections, streams, durationMs: seconds * 1000 * rounds });
  await record('a-node-1MiB', rangeLoad(1024 * 1024, 10, 4));
  await record('b-node-64KiB', rangeLoad(64 * 1024, 20, 10));
  await record('c-seek-storm', (h) => runToolStorm(h.url, files[0]!, mediaRoot, quick ? 5000 : 15000));
  await record('d-cancel-3000', (h) => runCancelStorm(h.url, files[0]!));
  await record('e-paused-viewer', (h) => runPausedUntilRefused(h.url, files[0]!));
  // 100 streams per connection: within nginx's http2_max_concurrent_streams (128) and h2o's (100).
  const stalled = (connections: number) => (h: PeerHandle) => {
    if (h.pid === undefined) throw new Error('no pid to measure');
    return runStalledStreamsMemory(Number(new URL(h.url).port), files[0]!, h.pid, { connections, streams: 100, holdMs: 5000 });
  };
  await record('f-stalled-memory', stalled(10));
  await record('f-stalled-10k', stalled(100));
  return out;
}
