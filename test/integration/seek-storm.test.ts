// Seek storms from Node's HTTP/2 client over TLS and h2c: hundreds of open-ended ranges per
// session at random offsets, each cancelled mid-body with RST_STREAM(CANCEL); every byte
// received is checked against the file at its offset, and afterwards every slab and
// descriptor must be back.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { runSeekStorm } from '../support/seek-storm.ts';

describe('seek storm (node:http2 client, byte-exact)', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  before(async () => {
    library = await makeFixtureLibrary();
    server = await startTestServer(library.root);
  });
  after(() => server.close(0));

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
});
