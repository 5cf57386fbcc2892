// The seek-storm load tool (loadtest/): against our server it reports a clean, verified
// storm with the server's own figures; as a CLI it writes JSON and HTML and exits 0/1/2 as
// documented; against servers that corrupt a byte or send GOAWAY and REFUSED_STREAM it names
// the corruption, and retries unprocessed streams instead of calling them failures.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FAILURE_CLASSES } from '../../loadtest/report.ts';
import type { StormReport } from '../../loadtest/report.ts';
import { PROFILES } from '../../loadtest/settings.ts';
import { runStorm } from '../../loadtest/storm.ts';
import { startFaultyRangeServer } from '../support/faulty-range-server.ts';
import { expectedBytes, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

const NODE = path.resolve('node_modules/.bin/node');
const CLI = path.resolve('loadtest/cli.ts');

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], timeoutMs = 20_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertClean(report: StormReport, what: string): void {
  const detail = `${what}: ${JSON.stringify({ failures: report.failures, corruptions: report.corruptions })}`;
  assert.equal(report.corruptBytes, 0, detail);
  for (const cls of FAILURE_CLASSES) assert.equal(report.failures[cls], 0, `${cls} failures in ${detail}`);
  assert.equal(report.ok, true, detail);
}

describe('storm tool', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  let workDir: string;
  before(async () => {
    library = await makeFixtureLibrary();
    server = await startTestServer(library.root);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'storm-tool-'));
  });
  after(() => server.close(0));

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: a verified scrubbing storm against our server is clean, with the server's figures`, async () => {
      const isTls = transport === 'tls';
      const report = await runStorm({
        urls: [`${isTls ? server.tlsUrl : server.h2cUrl}/media/video.mp4`],
        tls: { insecure: false, caPem: server.tlsCert },
        profile: 'scrubbing',
        viewers: 3,
        durationMs: 3000,
        verify: true,
        seed: isTls ? 11 : 12,
      });
      const { timeline, ttfbHistogram, ...figures } = report;
      console.log(`# ${transport} storm: ${JSON.stringify(figures)}`);
      assertClean(report, transport);
      assert.ok(report.seeksCompleted > 50, `only ${report.seeksCompleted} seeks`);
      assert.ok(report.bytesVerified > 0 && report.bytesVerified === report.bytesReceived, 'every byte received was verified');
      assert.ok(report.ttfbMs.count === report.seeksCompleted && report.ttfbMs.p50 > 0);
      assert.equal(ttfbHistogram.counts.reduce((a, b) => a + b, 0), report.seeksCompleted);
      assert.ok(timeline.length >= 3);
      assert.ok(report.server, 'server figures scraped');
      const resets = 'media_resets_received_total';
      assert.ok(report.server.after[resets] > (report.server.before[resets] ?? 0), 'the server saw the cancels');
      assert.equal(report.server.after.media_pool_premature_releases_total, 0);
      await assertNoLeaks(server);
    });
  }

  it('chrome-like viewers read at the bitrate behind their forward buffer, not as fast as they can', async () => {
    // 8 Mbit/s = 1 MB/s; a 1 s buffer, then 3 s of playback: about 4 MB per viewer of a 24 MB file.
    const report = await runStorm({
      urls: [`${server.h2cUrl}/media/seek.bin`],
      profile: 'chrome-like',
      viewers: 2,
      durationMs: 3000,
      seekIntervalMs: 600_000,
      bitrateBps: 8_000_000,
      bufferAheadS: 1,
      seed: 3,
      metricsUrl: null,
    });
    assertClean(report, 'paced');
    const perViewerMB = report.bytesReceived / 2 / 1e6;
    assert.ok(perViewerMB > 1.5 && perViewerMB < 6, `read ${perViewerMB.toFixed(2)} MB per viewer, expected about 4`);
    assert.equal(report.seeksStarted, 2, 'only the first loads: no seek was due');
    await assertNoLeaks(server);
  });

  it('max-rate viewers seek again as soon as each read is done: more seeks than any scrubbing pace allows, all clean', async () => {
    const viewers = 2;
    const durationMs = 2000;
    const report = await runStorm({
      urls: [`${server.tlsUrl}/media/video.mp4`],
      tls: { insecure: false, caPem: server.tlsCert },
      profile: 'max-rate',
      viewers,
      durationMs,
      maxSeeks: 20_000,
      verify: true,
      seed: 21,
    });
    const { timeline, ttfbHistogram, ...figures } = report;
    console.log(`# max-rate storm: ${JSON.stringify(figures)}`);
    assertClean(report, 'max-rate');
    assert.equal(report.settings.profile, 'max-rate');
    assert.equal(report.settings.seekIntervalMs, 0);
    assert.ok(report.bytesVerified > 0 && report.bytesVerified === report.bytesReceived, 'every byte received was verified');
    // Scrubbing issues a viewer's seeks at least 0.5 x its mean interval apart (50 ms): a count
    // bound, not a speed, that an unpaced run of the same length must beat.
    const scrubbingCeiling = viewers * (Math.floor(durationMs / (0.5 * PROFILES.scrubbing.seekIntervalMs)) + 1);
    assert.ok(report.seeksCompleted > scrubbingCeiling, `${report.seeksCompleted} seeks: no more than scrubbing's ceiling of ${scrubbingCeiling}`);
    assert.ok(report.server, 'server figures scraped');
    assert.equal(report.server.after.media_pool_premature_releases_total, 0);
    await assertNoLeaks(server);
  });

  it('CLI: end to end with --json and --html, exit 0', async () => {
    const jsonFile = path.join(workDir, 'report.json');
    const htmlFile = path.join(workDir, 'report.html');
    const url = `${server.tlsUrl}/media/video.mp4`;
    const run = await runCli([url, '--insecure', '--duration', '2s', '--viewers', '2', '--profile', 'scrubbing', '--verify', '--json', jsonFile, '--html', htmlFile]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /Result: OK/);
    assert.match(run.stdout, /Verification\s+\S+/);
    const report = JSON.parse(await readFile(jsonFile, 'utf8')) as StormReport;
    assert.equal(report.tool, 'seekable-storm');
    assert.equal(report.version, 1);
    assert.equal(report.ok, true);
    assert.deepEqual(report.settings.urls, [url]);
    assert.equal(report.settings.profile, 'scrubbing');
    assert.equal(report.settings.viewers, 2);
    assert.equal(report.settings.durationMs, 2000);
    assert.equal(report.settings.verify, true);
    assert.deepEqual(Object.keys(report.failures).sort(), [...FAILURE_CLASSES].sort());
    assert.ok(report.seeksCompleted > 0 && report.bytesVerified > 0);
    assert.ok(Array.isArray(report.timeline) && report.timeline.length >= 2);
    assert.equal(report.ttfbHistogram.counts.length, report.ttfbHistogram.boundsMs.length + 1);
    assert.ok(report.server);
    assert.match(await readFile(htmlFile, 'utf8'), /<svg/);
    await assertNoLeaks(server);
  });

  it('CLI: a usage error exits 2 with one line; so does a non-loopback URL without --allow-remote', async () => {
    const bad = await runCli([`${server.tlsUrl}/media/video.mp4`, '--viewers', 'abc']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /--viewers/);
    assert.equal(bad.stdout, '');
    const remote = await runCli(['https://192.0.2.10/media/video.mp4', '--duration', '1s']);
    assert.equal(remote.code, 2);
    assert.equal(remote.stderr.trim().split('\n').length, 1, remote.stderr);
    assert.match(remote.stderr, /loopback/);
  });

  it('CLI: a server that serves a wrong byte in every 64 KiB block is reported with offsets, exit 1', async () => {
    const body = expectedBytes(0, 2 * 1024 * 1024 + 99, 0x66);
    const referenceFile = path.join(workDir, 'clip.bin');
    await writeFile(referenceFile, body);
    const faulty = await startFaultyRangeServer({ body, path: '/media/clip.bin', flipEveryBytes: 64 * 1024, flipAt: 4321 });
    try {
      const jsonFile = path.join(workDir, 'corrupt.json');
      const run = await runCli([faulty.url, '--verify-file', referenceFile, '--duration', '2s', '--viewers', '2', '--profile', 'scrubbing', '--json', jsonFile]);
      assert.equal(run.code, 1, run.stderr + run.stdout);
      assert.match(run.stdout, /corrupt: 1 wrong byte\(s\) in one chunk, first at offset \d+, stream \d+/);
      const report = JSON.parse(await readFile(jsonFile, 'utf8')) as StormReport;
      assert.equal(report.ok, false);
      assert.ok(report.corruptBytes > 0);
      assert.ok(report.failures.corrupt > 0);
      assert.ok(report.corruptions.length > 0 && report.corruptions.length <= 20);
      for (const c of report.corruptions) {
        assert.ok(faulty.flippedOffsets.includes(c.offset), `offset ${c.offset} is not one the server flipped`);
        assert.equal(c.bytes, 1);
        assert.equal(c.url, faulty.url);
        assert.ok(c.streamId > 0);
      }
    } finally {
      await faulty.close();
    }
  });

  it('GOAWAY mid-run and REFUSED_STREAM: unprocessed streams are retried on a fresh connection, no failure', async () => {
    const body = expectedBytes(0, 2 * 1024 * 1024 + 5, 0x77);
    const faulty = await startFaultyRangeServer({ body, path: '/media/clip.bin', goawayAfterStreams: 6, refuseEveryStreams: 7 });
    try {
      const report = await runStorm({
        urls: [faulty.url],
        profile: 'scrubbing',
        viewers: 3,
        connectionsPerViewer: 2,
        durationMs: 3000,
        verify: true,
        seed: 5,
      });
      const { timeline, ttfbHistogram, ...figures } = report;
      console.log(`# goaway storm: ${JSON.stringify(figures)} server ${JSON.stringify(faulty.counts)}`);
      assert.ok(faulty.counts.goaways > 0 && faulty.counts.refused > 0, 'the server did send GOAWAY and refuse streams');
      assert.ok(report.gracefulGoaways > 0, 'graceful GOAWAYs counted');
      assert.ok(report.retries > 0, 'unprocessed streams retried');
      assert.ok(report.connections > report.settings.viewers * 2, 'fresh connections were opened');
      assertClean(report, 'goaway storm');
      assert.equal(report.server, undefined, 'no /metrics on this server: no figures, and no failure either');
    } finally {
      await faulty.close();
    }
  });
});
