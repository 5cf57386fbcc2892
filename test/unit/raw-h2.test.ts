// Tests for the raw HTTP/2 test client (test/support/raw-h2.ts) and its HPACK codec,
// against node:http2 servers and a hand-driven TCP server for frame-level details.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';
import {
  encodeHeaderBlock, encodeInteger, HpackDecoder, HpackError, HUFFMAN_CODES, huffmanDecode, huffmanEncode,
} from '../support/hpack.ts';
import { ErrorCode, Flags, FrameType, RawH2Connection, Setting, type HeaderField } from '../support/raw-h2.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function makeBody(length: number, seed = 0): Buffer {
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = (i * 31 + (i >>> 9) + seed * 101) & 0xff;
  return body;
}

const BODY = makeBody(1 << 20);

// --- node:http2 server with a few fixed routes ---

interface TestServer {
  port: number;
  sessions: Set<http2.ServerHttp2Session>;
  /** Emits 'streamClose' with { path, rstCode } when a server stream closes. */
  events: EventEmitter;
  close(): Promise<void>;
}

function route(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = headers[':path'] ?? '';
  if (path === '/body') {
    stream.respond({ ':status': 200, 'content-length': BODY.length });
    stream.end(BODY);
  } else if (path === '/range') {
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(String(headers.range)) ?? [];
    stream.respond({ ':status': 206, 'content-range': `bytes ${start}-${end}/${BODY.length}` });
    stream.end(BODY.subarray(Number(start), Number(end) + 1));
  } else if (path === '/416') {
    stream.respond({ ':status': 416, 'content-range': `bytes */${BODY.length}` }, { endStream: true });
  } else if (path.startsWith('/seeded/')) {
    stream.respond({ ':status': 200 });
    stream.end(makeBody(200_000, Number(path.slice('/seeded/'.length))));
  } else if (path === '/flood') {
    stream.respond({ ':status': 200 });
    void flood(stream);
  } else {
    stream.respond({ ':status': 404 }, { endStream: true });
  }
}

/** 16 MiB as fast as flow control allows, without queueing it all at once: Node's
 *  server counts queued output against maxSessionMemory and refuses new streams
 *  with ENHANCE_YOUR_CALM when it is exceeded. */
async function flood(stream: http2.ServerHttp2Stream): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  for (let sent = 0; sent < 16 << 20 && !stream.destroyed; sent += chunk.length) {
    if (!stream.write(chunk)) {
      await new Promise((resolve) => {
        stream.once('drain', resolve);
        stream.once('close', resolve);
      });
    }
  }
  if (!stream.destroyed) stream.end();
}

async function startServer(secure: boolean): Promise<TestServer> {
  let server: http2.Http2Server | http2.Http2SecureServer;
  if (secure) {
    const { certPem, keyPem } = createSelfSignedCert({
      commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1,
    });
    server = http2.createSecureServer({ key: keyPem, cert: certPem });
  } else {
    server = http2.createServer();
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  const events = new EventEmitter();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {}); // clients in these tests reset and vanish on purpose
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', () => {});
    stream.on('close', () => events.emit('streamClose', { path: headers[':path'], rstCode: stream.rstCode }));
    route(stream, headers);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    sessions,
    events,
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// --- client-side helpers ---

interface Response {
  status?: number;
  fields: HeaderField[];
  body: Buffer;
}

/** Collect one stream's response; rejects on RST_STREAM or connection close. */
function collect(conn: RawH2Connection, streamId: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const res: Response = { fields: [], body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    const finish = (): void => {
      conn.off('headers', onHeaders).off('data', onData).off('rst', onRst).off('close', onClose);
      res.body = Buffer.concat(chunks);
      resolve(res);
    };
    const onHeaders = (id: number, status: number | undefined, endStream: boolean, fields: HeaderField[]): void => {
      if (id !== streamId) return;
      res.status ??= status;
      res.fields.push(...fields);
      if (endStream) finish();
    };
    const onData = (id: number, payload: Buffer, endStream: boolean): void => {
      if (id !== streamId) return;
      chunks.push(Buffer.from(payload));
      if (endStream) finish();
    };
    const onRst = (id: number, code: number): void => {
      if (id === streamId) reject(new Error(`stream ${id} reset with code ${code}`));
    };
    const onClose = (): void => reject(new Error('connection closed'));
    conn.on('headers', onHeaders).on('data', onData).on('rst', onRst).on('close', onClose);
  });
}

const get = (path: string, extra: [string, string][] = [], scheme = 'http'): [string, string][] => [
  [':method', 'GET'], [':scheme', scheme], [':authority', 'localhost'], [':path', path], ...extra,
];

/** Wait for an event whose first argument satisfies `match`. */
function waitFor<T>(emitter: EventEmitter, event: string, match: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const listener = (value: T): void => {
      if (!match(value)) return;
      emitter.off(event, listener);
      resolve(value);
    };
    emitter.on(event, listener);
  });
}

// --- HPACK ---

describe('hpack', () => {
  test('Huffman code matches RFC 7541 Appendix B samples', () => {
    assert.deepEqual(['0', '1', '2'].map((c) => HUFFMAN_CODES[c.charCodeAt(0)]), [0b00000, 0b00001, 0b00010]);
    assert.deepEqual(
      ['3', '4', '5', '6', '7', '8', '9'].map((c) => HUFFMAN_CODES[c.charCodeAt(0)]),
      [0b011001, 0b011010, 0b011011, 0b011100, 0b011101, 0b011110, 0b011111],
    );
    assert.equal(HUFFMAN_CODES[' '.charCodeAt(0)], 0x14);
    assert.equal(HUFFMAN_CODES['&'.charCodeAt(0)], 0xf8);
    assert.equal(HUFFMAN_CODES[0], 0x1ff8);
    assert.equal(HUFFMAN_CODES[255], 0x3ffffee);
    assert.equal(HUFFMAN_CODES[256], 0x3fffffff); // EOS
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
    assert.deepEqual(huffmanEncode(Buffer.from('www.example.com')), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
  });

  test('Huffman padding must be at most 7 one-bits', () => {
    assert.throws(() => huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f400')), HpackError);
    assert.throws(() => huffmanDecode(hex('ff')), HpackError); // 8 bits of padding
  });

  test('integer representation (C.1)', () => {
    assert.deepEqual(encodeInteger(10, 5), hex('0a'));
    assert.deepEqual(encodeInteger(1337, 5), hex('1f 9a 0a'));
    assert.deepEqual(encodeInteger(42, 8), hex('2a'));
  });

  test('request examples with Huffman coding (C.4)', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    assert.equal(decoder.size, 57);
    assert.deepEqual(decoder.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    assert.equal(decoder.size, 110);
    assert.deepEqual(decoder.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
      [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    assert.deepEqual(decoder.dynamic, [
      ['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com'],
    ]);
    assert.equal(decoder.size, 164);
  });

  test('response examples with Huffman coding and eviction (C.6)', () => {
    const decoder = new HpackDecoder(256);
    const location: HeaderField = ['location', 'https://www.example.com'];
    assert.deepEqual(
      decoder.decode(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`)),
      [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], location],
    );
    assert.equal(decoder.size, 222);
    assert.deepEqual(decoder.decode(hex('4883 640e ffc1 c0bf')), [
      [':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], location,
    ]);
    assert.equal(decoder.size, 222);
    assert.deepEqual(
      decoder.decode(hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed
        4ee5 b106 3d50 07`)),
      [
        [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], location,
        ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ],
    );
    assert.deepEqual(decoder.dynamic, [
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ['content-encoding', 'gzip'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ]);
    assert.equal(decoder.size, 215);
  });

  test('encoder writes literals without indexing that decode back', () => {
    const headers: [string, string][] = [[':path', '/' + 'x'.repeat(300)], ['range', 'bytes=0-']];
    const block = encodeHeaderBlock(headers);
    assert.equal(block[0], 0x00);
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(block), headers);
    assert.equal(decoder.dynamic.length, 0);
  });

  test('rejects bad blocks', () => {
    assert.throws(() => new HpackDecoder().decode(hex('80')), HpackError); // index 0
    assert.throws(() => new HpackDecoder().decode(hex('be')), HpackError); // empty dynamic table
    assert.throws(() => new HpackDecoder().decode(hex('82 20')), HpackError); // size update after a field
    assert.throws(() => new HpackDecoder(256).decode(hex('3f e1 1f')), HpackError); // 4096 > 256
    assert.throws(() => new HpackDecoder().decode(hex('0085 f2')), HpackError); // truncated string
  });
});

// --- against node:http2 ---

describe('RawH2Connection against node:http2', () => {
  let h2c: TestServer;
  let h2: TestServer;
  before(async () => {
    h2c = await startServer(false);
    h2 = await startServer(true);
  });
  after(async () => {
    await h2c.close();
    await h2.close();
  });

  test('h2c GET returns 200 and the exact body; ping resolves', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port });
    const id = conn.request(get('/body'));
    assert.equal(id, 1);
    const res = await collect(conn, id);
    assert.equal(res.status, 200);
    assert.deepEqual(res.fields.find(([name]) => name === 'content-length'), ['content-length', String(BODY.length)]);
    assert.ok(res.body.equals(BODY));
    const rtt = await conn.ping();
    assert.ok(rtt >= 0 && rtt < 5000, `rtt ${rtt}`);
    await conn.close();
    assert.equal(conn.isClosed, true);
  });

  test('TLS (ALPN h2) range GET returns 206 and the exact slice', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2.port, tls: true, servername: 'localhost' });
    const res = await collect(conn, conn.request(get('/range', [['range', 'bytes=1000-300999']], 'https')));
    assert.equal(res.status, 206);
    assert.deepEqual(res.fields.find(([name]) => name === 'content-range'), ['content-range', `bytes 1000-300999/${BODY.length}`]);
    assert.ok(res.body.equals(BODY.subarray(1000, 301000)));
    await conn.close();
  });

  test('416 comes through, also when the server refers to its dynamic table', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port });
    // The second response reuses the server's indexed ":status: 416" entry.
    for (let i = 0; i < 3; i++) {
      const res = await collect(conn, conn.request(get('/416')));
      assert.equal(res.status, 416);
      assert.deepEqual(res.fields.find(([name]) => name === 'content-range'), ['content-range', `bytes */${BODY.length}`]);
      assert.equal(res.body.length, 0);
    }
    await conn.close();
  });

  test('concurrent streams each get their own bytes', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port, initialStreamWindow: 100_000 });
    const ids = [1, 2, 3, 4, 5, 6].map((seed) => ({ seed, id: conn.request(get(`/seeded/${seed}`)) }));
    assert.deepEqual(ids.map(({ id }) => id), [1, 3, 5, 7, 9, 11]);
    const responses = await Promise.all(ids.map(({ id }) => collect(conn, id)));
    responses.forEach((res, i) => {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(makeBody(200_000, ids[i].seed)), `body of stream ${ids[i].id}`);
    });
    await conn.close();
  });

  test('reset() sends RST_STREAM(CANCEL) and DATA still in flight is reported', async (t) => {
    const conn = await RawH2Connection.connect({
      host: '127.0.0.1', port: h2c.port, initialStreamWindow: 1 << 20,
    });
    const serverClosed = waitFor<{ path: string; rstCode: number }>(h2c.events, 'streamClose', (e) => e.path === '/flood');
    const id = conn.request(get('/flood'));
    let resetDone = false;
    let lateFrames = 0;
    let lateBytes = 0;
    conn.on('data', (streamId, payload) => {
      if (streamId !== id) return;
      if (resetDone) {
        lateFrames++;
        lateBytes += payload.length;
      } else {
        conn.reset(id);
        resetDone = true;
      }
    });
    const { rstCode } = await serverClosed;
    assert.equal(rstCode, ErrorCode.CANCEL);
    // The connection is still healthy: window accounting for the dropped frames was returned.
    const res = await collect(conn, conn.request(get('/body')));
    assert.ok(res.body.equals(BODY));
    t.diagnostic(`DATA after our RST_STREAM: ${lateFrames} frames, ${lateBytes} bytes`);
    await conn.close();
  });

  test('pause() holds a stream at its window while another completes; resume() finishes it', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port, initialStreamWindow: 65535 });
    const paused = conn.request(get('/body'));
    conn.pause(paused);
    let pausedBytes = 0;
    conn.on('data', (streamId, payload) => {
      if (streamId === paused) pausedBytes += payload.length;
    });
    const pausedDone = collect(conn, paused);
    const other = await collect(conn, conn.request(get('/body')));
    assert.ok(other.body.equals(BODY));
    await sleep(100); // give the server every chance to overrun the window
    assert.ok(pausedBytes <= 65535, `paused stream received ${pausedBytes} bytes`);
    conn.resume(paused);
    const res = await pausedDone;
    assert.ok(res.body.equals(BODY));
    await conn.close();
  });

  test('GOAWAY from the server is reported with last stream id, code and debug data', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port });
    await collect(conn, conn.request(get('/416')));
    const goaway = once(conn, 'goaway');
    const session = [...h2c.sessions].at(-1)!;
    session.goaway(ErrorCode.ENHANCE_YOUR_CALM, 1, Buffer.from('calm down'));
    const [lastStreamId, errorCode, debug] = await goaway;
    assert.equal(lastStreamId, 1);
    assert.equal(errorCode, ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(debug.toString(), 'calm down');
    assert.deepEqual(conn.lastGoaway, { lastStreamId: 1, errorCode: ErrorCode.ENHANCE_YOUR_CALM, debug: Buffer.from('calm down') });
    conn.destroy();
    await once(conn, 'close');
  });

  test('session.close() on the server yields GOAWAY(NO_ERROR) and a close', async () => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: h2c.port });
    await collect(conn, conn.request(get('/416')));
    await collect(conn, conn.request(get('/416')));
    const goaway = once(conn, 'goaway');
    const closed = once(conn, 'close');
    [...h2c.sessions].at(-1)!.close();
    const [lastStreamId, errorCode] = await goaway;
    assert.equal(errorCode, ErrorCode.NO_ERROR);
    assert.equal(lastStreamId, 3);
    await closed;
    assert.equal(conn.isClosed, true);
  });
});

// --- against a hand-driven TCP server, for what node:http2 never sends ---

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface FakeConnection {
  socket: net.Socket;
  /** Every frame the client sent, in order. */
  log: Frame[];
  /** The first logged frame at index >= `from` that matches, now or when it arrives. */
  next(match: (f: Frame) => boolean, from?: number): Promise<Frame>;
}

/** Accept one connection, check the preface, and log the client's frames. */
async function fakeServer(): Promise<{ port: number; accepted: Promise<FakeConnection>; close(): void }> {
  const server = net.createServer();
  const accepted = new Promise<FakeConnection>((resolve) => {
    server.once('connection', (socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => {});
      const log: Frame[] = [];
      const arrivals = new EventEmitter();
      let inbox = Buffer.alloc(0);
      let prefaceSeen = false;
      socket.on('data', (chunk: Buffer) => {
        inbox = Buffer.concat([inbox, chunk]);
        if (!prefaceSeen) {
          if (inbox.length < 24) return;
          assert.equal(inbox.subarray(0, 24).toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
          inbox = inbox.subarray(24);
          prefaceSeen = true;
        }
        while (inbox.length >= 9 && inbox.length >= 9 + inbox.readUIntBE(0, 3)) {
          const length = inbox.readUIntBE(0, 3);
          log.push({ type: inbox[3], flags: inbox[4], streamId: inbox.readUInt32BE(5), payload: inbox.subarray(9, 9 + length) });
          inbox = inbox.subarray(9 + length);
          arrivals.emit('frame');
        }
      });
      const next = (match: (f: Frame) => boolean, from = 0): Promise<Frame> => new Promise((resolve) => {
        const check = (): void => {
          const found = log.slice(from).find(match);
          if (!found) return;
          arrivals.off('frame', check);
          resolve(found);
        };
        arrivals.on('frame', check);
        check();
      });
      resolve({ socket, log, next });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, accepted, close: () => server.close() };
}

/** Write one byte per TCP segment, so the client must reassemble frames across reads. */
async function trickle(socket: net.Socket, bytes: Buffer): Promise<void> {
  for (const byte of bytes) {
    socket.write(Buffer.from([byte]));
    await tick();
  }
}

describe('RawH2Connection frame parsing (fake server)', () => {
  test('handles split frames, padding, PRIORITY, CONTINUATION, dynamic :status and bad frames', async () => {
    const fake = await fakeServer();
    try {
      const connecting = RawH2Connection.connect({ host: '127.0.0.1', port: fake.port, initialStreamWindow: 12345, connectionWindow: 1 << 20 });
      const { socket, log, next } = await fake.accepted;

      // The client's opening: SETTINGS (push off, our stream window) then a connection WINDOW_UPDATE.
      const settings = await next((f) => f.type === FrameType.SETTINGS);
      assert.deepEqual(settings.payload, hex(`0002 00000000 0004 ${(12345).toString(16).padStart(8, '0')}`));
      const raise = await next((f) => f.type === FrameType.WINDOW_UPDATE);
      assert.deepEqual(raise, { type: FrameType.WINDOW_UPDATE, flags: 0, streamId: 0, payload: hex((1048576 - 65535).toString(16).padStart(8, '0')) });

      await trickle(socket, frame(FrameType.SETTINGS, 0, 0, hex('0003 00000064')));
      await next((f) => f.type === FrameType.SETTINGS && f.flags === Flags.ACK);
      const conn = await connecting;
      assert.equal(conn.remoteSettings.get(Setting.MAX_CONCURRENT_STREAMS), 100);

      // Request headers arrive as plain literals the server can decode.
      const id = conn.request(get('/x', [['x-long', 'v'.repeat(200)]]));
      const request = await next((f) => f.type === FrameType.HEADERS);
      assert.equal(request.streamId, id);
      assert.equal(request.flags, Flags.END_HEADERS | Flags.END_STREAM);
      assert.deepEqual(new HpackDecoder().decode(request.payload), get('/x', [['x-long', 'v'.repeat(200)]]));

      const events: unknown[] = [];
      conn.on('headers', (streamId, status, endStream, fields) => events.push(['headers', streamId, status, endStream, fields]));
      conn.on('data', (streamId, payload, endStream) => events.push(['data', streamId, payload.toString(), endStream]));

      // ":status: 416" as a Huffman literal with incremental indexing (name = static 8),
      // then "content-type: text/plain" (name = static 31), split across HEADERS and
      // CONTINUATION; the HEADERS frame is padded and carries priority fields.
      const huff416 = huffmanEncode(Buffer.from('416'));
      const block = Buffer.concat([
        Buffer.from([0x48, 0x80 | huff416.length]), huff416,
        Buffer.from([0x0f, 0x10, 10]), Buffer.from('text/plain'),
      ]);
      const headersPayload = Buffer.concat([Buffer.from([3]), hex('00000000 10'), block.subarray(0, 4), Buffer.alloc(3)]);
      await trickle(socket, Buffer.concat([
        frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, id, headersPayload),
        frame(FrameType.CONTINUATION, Flags.END_HEADERS, id, block.subarray(4)),
        frame(0xfa, 0, 0, Buffer.from('unknown frame types are ignored')),
        frame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, id, Buffer.concat([Buffer.from([5]), Buffer.from('abc'), Buffer.alloc(5)])),
      ]));
      const connectionCredit = await next((f) => f.type === FrameType.WINDOW_UPDATE && f.payload.readUInt32BE(0) === 9);
      assert.equal(connectionCredit.streamId, 0);
      assert.deepEqual(events, [
        ['headers', id, 416, false, [[':status', '416'], ['content-type', 'text/plain']]],
        ['data', id, 'abc', true],
      ]);

      // A second response points at the dynamic table entry: index 62 is ":status: 416".
      const id2 = conn.request(get('/y'));
      await next((f) => f.type === FrameType.HEADERS && f.streamId === id2);
      socket.write(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, id2, hex('be')));
      await waitFor(conn, 'headers', (streamId: number) => streamId === id2);
      assert.deepEqual(events.at(-1), ['headers', id2, 416, true, [[':status', '416']]]);

      // A PING from the server is answered; sendFrame() writes anything we like.
      socket.write(frame(FrameType.PING, 0, 0, Buffer.from('12345678')));
      assert.deepEqual(await next((f) => f.type === FrameType.PING), { type: FrameType.PING, flags: Flags.ACK, streamId: 0, payload: Buffer.from('12345678') });
      conn.sendFrame(0xfb, 0x42, 7, Buffer.from('hi'));
      assert.deepEqual(await next((f) => f.type === 0xfb), { type: 0xfb, flags: 0x42, streamId: 7, payload: Buffer.from('hi') });

      // No stream-level WINDOW_UPDATE was sent for a stream the server had ended.
      assert.ok(!log.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId !== 0));

      // DATA on stream 0 is a connection error: 'error', GOAWAY(PROTOCOL_ERROR), then 'close'.
      const error = once(conn, 'error');
      // Not events.once(): that would reject on the 'error' we expect first.
      const closed = new Promise<boolean>((resolve) => conn.once('close', resolve));
      socket.write(frame(FrameType.DATA, 0, 0, Buffer.from('nope')));
      const [err] = await error;
      assert.match(err.message, /stream 0/);
      assert.equal((await next((f) => f.type === FrameType.GOAWAY)).payload.readUInt32BE(4), ErrorCode.PROTOCOL_ERROR);
      socket.end();
      await closed;
      assert.equal(conn.isClosed, true);
    } finally {
      fake.close();
    }
  });

  test('pause() withholds the stream window and resume() returns it', async () => {
    const fake = await fakeServer();
    try {
      const connecting = RawH2Connection.connect({ host: '127.0.0.1', port: fake.port });
      const { socket, log, next } = await fake.accepted;
      socket.write(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)));
      const conn = await connecting;
      // Once the ACK is logged, so are the opening frames sent before it.
      await next((f) => f.type === FrameType.SETTINGS && f.flags === Flags.ACK);
      const credits = (from: number): [number, number][] => log.slice(from)
        .filter((f) => f.type === FrameType.WINDOW_UPDATE)
        .map((f) => [f.streamId, f.payload.readUInt32BE(0)]);

      const id = conn.request(get('/p'));
      conn.pause(id);
      let mark = log.length;
      socket.write(Buffer.concat([
        frame(FrameType.HEADERS, Flags.END_HEADERS, id, hex('88')),
        frame(FrameType.DATA, 0, id, Buffer.alloc(1000)),
        frame(FrameType.DATA, 0, id, Buffer.alloc(500)),
      ]));
      await next((f) => f.type === FrameType.WINDOW_UPDATE && f.payload.readUInt32BE(0) === 500, mark);
      await sleep(30);
      assert.deepEqual(credits(mark), [[0, 1000], [0, 500]]); // connection only

      mark = log.length;
      conn.resume(id);
      await next((f) => f.type === FrameType.WINDOW_UPDATE, mark);
      assert.deepEqual(credits(mark), [[id, 1500]]);

      // Back to automatic crediting of both windows.
      mark = log.length;
      socket.write(frame(FrameType.DATA, 0, id, Buffer.alloc(10)));
      await next((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === id, mark);
      assert.deepEqual(credits(mark), [[0, 10], [id, 10]]);

      // After reset(), late DATA is still reported and only the connection window is credited.
      mark = log.length;
      conn.reset(id);
      const rst = await next((f) => f.type === FrameType.RST_STREAM, mark);
      assert.deepEqual([rst.streamId, rst.payload.readUInt32BE(0)], [id, ErrorCode.CANCEL]);
      const late = waitFor(conn, 'data', (streamId: number) => streamId === id);
      socket.write(frame(FrameType.DATA, 0, id, Buffer.alloc(20)));
      await late;
      await next((f) => f.type === FrameType.WINDOW_UPDATE, mark);
      await sleep(30);
      assert.deepEqual(credits(mark), [[0, 20]]);
      conn.destroy();
    } finally {
      fake.close();
    }
  });
});
