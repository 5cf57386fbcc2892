// Scale-out on one machine, for real: redis-server, two server processes sharing a media folder
// and Redis (PROXY_PROTOCOL on, DRAIN_ANNOUNCE_MS 3 s), and Debian's HAProxy with the
// deployment's own config (deploy/haproxy.cfg, as docker-compose.yml mounts it) in TCP mode
// in front. What it shows:
// - an upload through instance 1 reads back through instance 2: same bytes, same ETag;
// - a seek storm through HAProxy, every byte verified, survives a rolling restart of instance
//   1 (SIGTERM mid-storm, exit 0, started again): zero failures of every class, zero corrupt
//   bytes, streams the draining instance left unprocessed retried (and only those), HAProxy
//   marked the instance DOWN before its drain closed the listener (so no connection had to be
//   redispatched), and both instances (the restarted one too) served streams;
// - negative control: without DRAIN_ANNOUNCE_MS the listener closes ~2 s before HAProxy marks
//   the instance DOWN; new connections sent there meanwhile are saved by `retries` and
//   `option redispatch` (counted), which is what the announce period makes unnecessary.
// Figures go to the test output (t.diagnostic). Skipped, with the reason, without haproxy or
// redis-server.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { FAILURE_CLASSES } from '../../loadtest/report.ts';
import { parsePrometheusFigures } from '../../loadtest/server-metrics.ts';
import { runStorm } from '../../loadtest/storm.ts';
import { encodeProxyV2 } from '../../server/net/proxy-protocol.ts';
import { missingHaproxy, startHaproxy } from '../support/haproxy.ts';
import type { HaproxyProcess } from '../support/haproxy.ts';
import { freePort } from '../support/ports.ts';
import { connectProxied } from '../support/proxy-client.ts';
import { missingRedis, startRedis } from '../support/redis-server.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { h2Request } from '../support/server-harness.ts';
import type { FetchResult } from '../support/server-harness.ts';
import { spawnServer } from '../support/server-process.ts';
import type { ServerProcess } from '../support/server-process.ts';
import { h2Send } from '../support/upload-client.ts';

const TOKEN = 'scale-out-upload-token-0123456789';
const SAMPLE = 'sample-h264-aac.mp4';
const DRAIN_ANNOUNCE_MS = 3000; // as in docker-compose.yml: more than HAProxy's inter 1s x fall 2
const SESSION_MAX_AGE_MS = 8000;
/** What the load tool may call an unprocessed stream it retried (loadtest/range-stream.ts). */
const RETRYABLE = new Set(['above the GOAWAY last-stream-id', 'REFUSED_STREAM before any response', 'opened after GOAWAY']);

const skip = missingHaproxy() ?? missingRedis();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One request straight to an instance, as HAProxy's health checks reach it (PROXY v2 LOCAL). */
async function direct(port: number, headers: Record<string, string>, body?: Buffer): Promise<FetchResult> {
  const session = await connectProxied({ port, transport: 'tls', header: encodeProxyV2({ command: 'local' }) });
  try {
    return body ? await h2Send(session, headers, [body]) : await h2Request(session, headers);
  } finally {
    session.close();
  }
}

async function mediaResponses(port: number): Promise<number> {
  const metrics = await direct(port, { ':path': '/metrics' });
  return parsePrometheusFigures(metrics.body.toString('utf8'), ['media_responses_total']).media_responses_total ?? 0;
}

describe('scale-out: HAProxy, two instances, shared Redis and media folder', { skip }, () => {
  let media: string;
  let redis: RedisProcess;
  let haproxy: HaproxyProcess;
  const ports = { one: 0, two: 0, front: 0, stats: 0 };
  const instances: ServerProcess[] = [];
  let instanceEnv: (port: number) => Record<string, string>;

  before(async () => {
    media = path.join(await mkdtemp(path.join(os.tmpdir(), 'scale-out-')), 'media');
    await cp(path.resolve('storage/sample-library'), media, { recursive: true });
    redis = await startRedis();
    const keyPrefix = `scale-out-${process.pid}-${Date.now()}:`;
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    instanceEnv = (port) => ({
      PORT: String(port),
      MEDIA_ROOT: media,
      UPLOAD_TOKEN: TOKEN,
      PROXY_PROTOCOL: 'on',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      DRAIN_ANNOUNCE_MS: String(DRAIN_ANNOUNCE_MS),
      // Connections rotate (graceful GOAWAY) at 8 s of age: the storm's first ones are still on
      // instance 1 when its drain starts, and every one is replaced within 8 s of the restart,
      // so new ones reach the restarted instance.
      SESSION_MAX_AGE_MS: String(SESSION_MAX_AGE_MS),
    });
    instances.push(await spawnServer(instanceEnv(ports.one)), await spawnServer(instanceEnv(ports.two)));
    haproxy = await startHaproxy({
      HAPROXY_BIND: `127.0.0.1:${ports.front}`,
      HAPROXY_STATS_BIND: `127.0.0.1:${ports.stats}`,
      MEDIA_1_ADDR: `127.0.0.1:${ports.one}`,
      MEDIA_2_ADDR: `127.0.0.1:${ports.two}`,
    });
    await haproxy.waitForStatus({ 'media-1': 'UP', 'media-2': 'UP' });
  });
  after(async () => {
    for (const instance of instances) instance.kill();
    await haproxy?.stop();
    await redis?.stop();
    if (media) await rm(path.dirname(media), { recursive: true, force: true });
  });

  it('an upload through instance 1 reads back through instance 2: same bytes, same ETag', async (t: TestContext) => {
    const name = `uploads/scale-out-${randomBytes(4).toString('hex')}.bin`;
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const put = await direct(ports.one, { ':method': 'PUT', ':path': `/media/${name}`, authorization: `Bearer ${TOKEN}`, 'content-length': String(body.length) }, body);
    assert.equal(put.status, 201, put.body.toString('utf8'));
    const etag = put.headers.etag;
    assert.ok(etag, 'the upload answers with the new ETag');

    const viaTwo = await direct(ports.two, { ':path': `/media/${name}` });
    assert.equal(viaTwo.status, 200);
    assert.ok(viaTwo.body.equals(body), 'instance 2 serves the uploaded bytes');
    assert.equal(viaTwo.headers.etag, etag, 'same ETag on the other instance');
    const rangeViaOne = await direct(ports.one, { ':path': `/media/${name}`, range: 'bytes=1000000-1000099' });
    assert.equal(rangeViaOne.status, 206);
    assert.ok(rangeViaOne.body.equals(body.subarray(1_000_000, 1_000_100)));
    assert.equal(rangeViaOne.headers.etag, etag);

    // The other instance's library lists it with the same tag (catalog shared through Redis).
    let listed: { name: string; etag: string } | undefined;
    for (const deadline = performance.now() + 5000; !listed && performance.now() < deadline; await sleep(100)) {
      const library = JSON.parse((await direct(ports.two, { ':path': '/api/media' })).body.toString('utf8')) as { files: { name: string; etag: string }[] };
      listed = library.files.find((f) => f.name === name);
    }
    assert.equal(listed?.etag, etag, 'listed by instance 2 with the same ETag');
    t.diagnostic(`upload: ${body.length} bytes through instance 1, read back through instance 2 with ETag ${etag}`);
  });

  it('seek storms through HAProxy (players and max-rate seeking) survive a rolling restart of instance 1: zero failures, zero corrupt bytes, retries counted', async (t: TestContext) => {
    const retried = new Map<string, number>();
    const failures: string[] = [];
    const stop = new AbortController();
    const stormStartedAt = performance.now();
    // Two storms at once: players (open-ended ranges read at 1 Mbit/s behind a 2 s buffer, a
    // seek every ~2 s: their streams are in flight when the drain starts) and max-rate seeking.
    const storms = (['chrome-like', 'max-rate'] as const).map((profile, i) =>
      runStorm(
        {
          urls: [`https://127.0.0.1:${ports.front}/media/${SAMPLE}`],
          tls: { insecure: true },
          profile,
          viewers: profile === 'chrome-like' ? 6 : 4,
          connectionsPerViewer: profile === 'chrome-like' ? 1 : 2,
          ...(profile === 'chrome-like' ? { bitrateBps: 1_000_000, bufferAheadS: 2, seekIntervalMs: 2000 } : {}),
          durationMs: 90_000, // ended by `stop` once the restarted instance has served a while
          verify: true,
          verifyFile: path.join(media, SAMPLE),
          seed: 51 + i,
          metricsUrl: null,
        },
        {
          signal: stop.signal,
          onRetry: (detail) => retried.set(`${profile}: ${detail}`, (retried.get(`${profile}: ${detail}`) ?? 0) + 1),
          onFailure: (cls, detail) => failures.push(`${profile} ${cls} at ${Math.round(performance.now() - stormStartedAt)} ms: ${detail}`),
        },
      ),
    );
    const timeline: Record<string, number> = {};
    let drained: Record<string, unknown> = {};
    let draining: Record<string, unknown> = {};
    let exitCode: number | null = null;
    let servedAfterRestart = { sessions: 0, responses: 0 };
    try {
      await sleep(1500);
      const first = instances[0]!;
      const sigtermAt = performance.now();
      timeline.sigtermAtStormMs = sigtermAt - stormStartedAt;
      first.signal('SIGTERM');
      await first.waitForLog('shutdown announced', 5000);
      await haproxy.waitForStatus({ 'media-1': 'DOWN' }, 15_000);
      timeline.downAfterMs = performance.now() - sigtermAt;
      draining = await first.waitForLog('draining', 15_000);
      const exit = await first.exited;
      exitCode = exit.code;
      timeline.exitAfterMs = exit.atMs - sigtermAt;
      drained = await first.waitForLog('drained');

      instances[0] = await spawnServer(instanceEnv(ports.one));
      await haproxy.waitForStatus({ 'media-1': 'UP' }, 20_000);
      timeline.upAgainAfterMs = performance.now() - sigtermAt;
      const atUp = (await haproxy.stats()).get('media-1')!.sessionsTotal;
      await sleep(SESSION_MAX_AGE_MS + 1000); // the storm goes on; every connection rotates once meanwhile
      servedAfterRestart = { sessions: (await haproxy.stats()).get('media-1')!.sessionsTotal - atUp, responses: await mediaResponses(ports.one) };
    } finally {
      stop.abort();
    }
    const reports = await Promise.all(storms);
    const stats = Object.fromEntries(await haproxy.stats());
    const downLine = haproxy.logLines.find((l) => /media-1 is DOWN/.test(l.text));

    const rounded = Object.fromEntries(Object.entries(timeline).map(([k, v]) => [k, Math.round(v)]));
    for (const report of reports) {
      const { timeline: _perSecond, ttfbHistogram: _histogram, ...figures } = report;
      t.diagnostic(`${report.settings.profile} storm through HAProxy: ${report.seeksCompleted} seeks (${report.seeksPerSec}/s), TTFB p50 ${report.ttfbMs.p50} p99 ${report.ttfbMs.p99} max ${report.ttfbMs.max} ms, ${report.retries} retries, ${report.gracefulGoaways} graceful GOAWAYs, ${report.connections} connections, ${report.bytesVerified} bytes verified, ${report.corruptBytes} corrupt`);
      t.diagnostic(`${report.settings.profile} figures: ${JSON.stringify(figures)}`);
    }
    t.diagnostic(`retries by reason: ${JSON.stringify(Object.fromEntries(retried))}`);
    t.diagnostic(`rolling restart of instance 1 (ms after SIGTERM): ${JSON.stringify(rounded)}; drain ${drained.durationMs} ms after a ${drained.announceMs} ms announce, streams ${JSON.stringify(drained.streams)}; restarted instance got ${servedAfterRestart.sessions} connections, ${servedAfterRestart.responses} media responses`);
    t.diagnostic(`haproxy per server: ${JSON.stringify(stats)}`);
    const clusterStats = await direct(ports.two, { ':path': '/api/stats' }).catch((err: Error) => ({ status: 0, body: Buffer.from(err.message) }));
    const redisLines = instances.map((i) => i.logLines.some((l) => String(l.msg).startsWith('redis connected')));
    t.diagnostic(`redis connected (instance 1 restarted, instance 2): ${JSON.stringify(redisLines)}; /api/stats ${clusterStats.status}: ${clusterStats.body.toString('utf8').slice(0, 600)}`);

    assert.equal(exitCode, 0, 'the restarted instance exited 0 after its drain');
    assert.ok(downLine && downLine.atEpochMs < Number(draining.time), 'HAProxy marked instance 1 DOWN before its drain closed the listener');
    const drainedStreams = drained.streams as { inFlight: number; cancelled: number };
    assert.ok(drainedStreams.inFlight > 0, 'the drain began with storm streams in flight on instance 1');
    assert.equal(drainedStreams.cancelled, 0, 'they all finished by themselves');
    assert.deepEqual(failures, []);
    for (const report of reports) {
      const profile = report.settings.profile;
      for (const cls of FAILURE_CLASSES) assert.equal(report.failures[cls], 0, `${profile}: ${cls}`);
      assert.equal(report.corruptBytes, 0, profile);
      assert.ok(report.bytesVerified > 0 && report.bytesVerified === report.bytesReceived, `${profile}: every byte received was verified`);
      assert.ok(report.seeksCompleted > 20, `${profile}: ${report.seeksCompleted} seeks`);
      assert.ok(report.ok, profile);
    }
    for (const detail of retried.keys()) assert.ok(RETRYABLE.has(detail.slice(detail.indexOf(': ') + 2)), `retried as "${detail}"`);
    const retries = reports.reduce((sum, r) => sum + r.retries, 0);
    assert.equal(retries, [...retried.values()].reduce((a, b) => a + b, 0), 'every retry counted once, as a retry');
    assert.ok(reports.every((r) => r.gracefulGoaways > 0), 'graceful GOAWAYs (drain, rotation) were seen');
    assert.ok(stats['media-2']!.sessionsTotal > 0, 'instance 2 served');
    assert.ok(servedAfterRestart.sessions > 0 && servedAfterRestart.responses > 0, 'the restarted instance 1 served');
    for (const server of ['media-1', 'media-2']) {
      assert.equal(stats[server]!.connectionErrors, 0, `${server}: no failed connect`);
      assert.equal(stats[server]!.redispatches, 0, `${server}: no connection found its port closed (HAProxy had stopped sending first)`);
    }
  });

  it('negative control: with DRAIN_ANNOUNCE_MS 0 the listener closes before HAProxy notices; retries and redispatch save the connections meanwhile', async (t: TestContext) => {
    instances[0]!.kill(); // the restarted instance 1; started again below without an announce period
    await instances[0]!.exited;
    instances[0] = await spawnServer({ ...instanceEnv(ports.one), DRAIN_ANNOUNCE_MS: '0' });
    await haproxy.waitForStatus({ 'media-1': 'UP' }, 20_000);
    const linesBefore = haproxy.logLines.length;
    const sigtermAt = performance.now();
    instances[0]!.signal('SIGTERM');
    const draining = await instances[0]!.waitForLog('draining', 5000);
    // HAProxy still counts instance 1 UP: new connections it sends there find the port closed.
    const before = (await haproxy.stats()).get('media-1')!;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const session = http2.connect(`https://127.0.0.1:${ports.front}`, { rejectUnauthorized: false });
      session.on('error', () => {});
      statuses.push(await h2Request(session, { ':path': '/healthz' }).then((r) => r.status, () => 0));
      session.destroy();
    }
    const during = (await haproxy.stats()).get('media-1')!;
    await haproxy.waitForStatus({ 'media-1': 'DOWN' }, 15_000);
    const downLine = haproxy.logLines.slice(linesBefore).find((l) => /media-1 is DOWN/.test(l.text));
    t.diagnostic(`without an announce period: HAProxy marked instance 1 DOWN ${Math.round(performance.now() - sigtermAt)} ms after SIGTERM, ${downLine!.atEpochMs - Number(draining.time)} ms after it stopped listening: ${downLine!.text}`);
    t.diagnostic(`meanwhile 10 new connections through HAProxy: ${JSON.stringify(statuses)}; media-1 ${JSON.stringify({ before, during })}`);
    assert.ok(downLine!.atEpochMs > Number(draining.time), 'DOWN only after the listener had closed');
    assert.deepEqual(statuses, Array<number>(10).fill(200), 'every connection was served (by instance 2)');
    // HAProxy counts a connect refused and retried elsewhere as a redispatch (not econ, not wretr).
    assert.ok(during.redispatches > before.redispatches, 'some were sent to the closed port and redispatched to the other instance');
    assert.equal((await instances[0]!.exited).code, 0);
  });
});
