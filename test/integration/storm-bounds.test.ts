// The bench's storm clients end against a server that answers nothing: each seek within its
// deadline, the whole storm within its time budget, with both counted as failures. (A bench
// run waited 13 minutes on fastify-static's (d) before they had a budget.)

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runPausedViewer } from '../support/paused-viewer.ts';
import { runSeekStorm } from '../support/seek-storm.ts';

describe('storm clients against a server that never answers', () => {
  let server: http2.Http2Server;
  let origin: string;
  const held: http2.ServerHttp2Stream[] = [];
  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      held.push(stream); // accepted, never answered, never closed
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const stream of held) stream.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const connect = (): http2.ClientHttp2Session => {
    const session = http2.connect(origin);
    session.on('error', () => {});
    return session;
  };

  it('seek storm: deadlines and the time budget end it, every seek accounted for', async () => {
    const started = Date.now();
    const report = await runSeekStorm({
      connect,
      path: '/media/none.bin',
      size: 1 << 20,
      salt: 1,
      sessions: 1,
      seeksPerSession: 100,
      inFlight: 4,
      readMinBytes: 1024,
      readMaxBytes: 2048,
      seekDeadlineMs: 200,
      maxDurationMs: 500,
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3000, `ended after ${elapsed} ms`);
    const deadlines = report.failures['fail:deadline'] ?? 0;
    const unstarted = report.failures['fail:time-budget'] ?? 0;
    assert.ok(deadlines >= 4, `seeks that ran into their deadline: ${deadlines}`);
    assert.ok(unstarted > 0, 'seeks the budget did not start');
    assert.equal(report.seeks + unstarted, 100, 'every seek is a seek or counted as not started');
    assert.equal(report.cancelled + report.readToEnd, 0);
  });

  it('paused viewer: the first seek fails at its deadline and the run stops there', async () => {
    const started = Date.now();
    const report = await runPausedViewer({
      connect,
      path: '/media/none.bin',
      size: 1 << 20,
      salt: 1,
      seeks: 50,
      readMaxBytes: 4096,
      pauseMs: 3,
      seekDeadlineMs: 200,
      stopAtFirstFailure: true,
    });
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual(report.failures, { deadline: 1 });
    assert.equal(report.firstFailureAtSeek, 1);
  });
});
