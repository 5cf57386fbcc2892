// Seek storms from Node's HTTP/2 client over TLS and h2c: hundreds of open-ended ranges per
// session at random offsets, each cancelled mid-body with RST_STREAM(CANCEL); every byte
// received is checked against the file at its offset, and afterwards every slab and
// descriptor must be back.

import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { countMismatches, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { prng, runSeekStorm } from '../support/seek-storm.ts';

describe('seek storm (node:http2 client, byte-exact)', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  before(async () => {
    library = await makeFixtureLibrary();
    server = await startTestServer(library.root);
  });
  after(() => server.close(0));

  it('HTTP/2 media streams take the fast path (no Koa on the hot path)', () => {
    assert.equal(server.isMediaFastPath, true);
  });

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: 4 sessions x 250 seeks, cancelled mid-body, 0 corrupt bytes, nothing leaked`, async () => {
      const file = library.files.get('seek.bin')!;
      const report = await runSeekStorm({
        connect: () => connectH2(server, transport),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        sessions: 4,
        seeksPerSession: 250,
        inFlight: 2,
        readMinBytes: 1,
        readMaxBytes: 1024 * 1024,
        seed: transport === 'tls' ? 7 : 8,
      });
      const seeksPerSec = Math.round((report.seeks / report.elapsedMs) * 1000);
      console.log(`# ${transport} storm: ${JSON.stringify({ ...report, seeksPerSec })}`);
      assert.equal(report.corruptBytes, 0, `corrupt bytes at ${report.corruptions.join(', ')}`);
      assert.deepEqual(report.failures, {});
      assert.equal(report.seeks, 1000);
      assert.ok(report.cancelled > 900, 'most seeks were cancelled mid-body');
      assert.ok(report.bytesVerified > 50 * 1024 * 1024, 'the storm moved real data');
      await assertNoLeaks(server);
      const text = await server.metrics.registry.metrics();
      assert.match(text, /media_resets_received_total [1-9]/);
      assert.deepEqual(
        server.logLines.filter((l) => (l.level as number) >= 50),
        [],
        'a seek storm logs no errors',
      );
    });
  }

  it('READ_MODE=sync: the same storm stays byte-exact and returns every slab', async () => {
    const syncServer = await startTestServer(library.root, { READ_MODE: 'sync' });
    try {
      const file = library.files.get('seek.bin')!;
      const report = await runSeekStorm({
        connect: () => connectH2(syncServer, 'h2c'),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        sessions: 2,
        seeksPerSession: 150,
        inFlight: 2,
        readMinBytes: 1,
        readMaxBytes: 1024 * 1024,
      });
      assert.equal(report.corruptBytes, 0);
      assert.deepEqual(report.failures, {});
      await assertNoLeaks(syncServer);
    } finally {
      await syncServer.close(0);
    }
  });

  it('http/1.1: 300 requests aborted mid-body by closing the socket: bytes exact, nothing leaked', async () => {
    const file = library.files.get('seek.bin')!;
    const random = prng(21);
    let corrupt = 0;
    let verified = 0;
    const abortOne = (offset: number, want: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = https.request({
          host: '127.0.0.1',
          port: server.port,
          path: '/media/seek.bin',
          headers: { range: `bytes=${offset}-` },
          ca: server.tlsCert,
          servername: 'localhost',
          agent: false,
        });
        req.on('response', (res) => {
          if (res.statusCode !== 206) return reject(new Error(`status ${res.statusCode}`));
          let position = offset;
          res.on('data', (chunk: Buffer) => {
            corrupt += countMismatches(chunk, position, file.salt);
            verified += chunk.length;
            position += chunk.length;
            if (position - offset >= want) req.destroy();
          });
          res.on('end', resolve);
        });
        req.on('close', () => resolve());
        req.on('error', () => resolve());
        req.end();
      });
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, () => abortOne(Math.floor(random() * file.size), 1 + Math.floor(random() * 1024 * 1024))),
      );
    }
    console.log(`# http/1.1 abort storm: 300 requests, ${verified} bytes verified, ${corrupt} corrupt`);
    assert.equal(corrupt, 0);
    assert.ok(verified > 10 * 1024 * 1024);
    await assertNoLeaks(server);
  });

  it('a seek storm at LOG_LEVEL=info logs no cancelled response and no stack trace', async () => {
    const quiet = await startTestServer(library.root, { LOG_LEVEL: 'info' });
    try {
      const file = library.files.get('seek.bin')!;
      const report = await runSeekStorm({
        connect: () => connectH2(quiet, 'tls'),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        sessions: 2,
        seeksPerSession: 100,
        inFlight: 2,
        readMinBytes: 1,
        readMaxBytes: 256 * 1024,
      });
      const responseLines = quiet.logLines.filter((l) => l.msg === 'media response' || l.msg === 'media response cancelled');
      assert.equal(report.cancelled + report.readToEnd, 200);
      // Only completed responses are logged at info; a cancel is routine (debug). A response
      // near the end of the file can be complete on the server (every byte handed over) before
      // the client's cancel arrives, so the bound is loose: 200 cancels must not give 200 lines.
      assert.ok(responseLines.every((l) => l.msg === 'media response' && l.ended === 'complete'), 'no cancelled response at info');
      assert.ok(responseLines.length <= report.readToEnd + report.retried + 10, `${responseLines.length} response lines`);
      assert.ok(!quiet.logLines.some((l) => JSON.stringify(l).includes('    at ')), 'no stack traces');
      await assertNoLeaks(quiet);
    } finally {
      await quiet.close(0);
    }
  });
});
