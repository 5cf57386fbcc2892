// DRAIN_ANNOUNCE_MS (lifecycle/drain.ts): "an instance in graceful shutdown fails its health
// check first". For the announce period /healthz answers 503 while new connections are still
// accepted and every request is served, with no GOAWAY; only then does the drain close the
// listener and send GOAWAY. Negative control: with 0 (the default) the listener is closed at
// once. Also the real process on SIGTERM: the two log lines an announce period apart, exit 0.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { spawnServer } from '../support/server-process.ts';
import type { ServerProcess } from '../support/server-process.ts';

/** True when a TCP connection to the port is accepted (the listener is open). */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('drain announce period', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  const processes: ServerProcess[] = [];
  before(async () => {
    library = await makeFixtureLibrary({ seekBytes: 1024 * 1024 });
  });
  after(async () => {
    for (const p of processes) p.kill();
    for (const s of servers) await s.close(0);
  });
  const start = async (env: Record<string, string>): Promise<TestServer> => {
    const server = await startTestServer(library.root, env);
    servers.push(server);
    return server;
  };

  it('DRAIN_ANNOUNCE_MS: /healthz 503 while new connections are still accepted and served, then GOAWAY and the listener closes', async () => {
    const announceMs = 800;
    const server = await start({ DRAIN_ANNOUNCE_MS: String(announceMs) });
    const existing = connectH2(server, 'tls');
    assert.equal((await h2Request(existing, { ':path': '/healthz' })).status, 200);
    const goaways: number[] = [];
    existing.on('goaway', () => goaways.push(performance.now()));

    const startedAt = performance.now();
    const drained = server.drain(3000);
    assert.equal(server.isDraining, true);
    assert.equal((await h2Request(existing, { ':path': '/healthz' })).status, 503, 'the health check fails at once');
    assert.equal((await h2Request(existing, { ':path': '/media/small.txt' })).status, 200, 'an open connection is served');
    const late = connectH2(server, 'tls');
    const lateMedia = await h2Request(late, { ':path': '/media/video.mp4', range: 'bytes=0-99' });
    assert.equal(lateMedia.status, 206, 'a connection opened during the announce period is accepted and served');
    assert.equal((await h2Request(late, { ':path': '/healthz' })).status, 503);
    for (const transport of ['tls', 'h2c'] as const) {
      assert.equal(await isListening(transport === 'tls' ? server.port : server.h2cPort!), true, `${transport} listener still open`);
    }
    assert.ok(performance.now() - startedAt < announceMs - 100, 'the checks above ran inside the announce period');
    assert.deepEqual(goaways, [], 'no GOAWAY during the announce period');

    await once(existing, 'goaway');
    const goawayAfter = goaways[0]! - startedAt;
    assert.ok(goawayAfter >= announceMs - 20, `GOAWAY ${Math.round(goawayAfter)} ms after the drain was asked for`);
    assert.equal(await isListening(server.port), false, 'the listener is closed once the drain proper began');
    existing.close();
    late.close();
    const report = await drained;
    assert.equal(report.announceMs, announceMs);
    assert.equal(report.isDeadlineReached, false);
    await assertNoLeaks(server);
  });

  it('negative control: with DRAIN_ANNOUNCE_MS 0 the listener closes at once', async () => {
    const server = await start({});
    const drained = server.drain(1000);
    assert.equal(await isListening(server.port), false);
    assert.equal((await drained).announceMs, 0);
  });

  it('SIGTERM on the real process: "shutdown announced", then "draining" one announce period later, exit 0', async () => {
    const announceMs = 600;
    const server = await spawnServer({ MEDIA_ROOT: library.root, DRAIN_ANNOUNCE_MS: String(announceMs) });
    processes.push(server);
    server.signal('SIGTERM');
    const announced = await server.waitForLog('shutdown announced');
    const session = http2.connect(server.origin, { rejectUnauthorized: false });
    session.on('error', () => {});
    assert.equal((await h2Request(session, { ':path': '/healthz' })).status, 503);
    const draining = await server.waitForLog('draining');
    const exit = await server.exited;
    session.destroy();
    assert.equal(announced.signal, 'SIGTERM');
    assert.equal(announced.announceMs, announceMs);
    const gapMs = Number(draining.time) - Number(announced.time);
    assert.ok(gapMs >= announceMs - 5 && gapMs < announceMs + 1000, `draining ${gapMs} ms after the announcement`);
    assert.equal(exit.code, 0);
  });
});
