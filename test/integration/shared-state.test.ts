// Shared state in a real Redis (issue 5): the catalog and its invalidation, live stats across
// instances, per-client limits that hold across instances, and what happens when Redis stops
// or hangs. Every test runs two or more real servers (in this process, or as processes) over
// one media folder and a private redis-server; keys go under a per-run prefix.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { makeFixtureLibrary, SALTS, expectedBytes } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { spawnServer } from '../support/server-process.ts';
import { missingRedis, startRedis } from '../support/redis-server.ts';
import type { RedisProcess } from '../support/redis-server.ts';

const TOKEN = 'shared-state-test-token-0123456789';
/** The suite uses REDIS_URL when the environment gives one, else its own redis-server; the outage test always its own (it stops it). */
const givenRedisUrl = process.env.REDIS_URL;
const skip = givenRedisUrl ? undefined : missingRedis() && `no REDIS_URL given and ${missingRedis()}`;
const skipOutage = missingRedis();

interface Reply {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request on its own connection, body read whole. */
async function request(server: TestServer, path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  const session = connectH2(server, 'h2c');
  try {
    return await new Promise<Reply>((resolve, reject) => {
      const req = session.request({ ':method': init.method ?? 'GET', ':path': path, ...init.headers }, { endStream: !init.body });
      let headers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => (headers = h));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      if (init.body) req.end(init.body);
    });
  } finally {
    session.close();
  }
}

/** A small range of the big fixture: 206 when admitted, 429 when a limit says no. */
function firstTenBytes(server: TestServer): Promise<Reply> {
  return request(server, '/media/seek.bin', { headers: { range: 'bytes=0-9' } });
}

/** Waits until `server` admits a media request again. */
function admittedAgain(server: TestServer): Promise<Reply> {
  return waitFor('a slot to come back', async () => {
    const r = await firstTenBytes(server);
    return r.status === 206 ? r : undefined;
  });
}

async function json<T>(server: TestServer, path: string): Promise<T> {
  const reply = await request(server, path);
  assert.equal(reply.status, 200, `${path}: ${reply.body.toString()}`);
  return JSON.parse(reply.body.toString('utf8')) as T;
}

/** A media stream the client stops reading after its head: the server holds it open (flow control). */
async function openPausedStream(server: TestServer, path: string): Promise<{ status: number; close(): void }> {
  const session = connectH2(server, 'h2c');
  const req = session.request({ ':path': path });
  req.pause();
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  return {
    status: Number(headers[':status']),
    close: () => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    },
  };
}

interface StatsBody {
  status: string;
  shared: string;
  instances: { id: string; requests: number }[];
  cluster: { instances: number; requests: number; refusedStreams: number };
}

interface HealthBody {
  status: string;
  shared: { kind: string; status: string; redis?: string };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('shared state in Redis', { skip }, () => {
  let redis: { readonly url: string; stop(): Promise<void> };
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  const prefix = `seekable-test-${crypto.randomBytes(4).toString('hex')}:`;

  const start = async (env: Record<string, string> = {}, withRedis = true): Promise<TestServer> => {
    const shared: Record<string, string> = withRedis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix } : {};
    const server = await startTestServer(library.root, { UPLOAD_TOKEN: TOKEN, STATS_TTL_MS: '2000', ...shared, ...env });
    servers.push(server);
    return server;
  };
  /** Leak check, then close, for every server started so far; closes them all even when one leaked. */
  const stopAll = async (): Promise<void> => {
    let leak: unknown;
    for (const server of servers.splice(0)) {
      await assertNoLeaks(server).catch((err: unknown) => (leak ??= err));
      await server.close(1000);
    }
    if (leak) throw leak;
  };

  before(async () => {
    redis = givenRedisUrl ? { url: givenRedisUrl, stop: async () => {} } : await startRedis();
    library = await makeFixtureLibrary({ seekBytes: 16 * 1024 * 1024 });
  });
  after(async () => {
    await stopAll();
    const client = new Redis(redis.url);
    const left = await client.keys(`${prefix}*`);
    if (left.length > 0) await client.del(...left);
    client.disconnect();
    await redis.stop();
  });

  test('an upload through one instance is listed and served by the other at once, same bytes and ETag (open-file cache 60 s)', async (t) => {
    const env = { FILE_CACHE_VALID_MS: '60000' };
    const a = await start(env);
    const b = await start(env);
    // Negative control: an instance that shares the folder but not Redis keeps its cached old file.
    const loner = await start(env, false);
    for (const server of [b, loner]) assert.equal((await request(server, '/media/small.txt')).status, 200); // warm the caches
    const old = await request(b, '/media/small.txt');

    const next = crypto.randomBytes(50_000);
    const put = await request(a, '/media/small.txt', { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(next.length) }, body: next });
    assert.equal(put.status, 204);
    const etag = String(put.headers.etag);
    assert.notEqual(etag, String(old.headers.etag));

    const listed = await json<{ files: { name: string; etag: string; size: number }[] }>(b, '/api/media');
    const entry = listed.files.find((f) => f.name === 'small.txt');
    assert.deepEqual(entry && { etag: entry.etag, size: entry.size }, { etag, size: next.length });
    const served = await request(b, '/media/small.txt');
    assert.equal(served.headers.etag, etag);
    assert.ok(served.body.equals(next), 'the other instance serves the new bytes');

    const stale = await request(loner, '/media/small.txt');
    assert.equal(stale.headers.etag, old.headers.etag, 'control: without Redis the cached old file is served');
    t.diagnostic(`upload via A -> B lists and serves ETag ${etag}; the Redis-less control still served ${String(stale.headers.etag)}`);

    const del = await request(b, '/media/small.txt', { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(del.status, 204);
    assert.equal((await request(a, '/media/small.txt')).status, 404, 'a delete through B is seen by A at once');
    const afterDelete = await json<{ files: { name: string }[] }>(a, '/api/media');
    assert.ok(!afterDelete.files.some((f) => f.name === 'small.txt'));
    await stopAll();
    // Put the fixture back for the other tests.
    library = await makeFixtureLibrary({ seekBytes: 16 * 1024 * 1024 });
  });

  test('live stats list every instance with cluster totals; a killed instance drops out after STATS_TTL_MS', async (t) => {
    const a = await start();
    const b = await start();
    const proc = await spawnServer({ MEDIA_ROOT: library.root, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, STATS_TTL_MS: '2000' });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await request(b, '/media/seek.bin', { headers: { range: 'bytes=0-99' } })).status, 206);
      const stats = await waitFor('three instances and five requests in the totals', async () => {
        const s = await json<StatsBody>(a, '/api/stats');
        return s.instances.length === 3 && s.cluster.requests >= 5 ? s : undefined;
      });
      assert.equal(stats.status, 'ok');
      assert.equal(stats.shared, 'redis');
      assert.equal(stats.cluster.instances, 3);
      assert.equal(stats.cluster.requests, stats.instances.reduce((n, i) => n + i.requests, 0));
      const killedAt = Date.now();
      proc.kill(); // SIGKILL: no goodbye, only the TTL removes it
      await proc.exited;
      await waitFor('the killed instance to drop out', async () => ((await json<StatsBody>(a, '/api/stats')).instances.length === 2 ? true : undefined), 6000);
      const goneAfterMs = Date.now() - killedAt;
      assert.ok(goneAfterMs <= 2000 + 1500, `dropped out after ${goneAfterMs} ms`);
      t.diagnostic(`3 instances listed; the SIGKILLed one dropped out after ${goneAfterMs} ms (STATS_TTL_MS 2000)`);
      // A clean stop leaves at once, without waiting for the TTL.
      await assertNoLeaks(b);
      await b.close(1000);
      servers.splice(servers.indexOf(b), 1);
      assert.equal((await json<StatsBody>(a, '/api/stats')).instances.length, 1);
    } finally {
      proc.kill();
      await stopAll();
    }
  });

  test('CLIENT_MAX_STREAMS holds across instances (429 with Retry-After); without Redis it holds per instance only (control)', async (t) => {
    const env = { CLIENT_MAX_STREAMS: '2' };
    const a = await start(env);
    const b = await start(env);
    const first = await openPausedStream(a, '/media/seek.bin');
    const second = await openPausedStream(b, '/media/seek.bin');
    assert.deepEqual([first.status, second.status], [200, 200]);
    const third = await firstTenBytes(a);
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers['retry-after']) >= 1, 'Retry-After in seconds');
    assert.equal(JSON.parse(third.body.toString()).error, 'TOO_MANY_REQUESTS');
    first.close();
    const admitted = await admittedAgain(b);
    assert.ok(admitted.body.equals(expectedBytes(0, 10, SALTS['seek.bin'])));
    second.close();

    const c = await start(env, false);
    const d = await start(env, false);
    const onC = await openPausedStream(c, '/media/seek.bin');
    const onD = await openPausedStream(d, '/media/seek.bin');
    const thirdOnC = await firstTenBytes(c);
    assert.equal(thirdOnC.status, 206, 'control: per instance, the third stream (second on this instance) is admitted');
    onC.close();
    onD.close();
    t.diagnostic('two paused streams on two instances: a third on either got 429; per-instance control admitted it');
    await stopAll();
  });

  test('the streams a killed instance held stop counting once its heartbeat expires', async (t) => {
    const a = await start({ CLIENT_MAX_STREAMS: '1' });
    const env = { MEDIA_ROOT: library.root, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, STATS_TTL_MS: '2000', CLIENT_MAX_STREAMS: '1' };
    const proc = await spawnServer(env);
    const session = http2.connect(proc.origin, { rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      const held = session.request({ ':path': '/media/seek.bin' });
      held.on('error', () => {});
      held.pause();
      const status = await new Promise<number>((resolve) => held.once('response', (h) => resolve(Number(h[':status']))));
      assert.equal(status, 200);
      assert.equal((await firstTenBytes(a)).status, 429, 'the other instance holds the one stream');
      const killedAt = Date.now();
      proc.kill();
      await proc.exited;
      await admittedAgain(a);
      const freedAfterMs = Date.now() - killedAt;
      assert.ok(freedAfterMs <= 2000 + 1500, `freed after ${freedAfterMs} ms`);
      t.diagnostic(`a SIGKILLed instance's stream stopped counting after ${freedAfterMs} ms (STATS_TTL_MS 2000)`);
    } finally {
      session.destroy();
      proc.kill();
      await stopAll();
    }
  });

  test('CLIENT_MAX_REQUESTS_PER_SEC is one bucket across instances', async (t) => {
    const env = { CLIENT_MAX_REQUESTS_PER_SEC: '4' };
    const a = await start(env);
    const b = await start(env);
    const statuses: number[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < 10; i++) statuses.push((await request(i % 2 === 0 ? a : b, '/media/seek.bin', { method: 'HEAD' })).status);
    const elapsedSec = (Date.now() - startedAt) / 1000;
    const admitted = statuses.filter((s) => s === 200).length;
    // A burst of 4, plus what refilled at 4/s while the requests ran.
    assert.ok(admitted >= 4 && admitted <= 4 + Math.ceil(elapsedSec * 4), `admitted ${admitted} of 10 in ${elapsedSec.toFixed(2)} s: ${statuses}`);
    assert.ok(statuses.includes(429));
    // Control: two instances without Redis each keep their own bucket of 4.
    const c = await start(env, false);
    const d = await start(env, false);
    let admittedAlone = 0;
    for (let i = 0; i < 10; i++) if ((await request(i % 2 === 0 ? c : d, '/media/seek.bin', { method: 'HEAD' })).status === 200) admittedAlone++;
    assert.ok(admittedAlone >= 8, `control: per instance ${admittedAlone} of 10 admitted`);
    t.diagnostic(`10 HEADs alternating over two instances in ${elapsedSec.toFixed(2)} s: ${admitted} admitted, ${10 - admitted} got 429 (without Redis: ${admittedAlone})`);
    await stopAll();
  });
});

describe('Redis outage', { skip: skipOutage }, () => {
  let library: FixtureLibrary;
  before(async () => {
    library = await makeFixtureLibrary({ seekBytes: 16 * 1024 * 1024 });
  });

  test('Redis stopped, then hung: media keeps streaming, no request waits on Redis, health and stats say degraded, limits hold per instance; it recovers by itself', async (t) => {
    const redis = await startRedis();
    const prefix = `seekable-outage-${crypto.randomBytes(4).toString('hex')}:`;
    const server = await startTestServer(library.root, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_TIMEOUT_MS: '200', CLIENT_MAX_STREAMS: '2', STATS_TTL_MS: '2000' });
    let restarted: RedisProcess | undefined;
    const timedRange = async (): Promise<number> => {
      const startedAt = performance.now();
      const reply = await request(server, '/media/seek.bin', { headers: { range: 'bytes=1000-65535' } });
      assert.equal(reply.status, 206);
      assert.ok(reply.body.equals(expectedBytes(1000, 64536, SALTS['seek.bin'])));
      return performance.now() - startedAt;
    };
    try {
      assert.equal((await json<HealthBody>(server, '/healthz')).shared.status, 'ok');

      await redis.stop();
      const downAt = Date.now();
      await waitFor('health to say degraded', async () => ((await json<HealthBody>(server, '/healthz')).shared.status === 'degraded' ? true : undefined));
      const detectedMs = Date.now() - downAt;
      const downLatencies: number[] = [];
      for (let i = 0; i < 20; i++) downLatencies.push(await timedRange());
      const stats = await json<StatsBody>(server, '/api/stats');
      assert.equal(stats.status, 'degraded');
      assert.equal(stats.instances.length, 1, 'its own figures still');
      const listed = await json<{ files: { name: string }[] }>(server, '/api/media');
      assert.ok(listed.files.some((f) => f.name === 'seek.bin'), 'the library is read from the folder');
      // Limits fall back to this instance alone.
      const held = [await openPausedStream(server, '/media/seek.bin'), await openPausedStream(server, '/media/seek.bin')];
      assert.equal((await firstTenBytes(server)).status, 429);
      for (const h of held) h.close();

      restarted = await startRedis(10_000, redis.port);
      const upAt = Date.now();
      await waitFor('health ok again', async () => ((await json<HealthBody>(server, '/healthz')).shared.status === 'ok' ? true : undefined), 10_000);
      const recoveredMs = Date.now() - upAt;
      await waitFor('stats shared again', async () => ((await json<StatsBody>(server, '/api/stats')).status === 'ok' ? true : undefined));

      // Hung: the connection stays open, nothing answers. Each command waits at most
      // REDIS_TIMEOUT_MS, after which Redis is left alone for a second.
      restarted.pause();
      const hungLatencies: number[] = [];
      const hungAt = performance.now();
      const heldWhileHung = await openPausedStream(server, '/media/seek.bin');
      const firstHungMs = performance.now() - hungAt; // the one request that waits out REDIS_TIMEOUT_MS
      assert.equal((await json<HealthBody>(server, '/healthz')).shared.status, 'degraded', 'a timeout shows as degraded');
      for (let i = 0; i < 20; i++) hungLatencies.push(await timedRange());
      heldWhileHung.close();
      restarted.resume();

      const maxDown = Math.max(...downLatencies);
      const maxHung = Math.max(...hungLatencies);
      assert.ok(maxDown < 1000, `a range took ${maxDown.toFixed(0)} ms with Redis down`);
      assert.ok(maxHung < 200 + 1000, `a range took ${maxHung.toFixed(0)} ms with Redis hung (timeout 200 ms)`);
      assert.ok(firstHungMs < 200 + 1000, `the first request with Redis hung took ${firstHungMs.toFixed(0)} ms`);
      t.diagnostic(
        `Redis down: detected in ${detectedMs} ms; 20 ranges max ${maxDown.toFixed(1)} ms; recovered ${recoveredMs} ms after restart. ` +
          `Redis hung (SIGSTOP): first request ${firstHungMs.toFixed(0)} ms (REDIS_TIMEOUT_MS 200), then 20 ranges next to a held stream, max ${maxHung.toFixed(1)} ms`,
      );
      await assertNoLeaks(server);
      const client = new Redis(restarted.url);
      const left = await client.keys(`${prefix}*`);
      if (left.length > 0) await client.del(...left);
      client.disconnect();
    } finally {
      await server.close(1000);
      await restarted?.stop();
      await redis.stop();
    }
  });
});
