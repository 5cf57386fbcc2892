// The benchmark's result file format and its markdown table (ratios to nginx).

import { readFile, writeFile } from 'node:fs/promises';
import type { MachineDescription } from './machine.ts';
import { rangeDriverProblems } from './workloads/range-driver.ts';
import type { RangeDriverResult } from './workloads/range-driver.ts';

export const WORKLOAD_NAMES = [
  'a-driver-1MiB',
  'a-h2load-1MiB',
  'a-node-1MiB',
  'b-driver-64KiB',
  'b-h2load-64KiB',
  'b-node-64KiB',
  'c-seek-storm',
  'd-cancel-3000',
  'e-paused-viewer',
  'f-stalled-memory',
  'f-stalled-10k',
] as const;

export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

const STORM_WORKLOADS: readonly WorkloadName[] = ['c-seek-storm', 'd-cancel-3000', 'e-paused-viewer', 'f-stalled-memory', 'f-stalled-10k'];

export type WorkloadOutcome =
  | { readonly ok: true; readonly result: unknown; readonly ms: number }
  | { readonly ok: false; readonly error: string; readonly ms: number };

export interface PeerResult {
  readonly peer: string;
  readonly kind: string;
  readonly skipped?: string;
  /** The workloads this peer runs, when not all (the node:http2 floor: the range workloads). */
  readonly only?: readonly WorkloadName[];
  /** The peer's note for readers of the table (peer.ts). */
  readonly note?: string;
  readonly workloads: Partial<Record<WorkloadName, WorkloadOutcome>>;
}

export interface BenchResults {
  readonly startedAt: string;
  readonly machine: MachineDescription;
  readonly quick: boolean;
  /** A partial run (--workloads): only these ran. */
  readonly onlyWorkloads?: readonly WorkloadName[];
  readonly settings: { readonly fileBytes: number; readonly files: number };
  /** Why the C range driver (workloads a-driver-1MiB, b-driver-64KiB) did not run, if it did not. */
  readonly rangeDriverSkipped?: string;
  readonly peers: readonly PeerResult[];
}

type Row = Record<string, unknown>;

function result(peer: PeerResult, name: WorkloadName): Row | undefined {
  const w = peer.workloads[name];
  return w?.ok ? (w.result as Row) : undefined;
}

function cell(peer: PeerResult, name: WorkloadName, show: (r: Row) => string): string {
  if (peer.skipped) return 'skipped';
  const w = peer.workloads[name];
  if (!w) return 'n/a';
  if (!w.ok) return `failed: ${w.error.slice(0, 60)}`;
  return show(w.result as Row);
}

/** A C range driver run that saw a wrong answer (or none at all): its problems, else undefined. */
function driverProblems(row: Row | undefined): string | undefined {
  if (!row) return undefined;
  const problems = rangeDriverProblems(row as unknown as RangeDriverResult);
  return problems.length > 0 ? problems.join(', ') : undefined;
}

/**
 * A C range driver cell: the rate with its ratio, or "failed" when the run saw a corrupt byte,
 * a status other than 206 or a wrong Content-Range. run.ts already records such a workload as
 * failed; checking again here keeps an older or hand-made results file from showing a wrong run
 * as a fast one.
 */
function driverCell(peer: PeerResult, name: WorkloadName, show: (r: Row) => string): string {
  const w = peer.workloads[name];
  if (!peer.skipped && w && !w.ok) return `failed: ${w.error.replace(/^verification failed: /, 'wrong answers: ').slice(0, 70)}`;
  return cell(peer, name, (r) => {
    const problems = driverProblems(r);
    if (problems) return `failed: wrong answers: ${problems.slice(0, 55)}`;
    return `${show(r)}${(r.failed as number) > 0 ? `, ${r.failed} failed` : ''}`;
  });
}

function withRatio(value: number, base: number | undefined): string {
  const shown = value.toLocaleString('en-US');
  return base ? `${shown} (${(value / base).toFixed(2)}x)` : shown;
}

function failuresText(failures: unknown): string {
  const entries = Object.entries((failures ?? {}) as Record<string, number>).filter(([, n]) => n > 0);
  return entries.length === 0 ? '0' : entries.map(([k, n]) => `${k}: ${n}`).join(', ');
}

const count = (n: unknown): string => (typeof n === 'number' ? n.toLocaleString('en-US') : '-');
const mib = (n: unknown): string => (typeof n === 'number' ? `${Math.round(n / 2 ** 20)} MiB` : '-');

/**
 * (f) and f-stalled-10k: the server's peak RSS (idle), how many of the stalled streams it
 * answered, and whatever kept streams or connections from opening (a per-address connection
 * limit, a lower SETTINGS_MAX_CONCURRENT_STREAMS) or ended them. Fields an older results file
 * lacks show as "-".
 */
function stalledText(r: Row): string {
  const notes: string[] = [];
  const wanted = r.connectionsWanted as number | undefined;
  const opened = r.connectionsOpened as number | undefined;
  if (wanted !== undefined && opened !== undefined && opened < wanted) {
    notes.push(`${count(opened)} of ${count(wanted)} connections opened (${failuresText(r.connectFailures)})`);
  }
  const limit = r.serverMaxConcurrentStreams as number | undefined;
  if (limit !== undefined && wanted && (r.streamsWanted as number) / wanted > limit) notes.push(`server allows ${count(limit)} streams per connection`);
  if ((r.refusedOrReset as number) > 0) notes.push(`${count(r.refusedOrReset)} streams reset`);
  if ((r.connectionsClosedByServer as number) > 0) notes.push(`${count(r.connectionsClosedByServer)} connections closed by the server`);
  if (failuresText(r.goaways) !== '0') notes.push(`GOAWAY ${failuresText(r.goaways)}`);
  const answered = `${count(r.streamsAnswered)} of ${count(r.streamsOpened)} answered`;
  return `${mib(r.peakRssBytes)} (${mib(r.idleRssBytes)}), ${answered}${notes.length > 0 ? `; ${notes.join(', ')}` : ''}`;
}

/** The fresh viewer's slowest 1 MiB fetch while the streams stall, or its failure. */
function viewerText(r: Row): string {
  const slowest = r.slowestViewer as { viewerMs?: number; viewerFailed?: string } | undefined;
  if (!slowest) return '-';
  if (slowest.viewerFailed !== undefined) {
    const fetches = (r.viewers as { viewerFailed?: string }[] | undefined) ?? [];
    const failed = fetches.filter((f) => f.viewerFailed !== undefined).length;
    return `failed ${failed} of ${fetches.length}: ${slowest.viewerFailed.slice(0, 60)}`;
  }
  return slowest.viewerMs === undefined ? '-' : `${slowest.viewerMs.toFixed(0)} ms`;
}

export function renderMarkdown(bench: BenchResults): string {
  const nginx = bench.peers.find((p) => p.peer === 'nginx');
  const base = (name: WorkloadName, key: string): number | undefined =>
    nginx ? (result(nginx, name)?.[key] as number | undefined) : undefined;
  // No ratio to an nginx run that gave wrong answers.
  const driverBase = (name: WorkloadName, key: string): number | undefined =>
    nginx && !driverProblems(result(nginx, name)) ? (result(nginx, name)?.[key] as number | undefined) : undefined;
  const m = bench.machine;
  const lines = [
    `Run of ${bench.startedAt}${bench.quick ? ' (--quick)' : ''}${bench.onlyWorkloads ? ` (partial: ${bench.onlyWorkloads.join(', ')} only)` : ''}. Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, kernel ${m.kernel}, Node ${m.node}.`,
    `Peers: ${Object.entries(m.peerVersions).map(([k, v]) => `${k} (${v})`).join('; ') || 'none native'}.`,
    '',
    'Throughput and request rate, ratio to nginx in brackets. The C driver (bench/driver/, libnghttp2 + OpenSSL, one thread) picks a new random offset for every request and verifies every byte, Content-Range and status, so a wrong answer shows as failed, not as a fast number; p99 is submit to last byte. h2load sends one fixed Range per round (rounds at new random offsets); the Node driver picks a random offset per request but competes for the same 2 cores, so it understates fast servers.',
    ...(bench.rangeDriverSkipped ? ['', `The C driver did not run: ${bench.rangeDriverSkipped}`] : []),
    '',
    '| Peer | (a) 1 MiB ranges, C driver MB/s | (b) 64 KiB ranges, C driver req/s | (b) C driver p99 | (a) h2load MB/s | (b) h2load req/s | (a) Node driver MB/s | (b) Node driver req/s |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const p of bench.peers) {
    const p99 = cell(p, 'b-driver-64KiB', (r) => (driverProblems(r) ? '-' : `${((r.latency as Row).p99Ms as number).toFixed(1)} ms`));
    lines.push(
      `| ${p.peer} | ${driverCell(p, 'a-driver-1MiB', (r) => withRatio(r.megabytesPerSec as number, driverBase('a-driver-1MiB', 'megabytesPerSec')))} | ${driverCell(p, 'b-driver-64KiB', (r) => withRatio(r.requestsPerSec as number, driverBase('b-driver-64KiB', 'requestsPerSec')))} | ${p99} | ${cell(p, 'a-h2load-1MiB', (r) => withRatio(r.megabytesPerSec as number, base('a-h2load-1MiB', 'megabytesPerSec')))} | ${cell(p, 'b-h2load-64KiB', (r) => withRatio(r.requestsPerSec as number, base('b-h2load-64KiB', 'requestsPerSec')))} | ${cell(p, 'a-node-1MiB', (r) => withRatio(r.megabytesPerSec as number, base('a-node-1MiB', 'megabytesPerSec')))} | ${cell(p, 'b-node-64KiB', (r) => withRatio(r.requestsPerSec as number, base('b-node-64KiB', 'requestsPerSec')))} |`,
    );
  }
  for (const p of bench.peers) if (p.note && !p.skipped) lines.push('', p.note);
  lines.push(
    '',
    'Seek storms: (c) the load tool, max-rate profile (each viewer seeks again as soon as it has read 16-128 KiB, no pacing), bytes verified, and the connections its 8 viewers opened (a server that rotates connections makes them reconnect); (d) 3,000 open-ended ranges on one connection, 16 in flight, each cancelled after 64 KiB (graceful GOAWAY + reconnect allowed); (e) a paused viewer seeking on one connection until the first refused stream (cap 2,000); (f) 1,000 concurrent streams (10 connections x 100) whose clients stopped reading after the first 64 KiB, and (f-10k) 10,000 (100 x 100), ten connections per source address (127.0.1.x): server RSS, peak (idle), the streams it answered of those opened, and, while they stall, a fresh viewer from 127.0.0.2 fetching a 1 MiB range three times, each on a new connection (connect to last byte, every byte verified, 10 s deadline): the slowest of the three.',
    '',
    '| Peer | (c) max-rate seeks/s | (c) p99 TTFB | (c) failures | (c) connections | (d) cancels | (e) paused seeks | (f) 1,000 stalled: peak RSS (idle), answered | (f) fresh viewer, slowest | (f-10k) 10,000 stalled: peak RSS (idle), answered | (f-10k) fresh viewer, slowest |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const p of bench.peers) {
    if (p.only && !STORM_WORKLOADS.some((name) => p.only!.includes(name))) continue;
    const c = (show: (r: Row) => string): string => cell(p, 'c-seek-storm', show);
    const connections = c((r) => (r.connections === undefined ? '-' : `${count(r.connections)}${(r.gracefulGoaways as number) > 0 ? ` (${count(r.gracefulGoaways)} graceful GOAWAYs)` : ''}`));
    lines.push(
      `| ${p.peer} | ${c((r) => String(r.seeksPerSec))} | ${c((r) => `${(r.ttfbMs as Row).p99} ms`)} | ${c((r) => `${failuresText(r.failures)}${r.corruptBytes ? `, corrupt bytes ${r.corruptBytes}` : ''}`)} | ${connections} | ${cell(p, 'd-cancel-3000', (r) => (failuresText(r.failures) === '0' ? `survived (${r.seeks} seeks, ${r.rotations} graceful GOAWAYs)` : `failed after ${r.seeks} seeks: ${failuresText(r.failures)}`))} | ${cell(p, 'e-paused-viewer', (r) => (r.firstFailureAtSeek ? `refused at seek ${r.firstFailureAtSeek} (${failuresText(r.failures)})` : `none refused in ${r.seeks}`))} | ${cell(p, 'f-stalled-memory', stalledText)} | ${cell(p, 'f-stalled-memory', viewerText)} | ${cell(p, 'f-stalled-10k', stalledText)} | ${cell(p, 'f-stalled-10k', viewerText)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const START = '<!-- bench:latest:start -->';
const END = '<!-- bench:latest:end -->';

/** Replaces the latest-results section of bench/README.md (between markers). */
export async function updateBenchReadme(readmePath: string, markdown: string, jsonPath: string): Promise<void> {
  const current = await readFile(readmePath, 'utf8').catch(() => `# Benchmarks\n\n${START}\n${END}\n`);
  const section = `${START}\n${markdown}\nFull results: \`${jsonPath}\`.\n${END}`;
  const next = current.includes(START)
    ? current.replace(new RegExp(`${START}[\\s\\S]*${END}`), section)
    : `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(readmePath, next);
}
