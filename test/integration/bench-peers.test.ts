// Every benchmark peer (bench/peers/) that can run here is started over the fixture library
// with one self-signed certificate and must serve the same URL shape over HTTP/2 + TLS: a
// Range request gets exactly the right 100 bytes with 206, a plain GET the whole file. After
// stop() its process group must be gone. A peer that is not installed is skipped with the
// reason, never silently.
//
// The C range driver of benchmarks (a) and (b) (bench/driver/) is built and run against our
// server: every byte verified, all 206; and against a server that serves a wrong byte, which
// it must catch. Without a C compiler or the headers it is skipped with the reason.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PEERS } from '../../bench/peers/index.ts';
import type { PeerContext, PeerHandle } from '../../bench/peers/index.ts';
import { liveGroupMembers } from '../../bench/peers/child-process.ts';
import { assertRangeDriverClean, isRangeDriverAvailable, rangeDriverProblems, runRangeDriver } from '../../bench/workloads/range-driver.ts';
import type { RangeDriverResult } from '../../bench/workloads/range-driver.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';
import { startFaultyRangeServer } from '../support/faulty-range-server.ts';
import { expectedBytes, makeFixtureLibrary } from '../support/fixtures.ts';

const FILE = 'video.mp4';

interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

describe('bench peers', () => {
  let ctx: PeerContext;
  let cert: string;
  let fixtureBase: string;
  let size: number;
  let salt: number;

  before(async () => {
    const library = await makeFixtureLibrary({ seekBytes: 64 * 1024 });
    fixtureBase = path.dirname(library.root);
    ({ size, salt } = library.files.get(FILE)!);
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'bench-peers-'));
    const pair = createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 2 });
    cert = pair.certPem;
    const certFile = path.join(workDir, 'cert.pem');
    const keyFile = path.join(workDir, 'key.pem');
    await writeFile(certFile, pair.certPem);
    await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
    ctx = { mediaRoot: library.root, certFile, keyFile, workDir };
  });

  after(async () => {
    await rm(ctx.workDir, { recursive: true, force: true });
    await rm(fixtureBase, { recursive: true, force: true });
  });

  it('lists the peers in bench order', () => {
    assert.deepEqual(
      PEERS.map((p) => p.name),
      ['ours', 'ours-sync-read', 'ours-async-read', 'nginx', 'h2o', 'caddy', 'node-respondwithfd', 'node-h2-floor', 'fastify-static', 'koa-send'],
    );
  });

  for (const peer of PEERS) {
    it(`${peer.name}: serves /media/ ranges over h2 and stops`, async (t) => {
      const availability = await peer.available();
      if (!availability.ok) {
        t.skip(availability.reason);
        return;
      }
      const startedAt = performance.now();
      const handle = await peer.start(ctx);
      t.diagnostic(`${peer.name} (${availability.version ?? 'version unknown'}) ready in ${Math.round(performance.now() - startedAt)} ms at ${handle.url}`);
      try {
        assert.match(handle.url, /^https:\/\/localhost:\d+$/);
        assert.ok(handle.pid && handle.pid > 0, 'a pid to measure RSS of');
        await checkServes(handle, peer.workloads === undefined);
      } finally {
        const stoppingAt = performance.now();
        await handle.stop();
        t.diagnostic(`${peer.name} stopped in ${Math.round(performance.now() - stoppingAt)} ms`);
      }
      assert.equal(isAlive(handle.pid!), false, 'the server process is gone');
      assert.deepEqual(liveGroupMembers(handle.pid!), [], 'no process of its group is left running');
      await handle.stop(); // idempotent
    });
  }

  describe('C range driver (bench/driver/range-driver.c)', () => {
    it('ours: random 64 KiB ranges for 2 s over h2, every byte verified, all 206', async (t) => {
      const driver = await isRangeDriverAvailable();
      if (!driver.ok) {
        t.skip(driver.reason);
        return;
      }
      const ours = PEERS.find((p) => p.name === 'ours')!;
      const handle = await ours.start(ctx);
      let result: RangeDriverResult;
      try {
        result = await runRangeDriver({
          url: `${handle.url}/media/${FILE}`,
          fileBytes: size,
          rangeBytes: 64 * 1024,
          connections: 4,
          streams: 8,
          durationMs: 2000,
          warmupMs: 300,
          seed: 7,
          verifySalt: salt,
        });
      } finally {
        await handle.stop();
      }
      t.diagnostic(`${result.driver}: ${result.requests} requests, ${result.requestsPerSec} req/s, ${result.megabytesPerSec} MB/s, p99 ${result.latency.p99Ms} ms, driver CPU ${result.cpuSeconds} s`);
      assert.equal(result.protocol, 'h2');
      assert.ok(result.requests > 0, 'requests completed');
      assert.equal(result.succeeded, result.requests, 'every request succeeded');
      assert.equal(result.non206 + result.warmup.non206, 0, 'every response is 206');
      assert.deepEqual(Object.keys(result.statuses), ['206']);
      assert.equal(result.badContentRange + result.warmup.badContentRange, 0, 'Content-Range as asked');
      assert.ok(result.verifiedBytes >= result.bodyBytes && result.bodyBytes > 0, 'the bodies were verified');
      assert.equal(result.corruptBytes, 0);
      assert.equal(result.firstCorrupt, null);
      assert.deepEqual(rangeDriverProblems(result), []);
      assert.ok(result.latency.p50Ms > 0 && result.latency.p50Ms <= result.latency.p99Ms && result.latency.p99Ms <= result.latency.maxMs);
    });

    it('negative control: a server that flips one byte in every 64 KiB is caught (h2c)', async (t) => {
      const driver = await isRangeDriverAvailable();
      if (!driver.ok) {
        t.skip(driver.reason);
        return;
      }
      const faulty = await startFaultyRangeServer({ body: expectedBytes(0, size, salt), path: '/media/clip.bin', flipEveryBytes: 64 * 1024, flipAt: 4321 });
      let result: RangeDriverResult;
      try {
        result = await runRangeDriver({
          url: faulty.url,
          fileBytes: size,
          rangeBytes: 64 * 1024,
          connections: 2,
          streams: 4,
          durationMs: 1500,
          warmupMs: 200,
          verifySalt: salt,
        });
      } finally {
        await faulty.close();
      }
      t.diagnostic(`corrupt: ${result.corruptBytes} bytes in ${result.corruptStreams} streams, first ${JSON.stringify(result.firstCorrupt)}`);
      assert.equal(result.protocol, 'h2c');
      assert.ok(result.corruptBytes > 0, 'corrupt bytes counted');
      assert.ok(result.firstCorrupt, 'the first corrupt byte is reported');
      assert.ok(faulty.flippedOffsets.includes(result.firstCorrupt.offset), `offset ${result.firstCorrupt.offset} is one the server flipped`);
      assert.equal(result.firstCorrupt.got, result.firstCorrupt.expected ^ 0xff);
      assert.ok(result.firstCorrupt.streamId > 0);
      assert.equal(result.succeeded, 0, 'a corrupt response never counts as succeeded');
      assert.throws(() => assertRangeDriverClean(result), /verification failed: \d+ corrupt bytes/);
    });
  });

  /** Every peer serves a range; a peer that runs every workload also serves the whole file. */
  async function checkServes(handle: PeerHandle, isWholeFileServed: boolean): Promise<void> {
    const session = http2.connect(handle.url, { ca: cert });
    session.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      assert.equal(session.alpnProtocol, 'h2');

      const partial = await get(session, `/media/${FILE}`, { range: 'bytes=100-199' });
      assert.equal(partial.status, 206, 'Range gets 206');
      assert.equal(partial.headers['content-range'], `bytes 100-199/${size}`);
      assert.equal(partial.body.length, 100);
      assert.ok(partial.body.equals(expectedBytes(100, 100, salt)), 'exactly bytes 100-199 of the file');

      if (!isWholeFileServed) return;
      const full = await get(session, `/media/${FILE}`);
      assert.equal(full.status, 200);
      assert.equal(full.body.length, size);
      assert.ok(full.body.equals(expectedBytes(0, size, salt)), 'the whole file');
    } finally {
      await new Promise<void>((resolve) => session.close(() => resolve()));
    }
  }
});

function get(session: ClientHttp2Session, urlPath: string, extra: Record<string, string> = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': urlPath, ...extra });
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** Whether a process still exists (a zombie too: the bench reaps its own children). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
