// What an HTTP/2 sink reports when the peer resets its stream: an upper bound of what Node's
// maxSessionMemory accounting keeps of the stream for good (response-sink.ts, Http2Sink, "What
// a peer reset leaks"). Node charges a chunk when the JS Writable hands it to the C++ stream and
// gives it back as nghttp2 takes it into DATA frames; chunks still in the JS Writable buffer
// were never charged. A client holding its stream window at zero makes the truth exact: nghttp2
// takes nothing, so the leak is exactly what the C++ stream held.
//
// The sink mirrors the Writable's batching (one write out, the rest handed over together when it
// completes); these tests also pin that premise on Node's side, through `bufferSize -
// writableLength` (the bytes the JS stream has handed to its C++ handle and not seen complete):
// if a Node release batches differently, they fail here rather than the estimate going wrong.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { createHttp2Sink } from '../../server/streaming/response-sink.ts';
import type { ResponseSink } from '../../server/streaming/response-sink.ts';

const KiB = 1024;

interface Served {
  readonly stream: http2.ServerHttp2Stream;
  readonly sink: ResponseSink;
  readonly reported: Promise<number>;
}

let server: http2.Http2Server;
let port = 0;
const served: ((s: Served) => void)[] = [];

before(async () => {
  server = http2.createServer();
  server.on('stream', (stream) => {
    let report!: (bytes: number) => void;
    const reported = new Promise<number>((resolve) => (report = resolve));
    const sink = createHttp2Sink(stream, { onPeerReset: report });
    sink.respond(200, {}, false);
    served.shift()!({ stream, sink, reported });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A client whose streams start with a zero window, and the server side of one request. */
async function open(): Promise<{ client: http2.ClientHttp2Session; req: http2.ClientHttp2Stream; served: Served }> {
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  client.on('error', () => {});
  const arrived = new Promise<Served>((resolve) => served.push(resolve));
  const req = client.request({ ':path': '/' });
  req.on('error', () => {});
  req.end();
  const s = await arrived;
  await new Promise<void>((resolve) => req.once('response', () => resolve()));
  return { client, req, served: s };
}

/** Bytes the JS stream has handed to its C++ handle and not seen complete (Node's own view). */
const handedToNode = (stream: http2.ServerHttp2Stream): number => stream.bufferSize - stream.writableLength;

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('chunks still in the JS Writable buffer are not counted: only the write Node holds', async () => {
  const { client, req, served: s } = await open();
  for (let i = 0; i < 3; i++) s.sink.write(Buffer.alloc(16 * KiB), () => {});
  await settle(50);
  assert.equal(handedToNode(s.stream), 16 * KiB, 'Node took the first write; the others wait in the Writable');
  assert.equal(s.sink.unflushedBytes, 48 * KiB);
  req.close(http2.constants.NGHTTP2_CANCEL);
  assert.equal(await s.reported, 16 * KiB, 'exactly the first write: nghttp2 could take none of it');
  client.close();
});

it('writes buffered meanwhile are handed over together when the held write completes', async () => {
  const { client, req, served: s } = await open();
  let completed = 0;
  for (let i = 0; i < 3; i++) s.sink.write(Buffer.alloc(16 * KiB), () => completed++);
  await settle(50);
  // Room for exactly the first write; the client reads nothing, so it grants no more.
  client.settings({ initialWindowSize: 16 * KiB });
  while (completed < 1) await settle(10);
  await settle(50);
  assert.equal(completed, 1);
  assert.equal(handedToNode(s.stream), 32 * KiB, 'Node took the two buffered writes as one batch');
  req.close(http2.constants.NGHTTP2_CANCEL);
  assert.equal(await s.reported, 32 * KiB, 'the window was used up: nghttp2 took none of the batch');
  client.close();
});

it('what nghttp2 took of the held write before the reset is not counted', async () => {
  const { client, req, served: s } = await open();
  s.sink.write(Buffer.alloc(64 * KiB), () => {});
  await settle(50);
  // nghttp2 may take 16 KiB of the 64 KiB; the client reads nothing, so it grants no more.
  client.settings({ initialWindowSize: 16 * KiB });
  while (req.readableLength < 16 * KiB) await settle(10);
  req.close(http2.constants.NGHTTP2_CANCEL);
  const reported = await s.reported;
  const leaked = 48 * KiB; // 64 KiB handed over, 16 KiB taken into DATA frames
  console.log(`# reported ${reported}, Node kept ${leaked}`);
  assert.ok(reported >= leaked, `never below Node's count: ${reported} < ${leaked}`);
  assert.ok(reported <= leaked + 1200, `within the frame allowance of Node's count: ${reported}`);
  assert.equal(s.sink.unflushedBytes, 64 * KiB, 'the old estimate would have counted all of it');
  client.close();
});
