// The storm report as one self-contained HTML page: inline CSS, inline SVG charts drawn here,
// no scripts and no external resources. Every string from the report is escaped; every number
// goes through a formatter that never prints NaN or Infinity.

import { FAILURE_CLASSES } from './report.ts';
import type { FailureClass, StormReport, TimelinePoint } from './report.ts';

const FAILURE_MEANING: Record<FailureClass, string> = {
  'server-reset': 'RST_STREAM from the server (not REFUSED_STREAM)',
  'goaway-error': 'GOAWAY with a non-zero error code',
  'protocol-error': 'session or stream failed with a protocol error',
  timeout: 'no first byte within the TTFB timeout',
  'connection-error': 'connect failed, socket reset, TLS error',
  'wrong-status': 'unexpected status or Content-Range',
  corrupt: 'streams carrying bytes that differ from the reference',
};

const COLOR = { accent: '#2563eb', ok: '#16a34a', bad: '#dc2626', warn: '#d97706', grid: '#e2e8f0', axis: '#94a3b8', text: '#475569' };

// ---- formatting ----------------------------------------------------------------------------

export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const fin = (x: number): number => (Number.isFinite(x) ? x : 0);
const maxOf = (values: readonly number[]): number => values.reduce((m, v) => Math.max(m, fin(v)), 0);

function fmtNum(x: number, digits = 0): string {
  return fin(x).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtMs(ms: number): string {
  const v = fin(ms);
  if (v >= 10_000) return `${fmtNum(v / 1000, 1)} s`;
  return `${fmtNum(v, v < 10 ? 2 : v < 100 ? 1 : 0)} ms`;
}

function fmtBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = fin(bytes);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${fmtNum(v)} B` : `${fmtNum(v, Math.abs(v) < 10 ? 2 : 1)} ${units[i]}`;
}

const fmtRate = (bytesPerSec: number): string => `${fmtNum(fin(bytesPerSec) / 1e6, 2)} MB/s`;

function fmtDuration(ms: number): string {
  const s = fin(ms) / 1000;
  if (s < 60) return `${fmtNum(s, s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${fmtNum(s - m * 60)} s`;
}

function fmtTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function fmtBitrate(bps: number): string {
  const v = fin(bps);
  if (v === 0) return 'max';
  return v >= 1e6 ? `${fmtNum(v / 1e6, 1)} Mbit/s` : `${fmtNum(v / 1e3, 1)} kbit/s`;
}

/** Short tick labels: 1500 -> 1.5k. */
function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

// ---- svg helpers ---------------------------------------------------------------------------

const W = 640, H = 280;
const PAD = { left: 58, right: 18, top: 40, bottom: 48 };
const PW = W - PAD.left - PAD.right, PH = H - PAD.top - PAD.bottom;

/** Smallest 1/2/5 x 10^n step giving at most `count` intervals up to max (whole steps once
 *  max >= 1, so counts never get fractional ticks); max 0 -> 1. */
function niceScale(max: number, count = 5): { max: number; step: number } {
  const m = fin(max) > 0 ? max : 1;
  const raw = m / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 5, 10].map((f) => f * pow).find((s) => s >= raw) ?? 10 * pow;
  const step = m >= 1 ? Math.max(nice, 1) : nice;
  return { max: Math.ceil(m / step - 1e-9) * step, step };
}

const r1 = (v: number): string => `${Math.round(fin(v) * 10) / 10}`;

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${r1(x)}" y="${r1(y)}" ${attrs}>${escapeHtml(s)}</text>`;
}

interface Frame {
  readonly title: string;
  readonly yLabel: string;
  readonly xLabel: string;
  readonly yMax: number;
  readonly xTicks: readonly { readonly x: number; readonly label: string }[]; // x in plot pixels
  readonly body: string;
  readonly legend?: readonly { readonly color: string; readonly label: string }[];
  readonly note?: string;
}

/** A titled chart: y grid with tick labels, x tick labels, axis titles, legend, then the body. */
function chart(f: Frame): string {
  const { max, step } = niceScale(f.yMax);
  const parts: string[] = [];
  for (let v = 0; v <= max + step / 2; v += step) {
    const y = PAD.top + PH - (v / max) * PH;
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${r1(y)}" y2="${r1(y)}" stroke="${COLOR.grid}"/>`);
    parts.push(text(PAD.left - 6, y + 4, fmtTick(v), 'text-anchor="end"'));
  }
  for (const t of f.xTicks) {
    const x = PAD.left + t.x;
    parts.push(`<line x1="${r1(x)}" x2="${r1(x)}" y1="${PAD.top + PH}" y2="${PAD.top + PH + 4}" stroke="${COLOR.axis}"/>`);
    parts.push(text(x, PAD.top + PH + 16, t.label, 'text-anchor="middle"'));
  }
  const legend = (f.legend ?? []).map((l, i) => {
    const x = W - PAD.right - (f.legend!.length - i) * 96;
    return `<rect x="${x}" y="14" width="10" height="10" rx="2" fill="${l.color}"/>${text(x + 14, 23, l.label)}`;
  });
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(f.title)}" font-size="11" fill="${COLOR.text}">
${text(PAD.left, 22, f.title, 'font-size="14" font-weight="600" fill="#0f172a"')}${legend.join('')}
${parts.join('')}
<g>${f.body}</g>
<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + PH}" y2="${PAD.top + PH}" stroke="${COLOR.axis}"/>
<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + PH}" stroke="${COLOR.axis}"/>
${text(PAD.left + PW / 2, H - 8, f.xLabel, 'text-anchor="middle"')}
${text(14, PAD.top + PH / 2, f.yLabel, `text-anchor="middle" transform="rotate(-90 14 ${PAD.top + PH / 2})"`)}
${f.note ? text(PAD.left + PW / 2, PAD.top + PH / 2, f.note, 'text-anchor="middle" font-size="13"') : ''}
</svg>`;
}

/** Pixel y of value v on a chart whose data maximum is yMax (the axis runs to its nice max). */
function yOf(v: number, yMax: number): number {
  return PAD.top + PH - (fin(v) / niceScale(yMax).max) * PH;
}

/** Bar height in pixels; non-zero values get at least minPx so a single event stays visible. */
function barHeight(v: number, yMax: number, minPx: number): number {
  return fin(v) > 0 ? Math.max(minPx, PAD.top + PH - yOf(v, yMax)) : 0;
}

/** A bar from `lift` pixels above the x axis (for stacking), with a hover tooltip. */
function bar(x: number, w: number, v: number, yMax: number, color: string, tip: string, minPx = 0, lift = 0): string {
  const h = barHeight(v, yMax, minPx);
  return h > 0 ? `<rect x="${r1(PAD.left + x)}" y="${r1(PAD.top + PH - lift - h)}" width="${r1(Math.max(w, 1))}" height="${r1(h)}" fill="${color}"><title>${escapeHtml(tip)}</title></rect>` : '';
}

function line(points: readonly [number, number][], yMax: number, color: string, fillArea: boolean): string {
  if (points.length === 0) return '';
  const xy = points.map(([x, v]) => `${r1(PAD.left + x)},${r1(yOf(v, yMax))}`);
  const base = PAD.top + PH;
  const area = fillArea && points.length > 1 ? `<path d="M${r1(PAD.left + points[0][0])},${base}L${xy.join('L')}L${r1(PAD.left + points[points.length - 1][0])},${base}Z" fill="${color}" fill-opacity="0.12"/>` : '';
  const dot = points.length === 1 ? `<circle cx="${r1(PAD.left + points[0][0])}" cy="${r1(yOf(points[0][1], yMax))}" r="3" fill="${color}"/>` : '';
  return `${area}<path d="M${xy.join('L')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>${dot}`;
}

/** Time axis over the timeline: span in seconds, tick positions in plot pixels. */
function timeAxis(timeline: readonly TimelinePoint[]): { span: number; xOf: (t: number) => number; ticks: { x: number; label: string }[] } {
  const span = Math.max(1, maxOf(timeline.map((p) => p.t + 1)));
  const { step } = niceScale(span, 8);
  const xOf = (t: number): number => (fin(t) / span) * PW;
  const ticks: { x: number; label: string }[] = [];
  for (let t = 0; t <= span + 1e-9; t += step) ticks.push({ x: xOf(t), label: `${fmtTick(t)} s` });
  return { span, xOf, ticks };
}

// ---- charts --------------------------------------------------------------------------------

const sortedTimeline = (r: StormReport): TimelinePoint[] => [...r.timeline].sort((a, b) => fin(a.t) - fin(b.t));

function ttfbChart(r: StormReport): string {
  const { boundsMs, counts } = r.ttfbHistogram;
  const n = counts.length;
  const yMax = maxOf(counts);
  const slot = PW / Math.max(n, 1);
  const every = Math.ceil(n / 12);
  const last = boundsMs.length - 1;
  // Bucket i holds TTFBs up to boundsMs[i]; the one after the last bound is open-ended.
  const bucket = (i: number, fmt: (ms: number) => string): string => (last < 0 ? 'all' : i <= last ? `≤${fmt(boundsMs[i])}` : `>${fmt(boundsMs[last])}`);
  const tick = (ms: number): string => (ms >= 1000 ? `${+(ms / 1000).toFixed(2)} s` : `${+fin(ms).toFixed(2)}`);
  const body = counts.map((c, i) => {
    const value = n <= 16 && fin(c) > 0 ? text(PAD.left + (i + 0.5) * slot, PAD.top + PH - barHeight(c, yMax, 2) - 4, fmtTick(c), 'text-anchor="middle" font-size="10"') : '';
    const tip = `TTFB ${bucket(i, fmtMs)}: ${fmtNum(c)} seek${c === 1 ? '' : 's'}`;
    return bar(i * slot + slot * 0.12, slot * 0.76, c, yMax, COLOR.accent, tip, 2) + value;
  }).join('');
  // Labels counted back from the last bucket, so the open-ended one is always named.
  const ticks = counts.map((_, i) => ({ x: (i + 0.5) * slot, label: bucket(i, tick) })).filter((_, i) => (n - 1 - i) % every === 0);
  return chart({ title: 'Time to first byte', yLabel: 'seeks', xLabel: 'TTFB bucket (ms, upper bound)', yMax, xTicks: ticks, body, note: yMax === 0 ? 'no seeks measured' : undefined });
}

function seeksChart(r: StormReport): string {
  const ax = timeAxis(r.timeline);
  const timeline = sortedTimeline(r);
  const yMax = maxOf(timeline.map((p) => p.seeks));
  const body = line(timeline.map((p) => [ax.xOf(p.t + 0.5), p.seeks]), yMax, COLOR.accent, true);
  return chart({ title: 'Seeks per second', yLabel: 'seeks/s', xLabel: 'time since start (s)', yMax, xTicks: ax.ticks, body, note: r.timeline.length === 0 ? 'no timeline recorded' : undefined });
}

function failuresChart(r: StormReport): string {
  const ax = timeAxis(r.timeline);
  const yMax = maxOf(r.timeline.map((p) => fin(p.failures) + fin(p.retries)));
  const slot = PW / ax.span;
  const w = Math.min(Math.max(slot - 1, 1), 24);
  const body = r.timeline.map((p) => {
    const x = ax.xOf(p.t) + (slot - w) / 2;
    const fail = bar(x, w, p.failures, yMax, COLOR.bad, `${fmtTick(p.t)} s: ${fmtNum(p.failures)} failures`, 3);
    const lift = barHeight(p.failures, yMax, 3);
    return fail + bar(x, w, p.retries, yMax, COLOR.warn, `${fmtTick(p.t)} s: ${fmtNum(p.retries)} retries`, 3, lift);
  }).join('');
  const none = yMax === 0 ? `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + PH}" y2="${PAD.top + PH}" stroke="${COLOR.ok}" stroke-width="3"/>` : '';
  return chart({ title: 'Failures and retries', yLabel: 'per second', xLabel: 'time since start (s)', yMax, xTicks: ax.ticks, body: body + none,
    legend: [{ color: COLOR.bad, label: 'failures' }, { color: COLOR.warn, label: 'retries' }], note: yMax === 0 ? 'no failures, no retries' : undefined });
}

function bytesChart(r: StormReport): string {
  const ax = timeAxis(r.timeline);
  const timeline = sortedTimeline(r);
  const yMax = maxOf(timeline.map((p) => p.bytes / 1e6));
  const body = line(timeline.map((p) => [ax.xOf(p.t + 0.5), fin(p.bytes) / 1e6]), yMax, COLOR.ok, true);
  return chart({ title: 'Bytes received per second', yLabel: 'MB/s', xLabel: 'time since start (s)', yMax, xTicks: ax.ticks, body, note: r.timeline.length === 0 ? 'no timeline recorded' : undefined });
}

// ---- sections ------------------------------------------------------------------------------

function failureReason(r: StormReport): string {
  const parts: string[] = [];
  if (r.corruptBytes > 0) parts.push(`${fmtBytes(r.corruptBytes)} corrupt`);
  for (const cls of FAILURE_CLASSES) if (fin(r.failures[cls]) > 0) parts.push(`${cls} × ${fmtNum(r.failures[cls])}`);
  return parts.length > 0 ? parts.join(', ') : 'run marked as failed';
}

function header(r: StormReport): string {
  const badge = r.ok ? '<span class="badge ok">OK</span>' : `<span class="badge bad">FAILED</span><span class="reason">${escapeHtml(failureReason(r))}</span>`;
  return `<header><div><h1>${escapeHtml(r.tool)} <small>report v${fmtNum(r.version)}</small></h1>
<p class="muted">Started ${escapeHtml(fmtTime(r.startedAt))} · ran ${escapeHtml(fmtDuration(r.elapsedMs))}</p></div><div class="verdict">${badge}</div></header>`;
}

function settings(r: StormReport): string {
  const s = r.settings;
  const rows: [string, string][] = [
    ['URLs', s.urls.map((u) => `<code>${escapeHtml(u)}</code>`).join('<br>') || '—'],
    ['Profile', escapeHtml(s.profile)],
    ['Viewers', fmtNum(s.viewers)],
    ['Connections per viewer', fmtNum(s.connectionsPerViewer)],
    ['Duration', fmtDuration(s.durationMs)],
    ['Seek interval (mean)', s.seekIntervalMs === 0 ? 'none: each seek follows the last read at once' : fmtMs(s.seekIntervalMs)],
    ['Bitrate', fmtBitrate(s.bitrateBps)],
    ['TTFB timeout', fmtMs(s.ttfbTimeoutMs)],
    ['Max seeks', fmtNum(s.maxSeeks)],
    ['Verification', s.verify ? 'on' : 'off'],
    ['Seed', String(fin(s.seed))],
  ];
  return `<section><h2>Settings</h2><dl class="settings">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl></section>`;
}

function card(label: string, value: string, sub = '', tone = ''): string {
  return `<div class="card ${tone}"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div>${sub ? `<div class="sub">${escapeHtml(sub)}</div>` : ''}</div>`;
}

function cards(r: StormReport): string {
  const t = r.ttfbMs;
  const failures = FAILURE_CLASSES.reduce((sum, c) => sum + fin(r.failures[c]), 0);
  return `<section><h2>Key figures</h2><div class="cards">
${card('Seeks completed', fmtNum(r.seeksCompleted), `of ${fmtNum(r.seeksStarted)} started`)}
${card('Seeks / s', fmtNum(r.seeksPerSec, 1))}
${card('TTFB p50', fmtMs(t.p50), `${fmtNum(t.count)} samples`)}
${card('TTFB p90', fmtMs(t.p90))}
${card('TTFB p99', fmtMs(t.p99))}
${card('TTFB max', fmtMs(t.max))}
${card('Goodput', fmtRate(r.goodputBytesPerSec), `${fmtBytes(r.bytesReceived)} received`)}
${card('Wasted bytes', fmtBytes(r.wastedBytes), 'after cancel')}
${card('Bytes verified', r.settings.verify ? fmtBytes(r.bytesVerified) : 'off', r.settings.verify ? '' : 'verification disabled')}
${card('Corrupt bytes', fmtBytes(r.corruptBytes), '', r.corruptBytes > 0 ? 'bad' : 'good')}
${card('Failures', fmtNum(failures), 'all classes', failures > 0 ? 'bad' : 'good')}
${card('Retries', fmtNum(r.retries), 'refused / above GOAWAY', r.retries > 0 ? 'warn' : '')}
${card('Graceful GOAWAYs', fmtNum(r.gracefulGoaways))}
${card('Connections', fmtNum(r.connections))}
</div></section>`;
}

function failures(r: StormReport): string {
  const rows = FAILURE_CLASSES.map((c) => {
    const n = fin(r.failures[c]);
    return `<tr class="${n > 0 ? 'hit' : ''}"><td><code>${escapeHtml(c)}</code></td><td class="muted">${escapeHtml(FAILURE_MEANING[c])}</td><td class="num">${fmtNum(n)}</td></tr>`;
  }).join('');
  const corrupt = r.corruptions.length === 0
    ? `<p class="muted">${r.settings.verify ? 'No corrupt bytes seen.' : 'Verification was off: bytes were not checked.'}</p>`
    : `<table><thead><tr><th>URL</th><th class="num">Stream</th><th class="num">Offset</th><th class="num">Bytes</th></tr></thead><tbody>${r.corruptions.map((c) =>
      `<tr class="hit"><td><code>${escapeHtml(c.url)}</code></td><td class="num">${fmtNum(c.streamId)}</td><td class="num">${fmtNum(c.offset)}</td><td class="num">${fmtNum(c.bytes)}</td></tr>`).join('')}</tbody></table>`;
  return `<section class="two"><div><h2>Failures by class</h2><table><thead><tr><th>Class</th><th>Meaning</th><th class="num">Count</th></tr></thead><tbody>${rows}</tbody></table></div>
<div><h2>First corruptions</h2>${corrupt}</div></section>`;
}

function server(r: StormReport): string {
  if (!r.server) return `<section><h2>Server metrics</h2><p class="muted">Server metrics not available.</p></section>`;
  const { before, after } = r.server;
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const cell = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '—' : fmtNum(v, Number.isInteger(v) ? 0 : 2));
  const rows = names.map((k) => {
    const b = before[k], a = after[k];
    const d = b !== undefined && a !== undefined ? fin(a) - fin(b) : undefined;
    const delta = d === undefined ? '—' : `${d > 0 ? '+' : ''}${cell(d)}`;
    return `<tr><td><code>${escapeHtml(k)}</code></td><td class="num">${cell(b)}</td><td class="num">${cell(a)}</td><td class="num ${d ? 'changed' : 'muted'}">${delta}</td></tr>`;
  }).join('');
  return `<section><h2>Server metrics</h2>${names.length === 0 ? '<p class="muted">The server reported none of the figures.</p>'
    : `<table><thead><tr><th>Metric</th><th class="num">Before</th><th class="num">After</th><th class="num">Δ</th></tr></thead><tbody>${rows}</tbody></table>`}</section>`;
}

const CSS = `
*{box-sizing:border-box}body{margin:0;background:#f1f5f9;color:#0f172a;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:24px}
header{display:flex;flex-wrap:wrap;gap:16px;justify-content:space-between;align-items:center;background:#0f172a;color:#f8fafc;border-radius:12px;padding:20px 24px}
header .muted{color:#94a3b8;margin:4px 0 0}h1{margin:0;font-size:24px}h1 small{font-size:13px;font-weight:400;color:#94a3b8}
.verdict{display:flex;align-items:center;gap:12px;flex-wrap:wrap}.reason{color:#fecaca;max-width:520px}
.badge{font-weight:700;letter-spacing:.06em;padding:6px 16px;border-radius:999px;font-size:16px}.badge.ok{background:#16a34a}.badge.bad{background:#dc2626}
section{background:#fff;border:1px solid #e2e8f0;border-radius:12px;padding:16px 20px;margin-top:16px}
h2{font-size:15px;margin:0 0 12px;color:#334155;text-transform:uppercase;letter-spacing:.05em}
.muted{color:#64748b}code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.settings{display:grid;grid-template-columns:max-content 1fr;gap:4px 20px;margin:0}.settings dt{color:#64748b}.settings dd{margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:12px}
.card{border:1px solid #e2e8f0;border-left:4px solid #2563eb;border-radius:8px;padding:10px 12px;background:#f8fafc}
.card.good{border-left-color:#16a34a}.card.bad{border-left-color:#dc2626;background:#fef2f2}.card.warn{border-left-color:#d97706;background:#fffbeb}
.card .label{font-size:12px;color:#64748b}.card .value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}.card .sub{font-size:12px;color:#64748b}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:24px}
table{border-collapse:collapse;width:100%}th,td{padding:6px 10px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{font-size:12px;color:#64748b;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
tr.hit td{background:#fef2f2;color:#991b1b;font-weight:600}td.changed{color:#1d4ed8;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:16px}
.chart{width:100%;height:auto;display:block;border:1px solid #e2e8f0;border-radius:8px;background:#fff}
footer{color:#94a3b8;font-size:12px;text-align:center;margin:16px 0}
@media print{body{background:#fff}section{break-inside:avoid}}`;

/** The whole report as one HTML document with no external resources. */
export function renderHtmlReport(report: StormReport): string {
  const title = `${report.tool} ${report.ok ? 'OK' : 'FAILED'} · ${fmtTime(report.startedAt)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><main>
${header(report)}
${settings(report)}
${cards(report)}
${failures(report)}
<section><h2>Charts</h2><div class="charts">
${ttfbChart(report)}
${seeksChart(report)}
${failuresChart(report)}
${bytesChart(report)}
</div></section>
${server(report)}
<footer>Generated by ${escapeHtml(report.tool)} · report format v${fmtNum(report.version)}</footer>
</main></body></html>
`;
}
