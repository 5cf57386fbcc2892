// Experiment: how fast do peer resets exhaust Node's maxSessionMemory, against the session
// guard's estimate (bytes written but unflushed when the peer reset the stream)?
//
//   node bench/experiments/session-memory-leak.ts [maxSessionMemoryMB=4] [readBytesPerSeek=1]
//
// One h2c connection, sequential seeks: each reads `readBytesPerSeek`, then RST_STREAM(CANCEL).
// The server is the real data path (pool, sink, sendBody) with no guard, so Node refuses a
// stream (ENHANCE_YOUR_CALM, code 11) once its accounting is exhausted. Loopback only, at most
// 3,000 seeks.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BufferPool } from '../../server/streaming/buffer-pool.ts';
import { createHttp2Sink } from '../../server/streaming/response-sink.ts';
import { sendBody } from '../../server/streaming/send-body.ts';
import { makeFixtureLibrary } from '../../test/support/fixtures.ts';
import { FsStorage } from '../../storage/fs-storage.ts';

const memoryMB = Number(process.argv[2] ?? 4);
const readBytes = Number(process.argv[3] ?? 1);
const library = await makeFixtureLibrary();
const storage = await FsStorage.create(library.root);
const pool = new BufferPool({ slabBytes: 128 * 1024, maxBytes: 64 * 1024 * 1024 });
let estimate = 0;
let resets = 0;
const server = http2.createServer({ maxSessionMemory: memoryMB, streamResetBurst: 100_000, streamResetRate: 100_000 });
server.on('stream', async (stream, headers) => {
  const start = Number(/bytes=(\d+)-/.exec(String(headers.range))![1]);
  const file = await storage.open('seek.bin');
  const sink = createHttp2Sink(stream, {
    onPeerReset: (unflushed) => {
      estimate += unflushed;
      resets++;
    },
  });
  sink.respond(206, {}, false);
  await sendBody(sink, file, [{ kind: 'file', start, end: file.info.size - 1 }], pool, {
    chunkBytes: 128 * 1024,
    inflightBytes: 256 * 1024,
    releasePolicy: 'on-flush',
  });
  file.close();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
client.on('error', () => {});
let refusedAt = -1;
let refusedCode = 0;
for (let i = 0; i < 3000 && refusedAt < 0; i++) {
  const code = await new Promise<number>((resolve) => {
    const req = client.request({ ':path': '/', range: `bytes=${(i * 7919 * 4096) % (20 << 20)}-` });
    let got = 0;
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= readBytes) req.close(http2.constants.NGHTTP2_CANCEL);
    });
    req.on('close', () => resolve(req.rstCode ?? -1));
    req.on('error', () => {});
    req.end();
  });
  if (code !== http2.constants.NGHTTP2_CANCEL && code !== 0) {
    refusedAt = i;
    refusedCode = code;
  }
}
console.log(
  JSON.stringify({
    node: process.version,
    maxSessionMemoryMB: memoryMB,
    readBytesPerSeek: readBytes,
    refusedAtSeek: refusedAt,
    refusedCode,
    resetsSeenByGuard: resets,
    guardEstimateMiB: +(estimate / 2 ** 20).toFixed(2),
    estimatePerResetKiB: resets ? +(estimate / resets / 1024).toFixed(1) : 0,
  }),
);
client.close();
server.close();
process.exit(0);
