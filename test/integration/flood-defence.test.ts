// Flood defence (issue 4): a flood from one client ends that client's connection (GOAWAY
// ENHANCE_YOUR_CALM from our early-reset rule, or nghttp2's own limits) and keeps the client out
// for a while, while a normal client on another connection streams a whole file, every byte
// verified. And the opposite claim, with a negative control: real seek storms (seek-storm,
// paused viewer, the load tool's max-rate storm) never trip a penalty.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { encodeHeaderBlock } from '../support/hpack.ts';
import { countMismatches, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { ErrorCode, FrameType, RawH2Connection } from '../support/raw-h2.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { runPausedViewer } from '../support/paused-viewer.ts';
import { runSeekStorm } from '../support/seek-storm.ts';
import { runStorm } from '../../loadtest/storm.ts';

type Header = [string, string];
type Transport = 'tls' | 'h2c';

const FLOOD_LINE = 'http2 connection ended as a flood';

describe('flood defence', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  before(async () => {
    library = await makeFixtureLibrary();
  });
  after(async () => {
    for (const s of servers) await s.close(0);
  });
  const start = async (env: Record<string, string> = {}): Promise<TestServer> => {
    const server = await startTestServer(library.root, env);
    servers.push(server);
    return server;
  };
  const seekFile = () => library.files.get('seek.bin')!;

  /** Each raw connection's socket close and GOAWAYs (the first is the one a client acts on), watched from the start. */
  const socketClosed = new WeakMap<RawH2Connection, Promise<void>>();
  const goaways = new WeakMap<RawH2Connection, { lastStreamId: number; errorCode: number }[]>();
  const firstGoaway = (conn: RawH2Connection) => goaways.get(conn)![0];
  const connectRaw = async (server: TestServer, transport: Transport): Promise<RawH2Connection> => {
    const conn = await RawH2Connection.connect(
      transport === 'tls'
        ? { host: '127.0.0.1', port: server.port, tls: true, servername: 'localhost' }
        : { host: '127.0.0.1', port: server.h2cPort! },
    );
    conn.on('error', () => {}); // what the attacker sees is checked through GOAWAY and RST_STREAM
    socketClosed.set(conn, new Promise((resolve) => conn.once('close', () => resolve())));
    const seen: { lastStreamId: number; errorCode: number }[] = [];
    goaways.set(conn, seen);
    conn.on('goaway', (lastStreamId, errorCode) => seen.push({ lastStreamId, errorCode }));
    return conn;
  };
  const request = (transport: Transport, method: string, path: string, extra: Header[] = []): Header[] => [
    [':method', method],
    [':scheme', transport === 'tls' ? 'https' : 'http'],
    [':authority', 'localhost'],
    [':path', path],
    ...extra,
  ];
  const get = (transport: Transport, path: string, extra: Header[] = []): Header[] => request(transport, 'GET', path, extra);

  /**
   * The normal client: Node's own HTTP/2 client over TLS downloads all of seek.bin (24 MiB),
   * pausing a little every 256 KiB so the download spans the flood, and checks every byte.
   */
  const downloadVerified = (session: http2.ClientHttp2Session) => {
    const file = seekFile();
    let received = 0;
    let corrupt = 0;
    const done = new Promise<{ status: number; received: number; corrupt: number; rstCode: number | undefined }>((resolve) => {
      const req = session.request({ ':path': '/media/seek.bin' });
      let status = 0;
      let sincePause = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (chunk: Buffer) => {
        corrupt += countMismatches(chunk, received, file.salt);
        received += chunk.length;
        sincePause += chunk.length;
        if (sincePause >= 256 * 1024) {
          sincePause = 0;
          req.pause();
          setTimeout(() => req.resume(), 3);
        }
      });
      req.on('close', () => resolve({ status, received, corrupt, rstCode: req.rstCode }));
      req.on('error', () => {});
      req.end();
    });
    return { done, received: () => received };
  };
  const assertDownloadIntact = (result: Awaited<ReturnType<typeof downloadVerified>['done']>, what: string): void => {
    assert.equal(result.status, 200, what);
    assert.equal(result.received, seekFile().size, `${what}: whole file`);
    assert.equal(result.corrupt, 0, `${what}: every byte verified`);
  };

  const penalties = async (server: TestServer): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await server.metrics.registry.metrics()).matchAll(/^media_flood_penalties_total\{reason="([^"]+)"\} (\d+)/gm)) {
      out[m[1]!] = Number(m[2]);
    }
    return out;
  };
  const floodLines = (server: TestServer) => server.logLines.filter((l) => l.msg === FLOOD_LINE);

  /** Resolves when the raw connection has closed; fails after `ms`. */
  const closed = (conn: RawH2Connection, ms = 5000): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('attacker connection still open')), ms);
    });
    return Promise.race([socketClosed.get(conn)!, timeout]).finally(() => clearTimeout(timer));
  };
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

  /** Runs `attack` while the normal client downloads, then checks the download and the server. */
  const duringDownload = async (normal: http2.ClientHttp2Session, attack: () => Promise<void>) => {
    const download = downloadVerified(normal);
    while (download.received() === 0) await new Promise((r) => setTimeout(r, 2));
    await attack();
    const receivedWhenAttackEnded = download.received();
    const result = await download.done;
    assertDownloadIntact(result, 'normal client during the flood');
    assert.ok(receivedWhenAttackEnded < seekFile().size, 'the download was still running when the flood was dealt with');
    const health = await h2Request(normal, { ':path': '/healthz' });
    assert.equal(health.status, 200, 'the server still answers on the normal connection');
  };

  for (const { transport, batch } of [
    { transport: 'tls', batch: 3000 },
    { transport: 'h2c', batch: 20 },
  ] as const) {
    const how = batch === 3000 ? 'in one burst' : `paced, ${batch} per event-loop turn`;
    it(`Rapid Reset over ${transport} (HEADERS + RST_STREAM x 3,000, ${how}): GOAWAY(ENHANCE_YOUR_CALM), client kept out, the other client unaffected`, async () => {
      const server = await start();
      const normal = connectH2(server, 'tls');
      let attacker!: RawH2Connection;
      let sent = 0;
      await duringDownload(normal, async () => {
        attacker = await connectRaw(server, transport);
        for (let i = 0; i < 3000 && !attacker.isClosed; i++) {
          // As Rapid Reset tools do: each RST_STREAM in the same write as its HEADERS.
          attacker.together(() => attacker.reset(attacker.request(get(transport, '/media/seek.bin'))));
          sent++;
          if (sent % batch === 0) await tick();
        }
        await closed(attacker);
      });
      console.log(`# rapid reset ${transport}: ${sent} pairs sent, GOAWAYs ${JSON.stringify(goaways.get(attacker))}`);
      assert.equal(firstGoaway(attacker)?.errorCode, ErrorCode.ENHANCE_YOUR_CALM);
      assert.ok(firstGoaway(attacker)!.lastStreamId > 0 && firstGoaway(attacker)!.lastStreamId < 2 ** 31 - 1, 'GOAWAY carries the real last stream id');
      assert.deepEqual(await penalties(server), { 'rapid-reset': 1 });
      // The penalty box: the same client's next connection is closed at once.
      await assert.rejects(connectRaw(server, 'h2c'));
      assert.deepEqual(await penalties(server), { 'rapid-reset': 1, 'penalised-client': 1 });
      const lines = floodLines(server);
      assert.equal(lines.length, 1, 'one log line for the penalised connection');
      assert.equal(lines[0]!.reason, 'rapid-reset');
      assert.ok(!server.logLines.some((l) => JSON.stringify(l).includes('    at ')), 'no stack trace logged');
      normal.close();
      await assertNoLeaks(server);
    });
  }

  it('Rapid Reset next to a stream the server is still writing: that stream is cancelled cleanly (its bytes verified), then GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const server = await start();
    const file = seekFile();
    const attacker = await connectRaw(server, 'h2c');
    // A stream answered and stalled behind flow control: the server has writes queued on it.
    const stalled = attacker.request(get('h2c', '/media/seek.bin'));
    attacker.pause(stalled);
    let position = 0;
    let corrupt = 0;
    let stalledReset: number | undefined;
    attacker.on('data', (id, payload) => {
      if (id !== stalled) return;
      corrupt += countMismatches(payload, position, file.salt);
      position += payload.length;
    });
    attacker.on('rst', (id, code) => {
      if (id === stalled) stalledReset = code;
    });
    while (position === 0) await new Promise((r) => setTimeout(r, 2));
    for (let i = 0; i < 3000 && !attacker.isClosed; i++) {
      attacker.together(() => attacker.reset(attacker.request(get('h2c', '/media/seek.bin'))));
      if (i % 20 === 19) await tick();
    }
    await closed(attacker);
    assert.equal(stalledReset, ErrorCode.CANCEL, 'the answered stream was cancelled with RST_STREAM(CANCEL)');
    assert.equal(firstGoaway(attacker)?.errorCode, ErrorCode.ENHANCE_YOUR_CALM);
    assert.ok(position > 0 && corrupt === 0, `${position} bytes on the answered stream, ${corrupt} corrupt`);
    assert.deepEqual(await penalties(server), { 'rapid-reset': 1 });
    await assertNoLeaks(server);
  });

  it('MadeYouReset (requests nghttp2 must reset: DATA shorter than Content-Length): GOAWAY(ENHANCE_YOUR_CALM), the other client unaffected', async () => {
    const server = await start();
    const normal = connectH2(server, 'tls');
    let attacker!: RawH2Connection;
    const resets = new Map<number, number>();
    await duringDownload(normal, async () => {
      attacker = await connectRaw(server, 'h2c');
        attacker.on('rst', (_id, code) => resets.set(code, (resets.get(code) ?? 0) + 1));
      for (let i = 0; i < 3000 && !attacker.isClosed; i++) {
        attacker.together(() => {
          const id = attacker.request(request('h2c', 'POST', '/media/seek.bin', [['content-length', '10']]), false);
          attacker.sendFrame(FrameType.DATA, 0x1, id, Buffer.from('abc'));
        });
        if (i % 20 === 19) await tick();
      }
      await closed(attacker);
    });
    console.log(`# made-you-reset: server resets ${JSON.stringify([...resets])}, GOAWAY ${firstGoaway(attacker)?.errorCode}`);
    assert.ok((resets.get(ErrorCode.PROTOCOL_ERROR) ?? 0) > 0, 'nghttp2 reset the malformed streams');
    assert.equal(firstGoaway(attacker)?.errorCode, ErrorCode.ENHANCE_YOUR_CALM);
    assert.deepEqual(await penalties(server), { 'made-you-reset': 1 });
    normal.close();
    await assertNoLeaks(server);
  });

  describe("nghttp2's and Node's own limits end that connection (or stream) only", () => {
    const pingPayload = Buffer.alloc(8);
    const settingsEntries = (n: number): Buffer => {
      const payload = Buffer.alloc(6 * n);
      for (let i = 0; i < n; i++) {
        payload.writeUInt16BE(0x4, 6 * i); // SETTINGS_INITIAL_WINDOW_SIZE
        payload.writeUInt32BE(65535, 6 * i + 2);
      }
      return payload;
    };
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    interface FloodCase {
      readonly name: string;
      readonly attack: (c: RawH2Connection) => Promise<void> | void;
      /** A GOAWAY with this code, or RST_STREAM with it on the attacking streams only. */
      readonly expect: { goaway: number; reason: string } | { rst: number };
    }
    const cases: readonly FloodCase[] = [
      {
        name: 'CONTINUATION flood (one HEADERS, then 10,000 CONTINUATION frames)',
        attack: (c) => {
          c.sendFrame(FrameType.HEADERS, 0, 1, encodeHeaderBlock(get('h2c', '/media/small.txt')));
          for (let i = 0; i < 10_000; i++) c.sendFrame(FrameType.CONTINUATION, 0, 1, encodeHeaderBlock([['x-a', 'b']]));
        },
        expect: { goaway: ErrorCode.INTERNAL_ERROR, reason: 'continuation-flood' },
      },
      {
        name: 'a header field larger than HPACK accepts (200 KiB)',
        attack: (c) => void c.request(get('h2c', '/media/small.txt', [['x-big', 'a'.repeat(200 * 1024)]])),
        expect: { goaway: ErrorCode.COMPRESSION_ERROR, reason: 'protocol-error' },
      },
      {
        name: 'header lists over MAX_HEADER_LIST_BYTES (40 KiB, x 50)',
        attack: (c) => {
          for (let i = 0; i < 50; i++) c.request(get('h2c', '/media/small.txt', [['x-big', 'a'.repeat(40 * 1024)]]));
        },
        expect: { rst: ErrorCode.ENHANCE_YOUR_CALM },
      },
      {
        name: 'more header fields than maxHeaderListPairs (200, x 300 streams)',
        attack: (c) => {
          const many = Array.from({ length: 200 }, (_, i): Header => [`x-h${i}`, 'v']);
          for (let i = 0; i < 300; i++) c.request(get('h2c', '/media/small.txt', many));
        },
        expect: { rst: ErrorCode.ENHANCE_YOUR_CALM },
      },
      {
        name: 'PING flood (100,000 PINGs)',
        attack: (c) => {
          for (let i = 0; i < 100_000; i++) c.sendFrame(FrameType.PING, 0, 0, pingPayload);
        },
        expect: { goaway: ErrorCode.INTERNAL_ERROR, reason: 'ack-flood' },
      },
      {
        name: 'SETTINGS flood (100,000 SETTINGS frames)',
        attack: (c) => {
          const one = settingsEntries(1);
          for (let i = 0; i < 100_000; i++) c.sendFrame(FrameType.SETTINGS, 0, 0, one);
        },
        expect: { goaway: ErrorCode.INTERNAL_ERROR, reason: 'ack-flood' },
      },
      {
        name: 'a SETTINGS frame with more entries than maxSettings (33)',
        attack: (c) => c.sendFrame(FrameType.SETTINGS, 0, 0, settingsEntries(33)),
        expect: { goaway: ErrorCode.ENHANCE_YOUR_CALM, reason: 'protocol-error' },
      },
      {
        name: 'invalid frames: 1,100 malformed requests (an uppercase header name), 10 per turn',
        attack: async (c) => {
          for (let i = 0; i < 1100 && !c.isClosed; i++) {
            c.request(get('h2c', '/media/small.txt', [['X-Upper', 'v']]));
            if (i % 10 === 9) await tick();
          }
        },
        expect: { goaway: ErrorCode.INTERNAL_ERROR, reason: 'invalid-frames' },
      },
      {
        name: 'classic MadeYouReset frame (WINDOW_UPDATE 0 on an open stream): one is a connection error in nghttp2 1.70',
        attack: (c) => {
          const id = c.request(get('h2c', '/media/seek.bin'));
          c.sendFrame(FrameType.WINDOW_UPDATE, 0, id, u32(0));
        },
        expect: { goaway: ErrorCode.PROTOCOL_ERROR, reason: 'protocol-error' },
      },
    ];

    let server: TestServer;
    let normal: http2.ClientHttp2Session;
    before(async () => {
      // No penalty box here, so each case can connect; the box has its own tests.
      server = await start({ CLIENT_PENALTY_MS: '0' });
      normal = connectH2(server, 'tls');
    });
    after(() => normal.close());

    for (const c of cases) {
      it(c.name, async () => {
        const before = await penalties(server);
        let attacker!: RawH2Connection;
        const resets = new Map<number, number>();
        let answered = 0;
        await duringDownload(normal, async () => {
          attacker = await connectRaw(server, 'h2c');
            attacker.on('rst', (_id, code) => resets.set(code, (resets.get(code) ?? 0) + 1));
          attacker.on('headers', () => answered++);
          await c.attack(attacker);
          if ('goaway' in c.expect) await closed(attacker);
          else while ([...resets.values()].reduce((a, b) => a + b, 0) === 0) await new Promise((r) => setTimeout(r, 5));
        });
        const after = await penalties(server);
        const added = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
        console.log(`# ${c.name}: GOAWAY ${firstGoaway(attacker)?.errorCode}, RST_STREAM ${JSON.stringify([...resets])}, penalties ${JSON.stringify(added)}`);
        if ('goaway' in c.expect) {
          assert.equal(firstGoaway(attacker)?.errorCode, c.expect.goaway);
          assert.deepEqual(added, { [c.expect.reason]: 1 });
        } else {
          assert.deepEqual([...resets.keys()], [c.expect.rst], 'only those streams were reset');
          assert.equal(answered, 0);
          assert.equal(attacker.lastGoaway, undefined, 'the connection lives on');
          // ... and still serves a normal request.
          const ok = new Promise<number | undefined>((resolve) => attacker.once('headers', (_id, status) => resolve(status)));
          attacker.request(get('h2c', '/media/small.txt'));
          assert.equal(await ok, 200);
          assert.deepEqual(added, {});
          attacker.destroy();
        }
        await assertNoLeaks(server);
      });
    }
  });

  describe('connections per client', () => {
    it('MAX_CONNECTIONS_PER_CLIENT: connections past the limit (TLS and h2c counted together) are closed at once, counted, logged once', async () => {
      const server = await start({ MAX_CONNECTIONS_PER_CLIENT: '4' });
      const open = [await connectRaw(server, 'tls'), await connectRaw(server, 'h2c'), await connectRaw(server, 'tls'), await connectRaw(server, 'h2c')];
      for (let i = 0; i < 6; i++) await assert.rejects(connectRaw(server, i % 2 ? 'tls' : 'h2c'));
      assert.deepEqual(await penalties(server), { 'client-connections': 6 });
      const lines = server.logLines.filter((l) => l.msg === 'connection refused');
      assert.equal(lines.length, 1, 'the refusals are logged once (rate-limited)');
      assert.equal(lines[0]!.reason, 'client-connections');
      // The admitted ones are unaffected, and a closed one frees its place.
      const status = new Promise<number | undefined>((resolve) => open[0]!.once('headers', (_id, s) => resolve(s)));
      open[0]!.request(get('tls', '/media/small.txt'));
      assert.equal(await status, 200);
      await open[1]!.close();
      await new Promise((r) => setTimeout(r, 50));
      const again = await connectRaw(server, 'h2c');
      for (const c of [again, ...open]) c.destroy();
      await assertNoLeaks(server);
    });

    it('CLIENT_PENALTY_MS: a penalised client is let in again once its penalty is over', async () => {
      const server = await start({ CLIENT_PENALTY_MS: '300' });
      const attacker = await connectRaw(server, 'h2c');
        for (let i = 0; i < 500 && !attacker.isClosed; i++) attacker.reset(attacker.request(get('h2c', '/media/small.txt')));
      await closed(attacker);
      await assert.rejects(connectRaw(server, 'tls'));
      await new Promise((r) => setTimeout(r, 400));
      const back = await connectRaw(server, 'tls');
      back.destroy();
      assert.deepEqual(await penalties(server), { 'rapid-reset': 1, 'penalised-client': 1 });
      await assertNoLeaks(server);
    });
  });

  describe('no false positive: real seek storms are never penalised', () => {
    const seekStorm = (server: TestServer, transport: Transport, sessions = 4, seeksPerSession = 250) => {
      const file = seekFile();
      return runSeekStorm({
        connect: () => connectH2(server, transport),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        sessions,
        seeksPerSession,
        inFlight: 2,
        readMinBytes: 1,
        readMaxBytes: 1024 * 1024,
      });
    };
    /** Node's own client opening streams and cancelling each at once: Rapid Reset in miniature. */
    const instantCancels = (server: TestServer, count: number): Promise<number | undefined> =>
      new Promise((resolve) => {
        const session = connectH2(server, 'h2c');
        let goaway: number | undefined;
        session.on('goaway', (code: number) => (goaway = code));
        session.on('connect', () => {
          for (let i = 0; i < count; i++) {
            const req = session.request({ ':path': '/media/seek.bin' });
            req.on('error', () => {});
            req.close(http2.constants.NGHTTP2_CANCEL);
          }
          setTimeout(() => {
            session.close();
            resolve(goaway);
          }, 200);
        });
      });

    let server: TestServer;
    before(async () => {
      server = await start();
    });

    for (const transport of ['tls', 'h2c'] as const) {
      it(`seek storm over ${transport} (4 sessions x 250 seeks, cancelled mid-body)`, async () => {
        const report = await seekStorm(server, transport);
        assert.deepEqual(report.failures, {});
        assert.equal(report.corruptBytes, 0);
        assert.deepEqual(await penalties(server), {});
        await assertNoLeaks(server);
      });
    }

    it('paused viewer (1,000 seeks on one connection, data queued behind flow control)', async () => {
      const file = seekFile();
      const report = await runPausedViewer({
        connect: () => connectH2(server, 'tls', { settings: { initialWindowSize: 65535 } }),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        seeks: 1000,
        readMaxBytes: 256 * 1024,
        pauseMs: 3,
      });
      assert.deepEqual(report.failures, {}, 'no ENHANCE_YOUR_CALM, no error GOAWAY');
      assert.equal(report.seeksWithAllBytes, 1000);
      assert.deepEqual(await penalties(server), {});
      await assertNoLeaks(server);
    });

    it("load tool, max-rate profile (each viewer seeks again as soon as its read is done)", async () => {
      const report = await runStorm({
        urls: [`${server.tlsUrl}/media/video.mp4`],
        tls: { insecure: false, caPem: server.tlsCert },
        profile: 'max-rate',
        viewers: 4,
        durationMs: 2000,
        maxSeeks: 20_000,
        verify: true,
        seed: 41,
      });
      console.log(`# max-rate: ${report.seeksCompleted} seeks, ${report.gracefulGoaways} graceful GOAWAYs`);
      assert.ok(report.seeksCompleted > 500, `${report.seeksCompleted} seeks`);
      assert.equal(report.ok, true, JSON.stringify(report.failures));
      assert.equal(report.corruptBytes, 0);
      assert.deepEqual(await penalties(server), {});
      assert.deepEqual(floodLines(server), []);
      await assertNoLeaks(server);
    });

    it('a Rapid Reset flood next to an honest seek storm from another address: the flood is penalised, the storm has zero failures', async () => {
      const fresh = await start();
      // The honest viewers come from 127.0.0.2: the penalty is per client address, and the
      // storm reconnects on every graceful rotation.
      const file = seekFile();
      const storm = runSeekStorm({
        connect: () => connectH2(fresh, 'tls', { localAddress: '127.0.0.2' } as http2.SecureClientSessionOptions),
        path: '/media/seek.bin',
        size: file.size,
        salt: file.salt,
        sessions: 2,
        seeksPerSession: 300,
        inFlight: 2,
        readMinBytes: 1,
        readMaxBytes: 1024 * 1024,
      });
      const attacker = await connectRaw(fresh, 'h2c');
      for (let i = 0; i < 3000 && !attacker.isClosed; i++) {
        attacker.together(() => attacker.reset(attacker.request(get('h2c', '/media/seek.bin'))));
        if (i % 20 === 19) await tick();
      }
      await closed(attacker);
      const report = await storm;
      console.log(`# flood next to a seek storm: storm ${JSON.stringify({ failures: report.failures, corrupt: report.corruptBytes })}, attacker GOAWAYs ${JSON.stringify(goaways.get(attacker))}`);
      assert.equal(firstGoaway(attacker)?.errorCode, ErrorCode.ENHANCE_YOUR_CALM);
      assert.deepEqual(report.failures, {});
      assert.equal(report.corruptBytes, 0);
      assert.deepEqual(await penalties(fresh), { 'rapid-reset': 1 });
      await assertNoLeaks(fresh);
    });

    it('a fast scrubbing viewer (about 30 seeks per second for a minute) is never penalised', async () => {
      const report = await runStorm({
        urls: [`${server.tlsUrl}/media/video.mp4`],
        tls: { insecure: false, caPem: server.tlsCert },
        profile: 'scrubbing',
        seekIntervalMs: 33,
        viewers: 1,
        durationMs: 60_000,
        maxSeeks: 20_000,
        verify: true,
        seed: 43,
      });
      console.log(`# scrubbing for a minute: ${report.seeksCompleted} seeks (${report.seeksPerSec}/s), ${report.gracefulGoaways} graceful GOAWAYs`);
      assert.ok(report.seeksCompleted > 60 * 10, `${report.seeksCompleted} seeks: tens per second`);
      assert.equal(report.ok, true, JSON.stringify(report.failures));
      assert.equal(report.corruptBytes, 0);
      assert.deepEqual(await penalties(server), {});
      assert.deepEqual(floodLines(server), []);
      await assertNoLeaks(server);
    });

    it('negative control: with EARLY_RESET_BURST lowered to 10, 30 instant cancels are penalised, a seek storm still is not', async () => {
      // On the default server, the same 30 instant cancels stay within the budget.
      assert.equal(await instantCancels(server, 30), undefined);
      assert.deepEqual(await penalties(server), {});

      const strict = await start({ EARLY_RESET_BURST: '10', EARLY_RESET_RATE_PER_SEC: '1' });
      const report = await seekStorm(strict, 'h2c', 2, 150);
      assert.deepEqual(report.failures, {});
      assert.deepEqual(await penalties(strict), {}, 'a seek storm has no early resets to count');
      assert.equal(await instantCancels(strict, 30), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.deepEqual(await penalties(strict), { 'rapid-reset': 1 });
      await assertNoLeaks(strict);
    });
  });
});
