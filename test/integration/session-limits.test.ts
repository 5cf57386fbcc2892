// Seek storms must never trip Node's or nghttp2's per-connection limits: the session guard
// rotates the connection gracefully first. Each claim is paired with a negative control that
// disables the guard and shows the failure a browser would see (ERR_HTTP2_PROTOCOL_ERROR).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { runPausedViewer } from '../support/paused-viewer.ts';
import type { PausedViewerOptions } from '../support/paused-viewer.ts';
import { runSeekStorm } from '../support/seek-storm.ts';

/** Small limits, so the failure the guard prevents shows up within a few hundred seeks. */
const TIGHT_MEMORY = {
  MAX_CONCURRENT_STREAMS: '8',
  SESSION_MEMORY_MIB: '12',
  SESSION_LEAK_ROTATE_BYTES: String(2 * 1024 * 1024),
};
const TIGHT_RESETS = { STREAM_RESET_BURST: '100', STREAM_RESET_RATE_PER_SEC: '10' };

describe('session limits under seek storms', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  before(async () => {
    library = await makeFixtureLibrary();
  });
  after(async () => {
    for (const s of servers) await s.close(0);
  });
  const start = async (env: Record<string, string>, disableSessionGuard = false): Promise<TestServer> => {
    const server = await startTestServer(library.root, env, disableSessionGuard ? { omitGuards: ['session-guard'] } : {});
    servers.push(server);
    return server;
  };
  const pausedViewer = (server: TestServer, seeks: number): Omit<PausedViewerOptions, 'connect'> & { connect: () => ReturnType<typeof connectH2> } => {
    const file = library.files.get('seek.bin')!;
    return {
      // A small client window, so a paused stream really blocks the server's writes.
      connect: () => connectH2(server, 'tls', { settings: { initialWindowSize: 65535 } }),
      path: '/media/seek.bin',
      size: file.size,
      salt: file.salt,
      seeks,
      readMaxBytes: 256 * 1024,
      pauseMs: 3,
    };
  };

  /** One viewer seeking as fast as it can, four streams at a time, each reset after <= 64 KiB. */
  const fastResetStorm = (server: TestServer) => {
    const file = library.files.get('seek.bin')!;
    return runSeekStorm({
      connect: () => connectH2(server, 'h2c'),
      path: '/media/seek.bin',
      size: file.size,
      salt: file.salt,
      sessions: 1,
      seeksPerSession: 600,
      inFlight: 4,
      readMinBytes: 1,
      readMaxBytes: 64 * 1024,
    });
  };

  it('paused viewer, 1,000 seeks on default settings: no refused stream, no error GOAWAY, every seek gets its bytes', async () => {
    const server = await start({});
    const report = await runPausedViewer(pausedViewer(server, 1000));
    console.log(`# paused viewer (defaults): ${JSON.stringify(report)}`);
    assert.deepEqual(report.failures, {});
    assert.equal(report.seeksWithAllBytes, 1000);
    assert.equal(report.corruptBytes, 0);
    await assertNoLeaks(server);
  });

  it('paused viewer with tight session memory: the guard rotates before Node refuses a stream', async () => {
    const server = await start(TIGHT_MEMORY);
    const report = await runPausedViewer(pausedViewer(server, 1000));
    console.log(`# paused viewer (tight memory, guard on): ${JSON.stringify(report)}`);
    assert.deepEqual(report.failures, {});
    assert.equal(report.seeksWithAllBytes, 1000);
    assert.ok(report.gracefulGoaways > 0, 'the guard rotated the connection');
    const metrics = await server.metrics.registry.metrics();
    assert.match(metrics, /media_session_rotations_total\{reason="session-memory"\} [1-9]/);
    await assertNoLeaks(server);
  });

  it('negative control: same storm with the guard disabled gets ENHANCE_YOUR_CALM refusals', async () => {
    const server = await start(TIGHT_MEMORY, true);
    const report = await runPausedViewer(pausedViewer(server, 1000));
    console.log(`# paused viewer (tight memory, guard OFF): ${JSON.stringify(report)}`);
    const refused = (report.failures['rst-11'] ?? 0) + (report.failures['refused-7'] ?? 0);
    assert.ok(refused > 0, `expected refused streams without the guard, got ${JSON.stringify(report.failures)}`);
    await assertNoLeaks(server);
  });

  it('fast seek storm with a tight reset budget: rotated gracefully, never GOAWAY(INTERNAL_ERROR)', async () => {
    const server = await start(TIGHT_RESETS);
    const report = await fastResetStorm(server);
    console.log(`# reset budget (guard on): ${JSON.stringify(report)}`);
    assert.deepEqual(report.failures, {});
    assert.equal(report.corruptBytes, 0);
    assert.ok(report.rotations > 0);
    await assertNoLeaks(server);
  });

  it('negative control: the same storm with the guard disabled gets GOAWAY(INTERNAL_ERROR) from nghttp2', async () => {
    const server = await start(TIGHT_RESETS, true);
    const report = await fastResetStorm(server);
    console.log(`# reset budget (guard OFF): ${JSON.stringify(report)}`);
    assert.ok((report.failures['fail:goaway-2'] ?? 0) > 0, `expected GOAWAY(INTERNAL_ERROR), got ${JSON.stringify(report.failures)}`);
    await assertNoLeaks(server);
  });
});
