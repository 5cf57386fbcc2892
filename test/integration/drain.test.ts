// Graceful shutdown and connection rotation (lifecycle/drain.ts, http2/session-drain.ts): a
// SIGTERM during a seek storm loses nothing (accepted streams complete, byte-verified; streams
// the server never processed are retried, on a second instance); a stalled stream is cancelled
// at the deadline and the process still exits 0; HTTP/1.1 gets Connection: close; rotation
// after SESSION_MAX_STREAMS and SESSION_MAX_AGE_MS sends the two-step GOAWAY; /healthz is 503.
// Bounds, not exact timings.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { FAILURE_CLASSES } from '../../loadtest/report.ts';
import { scrapeServerMetrics } from '../../loadtest/server-metrics.ts';
import { runStorm } from '../../loadtest/storm.ts';
import { CANCEL_GRACE_MS } from '../../server/lifecycle/drain.ts';
import { expectedBytes, firstMismatch, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { RawH2Connection } from '../support/raw-h2.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { spawnServer } from '../support/server-process.ts';
import type { ServerProcess } from '../support/server-process.ts';

const ANY_STREAM_ID = 2 ** 31 - 1;
/** What the load tool may call an unprocessed stream it retried (loadtest/range-stream.ts). */
const RETRYABLE = new Set([
  'above the GOAWAY last-stream-id',
  'REFUSED_STREAM before any response',
  'opened after GOAWAY',
  'connection refused (the next origin takes it)',
]);

describe('graceful shutdown and rotation', () => {
  let library: FixtureLibrary;
  const processes: ServerProcess[] = [];
  const servers: TestServer[] = [];
  before(async () => {
    library = await makeFixtureLibrary();
  });
  after(async () => {
    for (const p of processes) p.kill();
    for (const s of servers) await s.close(0);
  });
  const spawnOne = async (env: Record<string, string> = {}): Promise<ServerProcess> => {
    const p = await spawnServer({ MEDIA_ROOT: library.root, ...env });
    processes.push(p);
    return p;
  };
  const startOne = async (env: Record<string, string> = {}): Promise<TestServer> => {
    const s = await startTestServer(library.root, env);
    servers.push(s);
    return s;
  };

  it('SIGTERM mid-storm: exit 0 within the deadline, every stream verified, unprocessed ones served by a second instance', async () => {
    const drainTimeoutMs = 5000;
    const first = await spawnOne({ DRAIN_TIMEOUT_MS: String(drainTimeoutMs) });
    const second = await spawnOne();
    const retried = new Map<string, number>();
    const failures: string[] = [];
    let sigtermAt = 0;
    const timer = setTimeout(() => (sigtermAt = first.signal('SIGTERM')), 1500);
    const report = await runStorm(
      {
        urls: [`${first.origin}/media/video.mp4`],
        tls: { insecure: true },
        profile: 'max-rate',
        viewers: 4,
        connectionsPerViewer: 2,
        durationMs: 4000,
        verify: true,
        seed: 41,
        metricsUrl: null,
        fallbackOrigins: [second.origin],
      },
      {
        onRetry: (detail) => retried.set(detail, (retried.get(detail) ?? 0) + 1),
        onFailure: (cls, detail) => failures.push(`${cls}: ${detail}`),
      },
    );
    clearTimeout(timer);
    const exit = await first.exited;
    const drained = await first.waitForLog('drained');
    const { timeline, ttfbHistogram, corruptions, ...figures } = report;
    const exitMs = Math.round(exit.atMs - sigtermAt);
    console.log(`# drain storm: exit ${exit.code} ${exitMs} ms after SIGTERM; retried ${JSON.stringify(Object.fromEntries(retried))}; drained ${JSON.stringify(drained)}; storm ${JSON.stringify(figures)}`);

    assert.ok(sigtermAt > 0, 'SIGTERM was sent mid-storm');
    assert.equal(exit.code, 0, `exit code (signal ${exit.signal})`);
    assert.ok(exitMs < drainTimeoutMs + 2000, `exited ${exitMs} ms after SIGTERM`);
    await first.waitForLog('draining');
    assert.equal(drained.isDeadlineReached, false, 'the storm\'s streams all ended before the deadline');
    // Every stream that got response headers received every byte it read, verified.
    assert.deepEqual(failures, []);
    assert.equal(report.corruptBytes, 0);
    for (const cls of FAILURE_CLASSES) assert.equal(report.failures[cls], 0, cls);
    assert.ok(report.bytesVerified > 0 && report.bytesVerified === report.bytesReceived, 'every byte received was verified');
    // Unprocessed streams were retried, never failed, and the second instance served them.
    assert.ok(report.gracefulGoaways > 0, 'the draining instance sent GOAWAY');
    assert.ok(report.retries > 0, 'unprocessed streams were retried');
    for (const detail of retried.keys()) assert.ok(RETRYABLE.has(detail), `retried as "${detail}"`);
    const served = await scrapeServerMetrics(`${second.origin}/metrics`, { insecure: true });
    assert.ok('figures' in served && served.figures.media_responses_total > 0, 'the second instance served the retried seeks');
    assert.ok(report.ok);

    const secondSigtermAt = second.signal('SIGTERM');
    const secondExit = await second.exited;
    assert.equal(secondExit.code, 0);
    assert.ok(secondExit.atMs - secondSigtermAt < 3000);
  });

  it('SIGTERM: a response in flight finishes with all its bytes; one whose client stopped reading is cancelled at the deadline; exit 0', async () => {
    const drainTimeoutMs = 1500;
    const server = await spawnOne({ DRAIN_TIMEOUT_MS: String(drainTimeoutMs) });
    const { salt } = library.files.get('seek.bin')!;
    const connect = (): http2.ClientHttp2Session => {
      const session = http2.connect(server.origin, { rejectUnauthorized: false });
      session.on('error', () => {});
      return session;
    };
    const reader = connect();
    const staller = connect();
    const goaways: [number, number][] = [];
    reader.on('goaway', (code: number, last: number) => goaways.push([code, last]));
    const start = 1000;
    const length = 8 * 1024 * 1024;
    const full = openPaused(reader, `bytes=${start}-${start + length - 1}`);
    const stalled = openPaused(staller, 'bytes=0-');
    await Promise.all([full.firstChunk, stalled.firstChunk]);

    const sigtermAt = server.signal('SIGTERM');
    await server.waitForLog('draining');
    full.stream.resume(); // the stalled one never reads again
    const [fullEnd, stalledEnd, exit] = await Promise.all([full.done, stalled.done, server.exited]);
    const drained = await server.waitForLog('drained');
    const exitMs = Math.round(exit.atMs - sigtermAt);
    const cancelMs = Math.round(stalledEnd.atMs - sigtermAt);
    console.log(`# drain deadline: exit ${exit.code} ${exitMs} ms after SIGTERM, stalled stream cancelled after ${cancelMs} ms; goaways ${JSON.stringify(goaways)}; drained ${JSON.stringify(drained)}`);

    assert.equal(fullEnd.status, 206);
    assert.equal(fullEnd.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(fullEnd.body.length, length);
    assert.equal(firstMismatch(fullEnd.body, start, salt), -1, 'the finished response is byte-exact');
    assert.equal(stalledEnd.rstCode, http2.constants.NGHTTP2_CANCEL, 'the stalled stream got RST_STREAM(CANCEL)');
    assert.ok(cancelMs >= drainTimeoutMs - 100 && cancelMs < drainTimeoutMs + 1000, `cancelled after ${cancelMs} ms`);
    assert.equal(exit.code, 0);
    assert.ok(exitMs < drainTimeoutMs + CANCEL_GRACE_MS + 1500, `exited ${exitMs} ms after SIGTERM`);
    assert.deepEqual(goaways[0], [http2.constants.NGHTTP2_NO_ERROR, ANY_STREAM_ID], 'first step: GOAWAY(NO_ERROR, 2^31-1)');
    assert.deepEqual(goaways[1], [http2.constants.NGHTTP2_NO_ERROR, 1], 'final GOAWAY with the real last stream id');
    assert.equal(drained.isDeadlineReached, true);
    assert.deepEqual(drained.streams, { inFlight: 2, closed: 1, cancelled: 1 });
    reader.destroy();
    staller.destroy();
  });

  it('a second signal during the drain exits at once, with 130 for SIGINT', async () => {
    const server = await spawnOne({ DRAIN_TIMEOUT_MS: '10000' });
    const session = http2.connect(server.origin, { rejectUnauthorized: false });
    session.on('error', () => {});
    const stalled = openPaused(session, 'bytes=0-');
    await stalled.firstChunk;
    server.signal('SIGTERM');
    assert.equal((await server.waitForLog('draining')).signal, 'SIGTERM');
    const secondAt = server.signal('SIGINT');
    const exit = await server.exited;
    assert.equal(exit.code, 130);
    assert.ok(exit.atMs - secondAt < 1000, `exited ${Math.round(exit.atMs - secondAt)} ms after the second signal`);
    session.destroy();
  });

  it('the deadline cancels stalled streams on TLS and h2c with stream.close(CANCEL): every slab back, none released early', async () => {
    const server = await startOne();
    const opened = (['tls', 'h2c'] as const).map((transport) => openPaused(connectH2(server, transport), 'bytes=0-'));
    await Promise.all(opened.map((o) => o.firstChunk));
    const report = await server.drain(200);
    const ends = await Promise.all(opened.map((o) => o.done));
    assert.equal(report.isDeadlineReached, true);
    assert.equal(report.streams.cancelled, 2);
    for (const end of ends) assert.equal(end.rstCode, http2.constants.NGHTTP2_CANCEL);
    await assertNoLeaks(server);
  });

  it('HTTP/1.1: an idle keep-alive socket is closed at once; requests in progress get their whole response, then the socket closes', async () => {
    const server = await startOne();
    const video = library.files.get('video.mp4')!;
    const seek = library.files.get('seek.bin')!;
    const idle = await connectHttp1(server);
    idle.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.equal((await readResponse(idle)).status, 200);
    // Head not sent yet: the request is still arriving when the drain starts.
    const arriving = await connectHttp1(server);
    arriving.write('GET /media/video.mp4 HTTP/1.1\r\nHost: localhost\r\nRange: bytes=100-100099\r\n');
    // Head sent with keep-alive before the drain, body in progress.
    const sending = await connectHttp1(server);
    sending.write('GET /media/seek.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-8388607\r\n\r\n');
    const sendingResponse = readResponse(sending, { pauseAfterHead: true });
    await sendingResponse.head;
    await new Promise((resolve) => setTimeout(resolve, 50));

    const drainedAt = performance.now();
    const drained = server.drain(5000);
    const idleClosedAt = await socketClosed(idle);
    assert.ok(idleClosedAt - drainedAt < 500, `idle socket closed after ${Math.round(idleClosedAt - drainedAt)} ms`);

    arriving.write('\r\n');
    const late = await readResponse(arriving);
    assert.equal(late.status, 206);
    assert.equal(late.headers.connection, 'close');
    assert.ok(expectedBytes(100, 100_000, video.salt).equals(late.body), 'whole response, right bytes');
    await socketClosed(arriving);

    sending.resume();
    const big = await sendingResponse;
    assert.equal(big.status, 206);
    assert.notEqual(big.headers.connection, 'close', 'its head went out before the drain');
    assert.equal(big.body.length, 8 * 1024 * 1024);
    assert.equal(firstMismatch(big.body, 0, seek.salt), -1);
    await socketClosed(sending);

    const report = await drained;
    assert.equal(report.http1Sockets, 3);
    assert.equal(report.isDeadlineReached, false);
    assert.ok(report.durationMs < 5000);
    await assertNoLeaks(server);
  });

  it('/healthz answers 503 {"status":"draining"} during the drain', async () => {
    const server = await startOne();
    const socket = await connectHttp1(server);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const drained = server.drain(2000);
    assert.equal(server.isDraining, true);
    socket.write('\r\n');
    const response = await readResponse(socket);
    assert.equal(response.status, 503);
    assert.deepEqual(JSON.parse(response.body.toString('utf8')), { status: 'draining' });
    assert.equal(response.headers.connection, 'close');
    await drained;
  });

  it('rotation after SESSION_MAX_STREAMS: GOAWAY(NO_ERROR) in two steps, the stream in flight finishes, counted as max-streams', async () => {
    const server = await startOne({ SESSION_MAX_STREAMS: '4' });
    const { salt } = library.files.get('seek.bin')!;
    const session = connectH2(server, 'tls');
    const goaways: [number, number][] = [];
    session.on('goaway', (code: number, last: number) => goaways.push([code, last]));
    const inFlight = openPaused(session, 'bytes=0-4194303');
    await inFlight.firstChunk;
    for (let i = 0; i < 3; i++) assert.equal((await h2Request(session, { ':path': '/media/small.txt' })).status, 200);
    await waitFor(() => goaways.length >= 2, 3000, 'two GOAWAYs');
    inFlight.stream.resume();
    const end = await inFlight.done;
    assert.equal(end.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(end.body.length, 4 * 1024 * 1024);
    assert.equal(firstMismatch(end.body, 0, salt), -1);
    assert.deepEqual(goaways.slice(0, 2), [[0, ANY_STREAM_ID], [0, 7]]);
    assert.match(await server.metrics.registry.metrics(), /media_session_rotations_total\{reason="max-streams"\} 1\n/);
    await assertNoLeaks(server);
  });

  it('rotation after SESSION_MAX_AGE_MS, on the wire: SETTINGS and GOAWAY(2^31-1), the final GOAWAY after the ACK; a late stream is left unprocessed', async () => {
    const maxAgeMs = 300;
    const server = await startOne({ SESSION_MAX_AGE_MS: String(maxAgeMs) });
    const { salt } = library.files.get('seek.bin')!;
    const connectedAt = performance.now();
    const raw = await RawH2Connection.connect({ host: '127.0.0.1', port: server.h2cPort! });
    const get = (range: string): number =>
      raw.request([[':method', 'GET'], [':scheme', 'http'], [':authority', 'localhost'], [':path', '/media/seek.bin'], ['range', range]]);
    const frames: string[] = [];
    const body: Buffer[] = [];
    let firstGoawayAt = 0;
    let racing = 0;
    let isEnded = false;
    raw.on('settings', (values) => frames.push(`SETTINGS(${values.size})`));
    raw.on('rst', (id, code) => frames.push(`RST_STREAM(${id}, ${code})`));
    raw.on('headers', (id, status) => id !== 1 && frames.push(`HEADERS(${id}, ${status})`));
    raw.on('data', (id, payload, endStream) => {
      if (id === 1) body.push(payload);
      else frames.push(`DATA(${id})`);
      if (id === 1 && endStream) isEnded = true;
    });
    raw.on('goaway', (last, code) => {
      frames.push(`GOAWAY(${last}, ${code})`);
      if (firstGoawayAt > 0) return;
      firstGoawayAt = performance.now();
      racing = get('bytes=0-99'); // as if sent before the client read the GOAWAY
    });
    const streamId = get('bytes=0-1048575');
    raw.pause(streamId);
    await waitFor(() => frames.some((f) => f.startsWith('GOAWAY(1,')), maxAgeMs + 3000, () => `the final GOAWAY; frames so far: ${frames.join(' ')}`);
    raw.resume(streamId);
    await waitFor(() => isEnded, 3000, 'stream 1 to end');
    await new Promise((resolve) => setTimeout(resolve, 50));
    console.log(`# max-age rotation on the wire: first GOAWAY ${Math.round(firstGoawayAt - connectedAt)} ms after connect; frames ${frames.join(' ')}`);

    const ageMs = firstGoawayAt - connectedAt;
    assert.ok(ageMs >= maxAgeMs - 20 && ageMs < maxAgeMs + 1000, `rotated at ${Math.round(ageMs)} ms`);
    // nghttp2 sends SETTINGS ahead of the GOAWAY; the client's ACK of it times the final GOAWAY.
    assert.deepEqual(frames.slice(0, 3), ['SETTINGS(0)', `GOAWAY(${ANY_STREAM_ID}, 0)`, 'GOAWAY(1, 0)']);
    assert.equal(racing, 3);
    assert.ok(!frames.some((f) => /\(3[,)]/.test(f) && !f.startsWith('GOAWAY')), 'the racing stream got no answer: it is above last-stream-id 1');
    const received = Buffer.concat(body);
    assert.equal(received.length, 1024 * 1024);
    assert.equal(firstMismatch(received, 0, salt), -1);
    assert.match(await server.metrics.registry.metrics(), /media_session_rotations_total\{reason="max-age"\} 1\n/);
    raw.destroy();
    await assertNoLeaks(server);
  });
});

interface PausedStream {
  readonly stream: http2.ClientHttp2Stream;
  readonly firstChunk: Promise<void>;
  readonly done: Promise<{ status: number; body: Buffer; rstCode: number | undefined; atMs: number }>;
}

/** GET /media/seek.bin with a range, paused after its first chunk (the client stops reading). */
function openPaused(session: http2.ClientHttp2Session, range: string): PausedStream {
  const stream = session.request({ ':path': '/media/seek.bin', range });
  const chunks: Buffer[] = [];
  let status = 0;
  const firstChunk = Promise.withResolvers<void>();
  stream.on('response', (headers) => (status = Number(headers[':status'])));
  stream.on('data', (chunk: Buffer) => {
    if (chunks.length === 0) {
      stream.pause();
      firstChunk.resolve();
    }
    chunks.push(chunk);
  });
  stream.on('error', () => {});
  const done = new Promise<{ status: number; body: Buffer; rstCode: number | undefined; atMs: number }>((resolve) => {
    stream.on('close', () => resolve({ status, body: Buffer.concat(chunks), rstCode: stream.rstCode, atMs: performance.now() }));
  });
  return { stream, firstChunk: firstChunk.promise, done };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function connectHttp1(server: TestServer): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: server.tlsCert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function socketClosed(socket: tls.TLSSocket): Promise<number> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve(performance.now());
    else socket.once('close', () => resolve(performance.now()));
  });
}

interface Http1Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** One HTTP/1.1 response with a Content-Length body; optionally pauses the socket after the head. */
function readResponse(socket: tls.TLSSocket, options: { pauseAfterHead?: boolean } = {}): Promise<Http1Response> & { head: Promise<void> } {
  const head = Promise.withResolvers<void>();
  const response = new Promise<Http1Response>((resolve, reject) => {
    let headBytes = Buffer.alloc(0);
    const body: Buffer[] = [];
    let bodyBytes = 0;
    let parsed: { status: number; headers: Record<string, string>; length: number } | undefined;
    const onData = (chunk: Buffer): void => {
      if (!parsed) {
        headBytes = Buffer.concat([headBytes, chunk]);
        const end = headBytes.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine, ...lines] = headBytes.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        parsed = { status: Number(statusLine.split(' ')[1]), headers, length: Number(headers['content-length'] ?? 0) };
        chunk = headBytes.subarray(end + 4);
        head.resolve();
        if (options.pauseAfterHead) socket.pause();
      }
      body.push(chunk);
      bodyBytes += chunk.length;
      if (bodyBytes >= parsed.length) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve({ status: parsed.status, headers: parsed.headers, body: Buffer.concat(body).subarray(0, parsed.length) });
      }
    };
    const onClose = (): void => reject(new Error(`socket closed before the whole response (${bodyBytes} body bytes)`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
  return Object.assign(response, { head: head.promise });
}
