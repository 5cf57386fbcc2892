// Experiment: what happens when the server cancels a stream whose client stopped reading?
//
//   node bench/experiments/stalled-cancel.ts TRANSPORT HOW STALL [CHUNKS]
//     TRANSPORT  tls | h2c
//     HOW        close (stream.close(CANCEL)) | destroy | close-then-destroy (destroy 300 ms later)
//     STALL      stream: the client returns no stream window after the first 64 KiB (a paused
//                <video>); tcp: large windows, but the client stops reading its socket, so the
//                server's socket write itself is stuck; end: like stream, and the server has
//                already called end()
//     CHUNKS     128 KiB chunks written before the cancel (default 8)
//
// A raw-frame client (test/support/raw-h2.ts) asks for one stream. 300 ms later the server
// cancels it. Printed: when 'close' fired, whether and when RST_STREAM reached the client, and
// when the write callbacks fired and with what. Loopback only; ends after about 3 s.

import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { RawH2Connection } from '../../test/support/raw-h2.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';

const transport = (process.argv[2] ?? 'h2c') as 'tls' | 'h2c';
const how = process.argv[3] ?? 'close';
const stall = process.argv[4] ?? 'stream';
const chunks = Number(process.argv[5] ?? 8);
const t0 = performance.now();
const at = (): string => `${(performance.now() - t0).toFixed(0)}ms`.padStart(7);
const log = (...args: unknown[]): void => console.log(at(), ...args);

const cert =
  transport === 'tls' ? createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 }) : undefined;
const server = cert ? http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem }) : http2.createServer();
let isFirst = true;
server.on('stream', (stream) => {
  if (!isFirst) {
    stream.respond({ ':status': 200 }, { endStream: true });
    return;
  }
  isFirst = false;
  stream.on('error', (err) => log('stream error', err.message));
  stream.on('close', () => log(`server: stream 'close' rstCode=${stream.rstCode}`));
  stream.respond({ ':status': 200 });
  const callbacks = new Map<string, number>();
  let pending = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  const report = (): void => {
    log(`server: write callbacks so far ${JSON.stringify(Object.fromEntries(callbacks))}, pending ${pending}`);
  };
  for (let i = 0; i < chunks; i++) {
    pending++;
    stream.write(Buffer.alloc(128 * 1024, i + 1), (err) => {
      pending--;
      const key = err ? String((err as NodeJS.ErrnoException).code) : 'null';
      callbacks.set(key, (callbacks.get(key) ?? 0) + 1);
      clearTimeout(flushTimer);
      flushTimer = setTimeout(report, 5);
    });
  }
  if (stall === 'end') stream.end();
  setTimeout(() => {
    report();
    log(`server: cancel via ${how}; bufferSize ${stream.bufferSize}`);
    if (how === 'destroy') stream.destroy();
    else stream.close(http2.constants.NGHTTP2_CANCEL);
    if (how === 'close-then-destroy') {
      setTimeout(() => {
        log(`server: 300 ms later closed=${stream.closed} destroyed=${stream.destroyed}, pending ${pending}; destroy()`);
        if (!stream.destroyed) stream.destroy();
      }, 300);
    }
  }, 300);
  stream.session?.on('close', () => log("server: session 'close'"));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const big = 64 * 1024 * 1024;
const conn = await RawH2Connection.connect({
  host: '127.0.0.1',
  port,
  tls: transport === 'tls',
  servername: 'localhost',
  initialStreamWindow: stall === 'tcp' ? big : 65535,
  connectionWindow: big,
});
let bytes = 0;
const scheme = transport === 'tls' ? 'https' : 'http';
const get = (): number => conn.request([[':method', 'GET'], [':scheme', scheme], [':authority', 'localhost'], [':path', '/']]);
const id = get();
conn.pause(id);
if (stall === 'tcp') {
  const socket = (conn as unknown as { socket: Socket }).socket;
  socket.pause();
  setTimeout(() => {
    log('client: resumes reading its socket');
    socket.resume();
  }, 1500);
}
conn.on('data', (_sid, payload) => (bytes += payload.length));
conn.on('rst', (sid, code) => log(`client: RST_STREAM(${code}) on ${sid} after ${bytes} DATA bytes`));
conn.on('goaway', (_last, code) => log(`client: GOAWAY(${code})`));
conn.on('headers', (sid, status) => sid !== id && log(`client: stream ${sid} answered ${status}`));
await new Promise((r) => setTimeout(r, 2200));
log(`client: ${bytes} DATA bytes in all; opens a second stream`);
get();
await new Promise((r) => setTimeout(r, 500));
conn.destroy();
server.close();
setTimeout(() => process.exit(0), 500).unref();
