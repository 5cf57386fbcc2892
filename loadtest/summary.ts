// The summary table printed at the end of a run: aligned, with units, every failure by class
// with the first detail seen, and a plain statement when bytes were not verified.

import { describeBehaviour } from './behaviour.ts';
import { formatBitrate, formatBytes, formatCount, formatDuration, formatMs, formatRate } from './format.ts';
import { FAILURE_CLASSES } from './report.ts';
import type { FailureClass, StormReport } from './report.ts';

export interface SummaryExtras {
  /** The first detail line seen per failure class. */
  readonly failureDetails: ReadonlyMap<FailureClass, string>;
  readonly runNotes: readonly string[];
  /** Why there are no server figures, when there are none. */
  readonly serverProblem?: string;
  readonly metricsUrl: string | null;
}

const SERVER_FIGURE_LABELS: ReadonlyArray<readonly [string, string]> = [
  ['media_responses_total', 'responses'],
  ['media_resets_received_total', 'resets received'],
  ['media_session_rotations_total', 'session rotations'],
  ['media_pool_slabs_high_water', 'pool slabs high-water'],
  ['media_pool_slabs_in_use', 'pool slabs in use'],
  ['media_pool_premature_releases_total', 'premature releases'],
];

const LABEL_WIDTH = 17;

export function renderSummary(report: StormReport, extras: SummaryExtras): string {
  const s = report.settings;
  const lines: string[] = [];
  const row = (label: string, text: string): void => {
    lines.push(`  ${label.padEnd(LABEL_WIDTH)} ${text}`);
  };
  const more = (text: string): void => row('', text);
  const connections = `${s.connectionsPerViewer} connection${s.connectionsPerViewer === 1 ? '' : 's'}`;
  lines.push(`seekable-storm  ${s.profile}, ${s.viewers} viewers x ${connections}, ${formatDuration(report.elapsedMs)} (seed ${s.seed})`);
  for (const url of s.urls) lines.push(`  ${url}`);
  lines.push('');
  row('Viewers', `${formatBitrate(s.bitrateBps)} each; ${describeBehaviour(s.profile, s.seekIntervalMs)}`);
  const firstLoads = Math.min(s.viewers, report.seeksStarted);
  row(
    'Seeks',
    `${formatCount(report.seeksStarted)} started (${formatCount(firstLoads)} first loads + ${plural(report.seeksStarted - firstLoads, 'seek')}), ` +
      `${formatCount(report.seeksCompleted)} got their first byte (${report.seeksPerSec.toFixed(1)}/s)`,
  );
  const t = report.ttfbMs;
  if (t.count > 0) {
    row('TTFB', `p50 ${formatMs(t.p50)}   p90 ${formatMs(t.p90)}   p99 ${formatMs(t.p99)}   max ${formatMs(t.max)}`);
    more(histogramLine(report));
  } else row('TTFB', 'no seek got a first byte');
  row('Bytes received', `${formatBytes(report.bytesReceived)}, of which ${formatBytes(report.wastedBytes)} wasted (arrived after the tool cancelled)`);
  row('Goodput', `${formatRate(report.goodputBytesPerSec)} (all viewers, wasted bytes excluded)`);
  if (!s.verify) row('Verification', 'OFF: received bytes were NOT checked (add --verify)');
  else {
    row('Verification', `${formatBytes(report.bytesVerified)} compared with the reference, ${formatCount(report.corruptBytes)} corrupt bytes`);
    for (const c of report.corruptions.slice(0, 5)) {
      more(`corrupt: ${formatCount(c.bytes)} wrong byte(s) in one chunk, first at offset ${c.offset}, stream ${c.streamId}, ${c.url}`);
    }
    if (report.corruptions.length > 5) more(`... ${report.corruptions.length - 5} more listed in --json (first ${report.corruptions.length} kept)`);
  }
  row(
    'Connections',
    `${formatCount(report.connections)} opened, ${formatCount(report.gracefulGoaways)} graceful GOAWAY, ${formatCount(report.retries)} retries (unprocessed streams re-sent)`,
  );
  const failed = FAILURE_CLASSES.filter((c) => report.failures[c] > 0);
  if (failed.length === 0) row('Failures', 'none');
  for (const [i, cls] of failed.entries()) {
    const detail = extras.failureDetails.get(cls);
    row(i === 0 ? 'Failures' : '', `${cls.padEnd(16)} ${String(report.failures[cls]).padStart(7)}${detail ? `   first: ${detail}` : ''}`);
  }
  renderServer(report, extras, row, more);
  for (const note of extras.runNotes) row('Note', note);
  lines.push('');
  lines.push(report.ok ? 'Result: OK (no failures, no corrupt bytes)' : `Result: FAILED (${verdict(report)})`);
  return `${lines.join('\n')}\n`;
}

function histogramLine(report: StormReport): string {
  const { boundsMs, counts } = report.ttfbHistogram;
  const parts: string[] = [];
  counts.forEach((count, i) => {
    if (count === 0) return;
    const label = i < boundsMs.length ? `<=${boundsMs[i]}ms` : `>${boundsMs[boundsMs.length - 1]}ms`;
    parts.push(`${label} ${formatCount(count)}`);
  });
  return `histogram: ${parts.join(' | ')}`;
}

function renderServer(
  report: StormReport,
  extras: SummaryExtras,
  row: (label: string, text: string) => void,
  more: (text: string) => void,
): void {
  if (!report.server) {
    row('Server', extras.metricsUrl === null ? 'not scraped (--no-metrics)' : `no figures (${extras.serverProblem ?? 'not scraped'})`);
    return;
  }
  const { before, after } = report.server;
  row('Server', `${extras.metricsUrl ?? '/metrics'}: before -> after the run`);
  let shown = 0;
  for (const [name, label] of SERVER_FIGURE_LABELS) {
    if (!(name in before) && !(name in after)) continue;
    const b = before[name];
    const a = after[name];
    const delta = b !== undefined && a !== undefined ? `  (${a - b >= 0 ? '+' : ''}${formatCount(a - b)})` : '';
    more(`${label.padEnd(22)} ${fmt(b).padStart(9)} -> ${fmt(a).padStart(9)}${delta}`);
    shown++;
  }
  if (shown === 0) more('none of the media_* figures are exported by this server');
}

function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function fmt(value: number | undefined): string {
  return value === undefined ? '-' : formatCount(value);
}

function verdict(report: StormReport): string {
  const failures = FAILURE_CLASSES.reduce((sum, c) => sum + report.failures[c], 0);
  const parts = [`${formatCount(failures)} failure${failures === 1 ? '' : 's'}`];
  parts.push(`${formatCount(report.corruptBytes)} corrupt bytes`);
  return parts.join(', ');
}
