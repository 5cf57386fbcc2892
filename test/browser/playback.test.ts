// The player demo in a real browser: Debian's Chromium, headless, driven by playwright-core,
// over HTTPS + HTTP/2 (the test server's self-signed certificate accepted). It plays the WebM
// and the MP4 sample and runs the page's own seek storm on each for 20 s, then checks what a
// viewer and the server would see: every completed seek moved playback on (or was replaced by
// the next storm seek first), no media error, no request failed except as a cancel
// (ERR_ABORTED: never ERR_HTTP2_PROTOCOL_ERROR), h2 throughout, the server counted resets
// and refused nothing, and every slab is back once the page is closed. A screenshot of each
// storm, mid-way, goes to test-output/browser/. Skipped where Chromium is not installed.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, makeStormLibrary, openBrowser, STORM_FILES, stormThroughPage, unexpectedFailures } from '../support/browser.ts';
import type { StormFigures } from '../support/browser.ts';
import type { Page } from 'playwright-core';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { slowOpen } from '../support/slow-storage.ts';

const OUTPUT_DIR = path.resolve('test-output/browser');
const STORM = { ratePerSec: 4, durationSec: 20 };

describe('player demo in Chromium (HTTPS + HTTP/2)', { skip: chromiumMissing() }, () => {
  let library: Awaited<ReturnType<typeof makeStormLibrary>>;
  let server: TestServer;
  before(async () => {
    library = await makeStormLibrary();
    server = await startTestServer(library.root);
    await mkdir(OUTPUT_DIR, { recursive: true });
  });
  after(async () => {
    await server?.close(0);
    await library?.remove();
  });

  it(`plays the WebM and the MP4 through a ${STORM.durationSec} s seek storm each: clean in the browser and on the server`, async () => {
    const browser = await openBrowser();
    const figures = new Map<string, StormFigures>();
    try {
      for (const file of STORM_FILES) {
        const screenshotPath = path.join(OUTPUT_DIR, `storm-${path.extname(file).slice(1)}.png`);
        const result = await stormThroughPage(browser.page, server.tlsUrl, file, { ...STORM, screenshotPath });
        figures.set(file, result);
        console.log(`# ${file}: ${JSON.stringify(result)} screenshot ${screenshotPath}`);
        assertPlayedThroughStorm(file, result);
        await assertHttp2AndSafariProbe(browser.page, file);
      }
    } finally {
      await browser.close();
    }

    const failures = unexpectedFailures(browser.failedRequests);
    console.log(`# failed requests: ${browser.failedRequests.length}, other than ERR_ABORTED: ${failures.length}`);
    assert.deepEqual(failures, [], 'only cancelled loads (ERR_ABORTED) may fail');
    assert.deepEqual(browser.pageErrors, [], 'the page threw nothing');
    assert.ok(browser.failedRequests.length > 0, 'the storm cancelled loads');

    // The page is closed: every slab and descriptor comes back.
    await assertNoLeaks(server);
    const metrics = await server.metrics.registry.metrics();
    assert.match(metrics, /^media_pool_slabs_in_use 0$/m);
    const resets = Number(/^media_resets_received_total (\d+)/m.exec(metrics)?.[1]);
    const stats = await liveStats(server);
    console.log(`# server: resets received ${resets}, /api/stats cluster ${JSON.stringify(stats.cluster)}`);
    assert.ok(resets > 0, 'the storm cancelled streams the server was sending');
    assert.equal(stats.cluster.refusedStreams, 0, 'no stream or connection refused');
    assert.deepEqual(server.logLines.filter((l) => (l.level as number) >= 50), [], 'a browser storm logs no errors');
  });

  it('negative control: a server that takes 12 s to answer each range fails the same checks (the last seek is stuck)', async () => {
    // 12 s: longer than the page's 5 s "stuck" verdict even for a seek made 2 s after the first
    // request for its position went out.
    const slow = await startTestServer(library.root, {}, { decorateStorage: slowOpen(12_000) });
    const browser = await openBrowser();
    try {
      // Every storm seek goes to 90% of the file, far past what the first answer buffered: with
      // random targets the last seek could land in buffered data, need no request, and advance.
      await browser.page.addInitScript(() => {
        Math.random = () => 0.9;
      });
      // The MP4 (moov first) starts after one answer; the WebM would wait for a second (its Cues).
      const started = Date.now();
      const result = await stormThroughPage(browser.page, slow.tlsUrl, STORM_FILES[1], { ratePerSec: 4, durationSec: 2 });
      console.log(`# negative control (12 s per answer, ${Date.now() - started} ms): ${JSON.stringify(result)}`);
      assert.equal(result.finalPhase, 'stuck');
      assert.throws(() => assertPlayedThroughStorm(STORM_FILES[1], result, 2), assert.AssertionError);
    } finally {
      await browser.close();
      await slow.close(0);
    }
  });
});

/** Every completed seek advanced or was replaced by the next seek; the last one advanced; playback runs. */
function assertPlayedThroughStorm(file: string, f: StormFigures, durationSec = STORM.durationSec): void {
  assert.equal(f.videoError, null, `${file}: video.error`);
  assert.equal(f.errorShown, 'none', `${file}: the page shows no media error`);
  assert.ok(f.issued >= (STORM.ratePerSec * durationSec) / 2, `${file}: the storm issued its seeks (${f.issued})`);
  assert.ok(f.completed > 0 && f.advanced > 0, `${file}: seeks completed and playback advanced after them`);
  assert.equal(f.stuck, 0, `${file}: no seek stuck without progress`);
  assert.equal(f.finalPhase, 'advanced', `${file}: playback advanced after the last seek`);
  assert.equal(f.advanced + f.superseded, f.completed, `${file}: every completed seek advanced or was replaced by the next one`);
  assert.ok(f.timeAfter[1] > f.timeAfter[0], `${file}: playback moves on after the storm (${f.timeAfter.join(' -> ')})`);
}

/** The page and every media load went over h2; Safari's `bytes=0-1` probe gets two bytes and the length. */
async function assertHttp2AndSafariProbe(page: Page, file: string): Promise<void> {
  // Evaluated in the page from a string: the tests' TypeScript has no DOM types.
  const protocols: { name: string; protocol: string }[] = await page.evaluate(
    `[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .map((e) => ({ name: e.name, protocol: e.nextHopProtocol }))`,
  );
  assert.equal(protocols[0]?.protocol, 'h2', 'the page loaded over h2');
  for (const entry of protocols) if (entry.protocol) assert.equal(entry.protocol, 'h2', entry.name);
  const probe = await page.evaluate(async (url) => {
    const res = await fetch(url, { headers: { range: 'bytes=0-1' }, cache: 'no-store' });
    const body = await res.arrayBuffer();
    return { status: res.status, contentRange: res.headers.get('content-range'), bytes: body.byteLength };
  }, `/media/${file}`);
  assert.equal(probe.status, 206, `${file}: bytes=0-1`);
  assert.match(probe.contentRange ?? '', /^bytes 0-1\/\d+$/);
  assert.equal(probe.bytes, 2);
}

interface LiveStats {
  readonly cluster: { readonly resetsReceived: number; readonly refusedStreams: number; readonly slabsInUse: number };
}

async function liveStats(server: TestServer): Promise<LiveStats> {
  const session = connectH2(server, 'tls');
  try {
    const res = await h2Request(session, { ':path': '/api/stats' });
    assert.equal(res.status, 200, 'GET /api/stats');
    return JSON.parse(res.body.toString('utf8')) as LiveStats;
  } finally {
    session.close();
  }
}
