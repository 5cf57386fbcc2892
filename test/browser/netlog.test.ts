// The browser storm seen from Chrome's own network log (--log-net-log): how many RST_STREAM
// frames Chrome sent (each a seek that cancelled a load) and which GOAWAY frames it received.
// A GOAWAY with any code but NO_ERROR is what Chrome reports as ERR_HTTP2_PROTOCOL_ERROR: there
// must be none, nor a connection that ended with a network error. Negative control: with the
// session guard off and a 10-reset budget (refilled at 1/s), nghttp2 ends connections with
// GOAWAY(INTERNAL_ERROR) mid-storm, and the same reading must see them. The log parsing itself
// is tested on a synthetic log in test/unit/net-log.test.ts. Skipped where Chromium is not
// installed.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, makeStormLibrary, openBrowser, STORM_FILES, stormThroughPage, unexpectedFailures } from '../support/browser.ts';
import type { StormFigures } from '../support/browser.ts';
import { readNetLogHttp2 } from '../support/net-log.ts';
import type { NetLogHttp2Summary } from '../support/net-log.ts';
import { assertNoLeaks, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

const REFUSING_CODES = /REFUSED_STREAM|ENHANCE_YOUR_CALM|PROTOCOL_ERROR|INTERNAL_ERROR/;

interface LoggedStorm {
  readonly figures: StormFigures;
  readonly netLog: NetLogHttp2Summary;
  readonly failedRequests: readonly string[];
}

/** The page's seek storm on the WebM, with Chrome writing its net log; the log read after exit. */
async function stormWithNetLog(server: TestServer, storm: { ratePerSec: number; durationSec: number }): Promise<LoggedStorm> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'netlog-'));
  const netLogPath = path.join(dir, 'netlog.json');
  try {
    const browser = await openBrowser({ netLogPath });
    let figures: StormFigures;
    try {
      figures = await stormThroughPage(browser.page, server.tlsUrl, STORM_FILES[0], storm);
    } finally {
      await browser.close(); // Chrome finishes the log file on exit
    }
    return { figures, netLog: await readNetLogHttp2(netLogPath), failedRequests: browser.failedRequests };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('seek storm in Chromium, read from its net log', { skip: chromiumMissing() }, () => {
  let library: Awaited<ReturnType<typeof makeStormLibrary>>;
  before(async () => {
    library = await makeStormLibrary();
  });
  after(() => library?.remove());

  it('Chrome sends RST_STREAM for its cancelled seeks and receives no GOAWAY with an error code', async () => {
    const server = await startTestServer(library.root);
    try {
      const run = await stormWithNetLog(server, { ratePerSec: 4, durationSec: 20 });
      console.log(`# net log: ${JSON.stringify(run.netLog)}; page: ${JSON.stringify(run.figures)}`);
      assert.ok(run.netLog.rstStreamsSent > 0, 'the storm made Chrome cancel streams');
      assert.equal(run.netLog.goawayErrors, 0, `GOAWAYs received: ${run.netLog.goawaysReceived.join(', ')}`);
      assert.equal(run.netLog.sessionErrors, 0, 'no HTTP/2 connection ended with a network error');
      const refusals = Object.keys(run.netLog.rstStreamsReceived).filter((code) => REFUSING_CODES.test(code));
      assert.deepEqual(refusals, [], 'no stream reset by the server as refused or as an error');
      assert.deepEqual(unexpectedFailures(run.failedRequests), []);
      assert.equal(run.figures.videoError, null);
      assert.equal(run.figures.finalPhase, 'advanced');
      await assertNoLeaks(server);
    } finally {
      await server.close(0);
    }
  });

  it('negative control: session guard off, 10 resets allowed: the net log shows the connections nghttp2 ended', async () => {
    const server = await startTestServer(
      library.root,
      // No client penalty: Chrome reconnects and each new connection meets the limit again.
      { STREAM_RESET_BURST: '10', STREAM_RESET_RATE_PER_SEC: '1', CLIENT_PENALTY_MS: '0' },
      { omitGuards: ['session-guard'] },
    );
    try {
      const run = await stormWithNetLog(server, { ratePerSec: 8, durationSec: 10 });
      console.log(`# negative control net log: ${JSON.stringify(run.netLog)}; failed requests other than ERR_ABORTED: ${unexpectedFailures(run.failedRequests).length}`);
      // Node closes the socket right after nghttp2's GOAWAY: Chrome sometimes meets the TCP reset
      // before it reads the frame, and that connection shows as a session error instead.
      assert.ok(run.netLog.goawayErrors + run.netLog.sessionErrors > 0, 'the broken connections show in the net log');
      assert.ok(run.netLog.goawaysReceived.every((code) => code.includes('INTERNAL_ERROR')), run.netLog.goawaysReceived.join(', '));
    } finally {
      await server.close(0);
    }
  });
});
