// The wire-level proof that no slab is reused while the socket still reads it. A raw HTTP/2
// client sees every DATA frame, also those after its own RST_STREAM, and checks each byte
// against the file at that stream's offset; the pool's invariant counts releases of slabs
// whose write had not completed. Released slabs are poisoned (0xEE), so a premature release
// shows up as foreign bytes.
//
// Negative controls inject deliberately wrong policies. Both instruments must catch them:
// a verifier that cannot fail proves nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, startTestServer } from '../support/server-harness.ts';
import type { HarnessOverrides, TestServer } from '../support/server-harness.ts';
import { runWireStorm } from '../support/wire-storm.ts';
import type { WireStormReport } from '../support/wire-storm.ts';
import { cancelAfter, releaseAfterWrite, releaseOnClose } from '../support/wrong-policies.ts';

type Transport = 'tls' | 'h2c';

describe('wire check: every DATA frame carries the right bytes', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  before(async () => {
    library = await makeFixtureLibrary();
  });
  after(async () => {
    for (const s of servers) await s.close(0);
  });

  const storm = async (
    transport: Transport,
    overrides: HarnessOverrides,
    streams = 400,
  ): Promise<{ server: TestServer; report: WireStormReport }> => {
    const server = await startTestServer(library.root, {}, { poisonOnRelease: true, ...overrides });
    servers.push(server);
    const file = library.files.get('seek.bin')!;
    const report = await runWireStorm({
      port: transport === 'tls' ? server.port : server.h2cPort!,
      tls: transport === 'tls',
      path: '/media/seek.bin',
      size: file.size,
      salt: file.salt,
      streams,
      concurrency: 16,
      readMinBytes: 1,
      readMaxBytes: 768 * 1024,
    });
    return { server, report };
  };

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: 400 streams reset mid-body, late frames included: 0 corrupt bytes, invariant 0`, async () => {
      const { server, report } = await storm(transport, {});
      console.log(`# wire ${transport} correct policy: ${JSON.stringify(report)}`);
      assert.equal(report.corruptBytes, 0, report.corruptions.join('; '));
      assert.ok(report.lateFrames > 0, 'the check saw DATA frames that arrived after our RST_STREAM');
      assert.equal(report.errorGoaways, 0);
      assert.deepEqual(report.serverResets, {});
      assert.equal(report.unexpectedStatus, 0);
      await assertNoLeaks(server);
    });

    it(`${transport}: server-side cancel with stream.close(CANCEL): 0 corrupt bytes`, async () => {
      const { server, report } = await storm(transport, { decorateSink: cancelAfter({ afterBytes: 300 * 1024, by: 'sink' }) });
      console.log(`# wire ${transport} server cancel via close(): ${JSON.stringify(report)}`);
      assert.equal(report.corruptBytes, 0, report.corruptions.join('; '));
      assert.ok((report.serverResets['8'] ?? 0) > 0, 'the server cancelled streams itself');
      await assertNoLeaks(server);
    });

    it(`${transport} negative control: releasing right after write() is caught by the wire and the invariant`, async () => {
      const { server, report } = await storm(transport, { releasePolicy: releaseAfterWrite }, 200);
      console.log(`# wire ${transport} NEGATIVE release-after-write: ${JSON.stringify(report)}`);
      assert.ok(report.corruptBytes > 0, 'the wire check must see foreign bytes');
      assert.ok(server.pool.stats().prematureReleases > 0, 'the invariant must count premature releases');
    });
  }

  it('h2c negative control: release on close plus server-side destroy() is caught by the wire and the invariant', async () => {
    // A slab released at destroy() shows up only when it is refilled while a socket write still
    // reads it: 7 to 16 corrupt frames per 200 streams in quiet runs, and once 0 in a loaded
    // full `npm test`; 400 streams keep that chance out of the result.
    const { server, report } = await storm('h2c', { releasePolicy: releaseOnClose(), decorateSink: cancelAfter({ afterBytes: 300 * 1024, by: 'destroy' }) }, 400);
    console.log(`# wire h2c NEGATIVE release-on-close + destroy(): ${JSON.stringify(report)}`);
    assert.ok(report.corruptBytes > 0, 'the wire check must see foreign bytes');
    assert.ok(server.pool.stats().prematureReleases > 0, 'the invariant must count premature releases');
  });
});
