// The HTML storm report: one self-contained page, escaped strings, no NaN, charts that survive
// an empty run. Renders the realistic fixture to /tmp/storm-report.html for a look.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { escapeHtml, renderHtmlReport } from '../../loadtest/html-report.ts';
import { FAILURE_CLASSES } from '../../loadtest/report.ts';
import type { StormReport, TimelinePoint } from '../../loadtest/report.ts';

const EVIL_URL = 'https://media.test:8443/v/a&b.mp4?q=<script>alert("x")</script>';

function realistic(): StormReport {
  const timeline: TimelinePoint[] = [];
  for (let t = 0; t < 60; t++) {
    const seeks = t < 3 ? 40 * (t + 1) : 150 + Math.round(25 * Math.sin(t / 4));
    timeline.push({ t, seeks, failures: t === 17 ? 1 : t === 41 ? 3 : 0, retries: t === 30 ? 12 : t === 31 ? 2 : 0, bytes: seeks * 1_300_000 });
  }
  return {
    tool: 'seekable-storm',
    version: 1,
    startedAt: '2025-03-14T09:26:53.589Z',
    elapsedMs: 60_412,
    settings: {
      urls: [EVIL_URL, 'https://media.test:8443/v/big-buck-bunny-1080p.mp4'],
      profile: 'scrubbing',
      viewers: 200,
      connectionsPerViewer: 2,
      durationMs: 60_000,
      seekIntervalMs: 400,
      bitrateBps: 0,
      ttfbTimeoutMs: 5000,
      maxSeeks: 100_000,
      verify: true,
      seed: 1_234_567,
    },
    seeksStarted: 8_950,
    seeksCompleted: 8_921,
    seeksPerSec: 147.7,
    ttfbMs: { count: 8_921, p50: 3.42, p90: 11.8, p99: 47.5, max: 512.3 },
    ttfbHistogram: { boundsMs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], counts: [312, 2650, 3120, 1550, 780, 410, 60, 25, 9, 4, 1] },
    bytesReceived: 11_597_300_000,
    wastedBytes: 734_003_200,
    goodputBytesPerSec: 179_811_000,
    bytesVerified: 11_597_300_000,
    corruptBytes: 16_384,
    corruptions: [{ url: EVIL_URL, streamId: 4711, offset: 73_400_320, bytes: 16_384 }],
    retries: 14,
    gracefulGoaways: 3,
    connections: 406,
    failures: { 'server-reset': 0, 'goaway-error': 0, 'protocol-error': 0, timeout: 4, 'connection-error': 0, 'wrong-status': 0, corrupt: 1 },
    timeline,
    server: {
      before: { media_pool_slabs_high_water: 12, media_pool_slabs_in_use: 0, media_resets_received_total: 10, media_responses_total: 1500 },
      after: { media_pool_slabs_high_water: 64, media_pool_slabs_in_use: 2, media_resets_received_total: 8_010, media_responses_total: 10_450, media_session_rotations_total: 3 },
    },
    ok: false,
  };
}

function emptyish(): StormReport {
  const r = realistic();
  return {
    ...r,
    elapsedMs: 0,
    settings: { ...r.settings, urls: ['https://x.test/a.mp4'], verify: false, bitrateBps: 4_000_000 },
    seeksStarted: 0,
    seeksCompleted: 0,
    seeksPerSec: 0,
    ttfbMs: { count: 0, p50: 0, p90: 0, p99: 0, max: 0 },
    ttfbHistogram: { boundsMs: [1, 10, 100], counts: [0, 0, 0, 0] },
    bytesReceived: 0,
    wastedBytes: 0,
    goodputBytesPerSec: 0,
    bytesVerified: 0,
    corruptBytes: 0,
    corruptions: [],
    retries: 0,
    gracefulGoaways: 0,
    connections: 0,
    failures: { 'server-reset': 0, 'goaway-error': 0, 'protocol-error': 0, timeout: 0, 'connection-error': 0, 'wrong-status': 0, corrupt: 0 },
    timeline: [],
    server: undefined,
    ok: true,
  };
}

/** Every non-void element closed, in order (catches broken markup from a bad template). */
function assertBalanced(html: string): void {
  const stack: string[] = [];
  const body = html.replace(/<style>[\s\S]*?<\/style>/, '');
  for (const [, close, name, selfClosing] of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)\b[^>]*?(\/?)>/g)) {
    if (selfClosing || ['meta', 'br'].includes(name)) continue;
    if (!close) stack.push(name);
    else assert.equal(stack.pop(), name, `</${name}> closes the open element`);
  }
  assert.deepEqual(stack, [], 'all elements closed');
}

function checkCommon(html: string): void {
  assertBalanced(html);
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok((html.match(/<svg\b/g) ?? []).length >= 3, 'at least three charts');
  for (const bad of ['NaN', 'undefined', 'Infinity']) assert.ok(!html.includes(bad), `no ${bad}`);
  for (const cls of FAILURE_CLASSES) assert.ok(html.includes(`<code>${cls}</code>`), `class ${cls} listed`);
  assert.ok(!/<script\b/i.test(html), 'no script element');
  assert.ok(!/\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\//i.test(html), 'no external resources');
  assert.ok(!/@import|url\(/i.test(html), 'no external CSS');
  assert.ok(html.trimEnd().endsWith('</html>'));
}

describe('renderHtmlReport', () => {
  it('renders a failed realistic run with escaped URLs, charts and server deltas', () => {
    const html = renderHtmlReport(realistic());
    writeFileSync('/tmp/storm-report.html', html);
    checkCommon(html);
    assert.match(html, /class="badge bad">FAILED</);
    assert.match(html, /16\.0 KiB corrupt, timeout × 4, corrupt × 1/);
    assert.ok(!html.includes('<script>alert'), 'URL never raw');
    assert.ok(!html.includes('a&b.mp4'), 'ampersand escaped');
    assert.ok(html.includes(escapeHtml(EVIL_URL)));
    assert.ok(html.includes('a&amp;b.mp4?q=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
    assert.match(html, /<tr class="hit"><td><code>timeout<\/code>.*?<td class="num">4<\/td>/);
    assert.match(html, /<tr class=""><td><code>server-reset<\/code>.*?<td class="num">0<\/td>/);
    assert.match(html, /media_resets_received_total<\/code><\/td><td class="num">10<\/td><td class="num">8,010<\/td><td class="num changed">\+8,000</);
    assert.match(html, /media_session_rotations_total<\/code><\/td><td class="num">—<\/td><td class="num">3<\/td><td class="num muted">—</);
    assert.match(html, /4,711<\/td><td class="num">73,400,320<\/td>/);
    assert.ok(html.includes('>max<'), 'bitrate 0 shows max');
    assert.ok(html.includes('179.81 MB/s'));
    assert.ok(html.includes('3.42 ms') && html.includes('47.5 ms') && html.includes('512 ms'));
    assert.ok(html.includes('&gt;1 s'), 'last histogram bucket labelled > last bound');
    assert.ok(html.includes('2025-03-14 09:26:53 UTC'));
  });

  it('renders an empty run: OK badge, flat charts, no server figures', () => {
    const html = renderHtmlReport(emptyish());
    checkCommon(html);
    assert.match(html, /class="badge ok">OK</);
    assert.ok(!html.includes('FAILED'));
    assert.ok(html.includes('Server metrics not available.'));
    assert.ok(html.includes('no failures, no retries'));
    assert.ok(html.includes('no timeline recorded'));
    assert.ok(html.includes('4.0 Mbit/s'));
    assert.ok(html.includes('Verification was off'));
  });

  it('escapes every HTML-special character', () => {
    assert.equal(escapeHtml(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  });

  it('survives non-finite numbers and a failed run without a recorded reason', () => {
    const r = { ...emptyish(), ok: false, seeksPerSec: Number.NaN, goodputBytesPerSec: Number.POSITIVE_INFINITY, timeline: [{ t: 0, seeks: 0, failures: 0, retries: 0, bytes: 0 }] };
    const html = renderHtmlReport(r);
    checkCommon(html);
    assert.ok(html.includes('run marked as failed'));
  });
});
