// Experiment: a client that stops reading its TCP socket while the server has written to many
// streams. What do stream.destroy() and session.destroy() do then, and is it safe to reuse a
// chunk whose write callback has fired?
//
//   node bench/experiments/stuck-connection.ts TRANSPORT HOW [STREAMS]
//     TRANSPORT  tls | h2c
//     HOW        close-streams (stream.close(CANCEL)) | destroy-streams | destroy-session
//     STREAMS    streams opened (default 100), each with a 100,000-byte window, so the first
//                128 KiB chunk of each is split by flow control
//
// The client reads the server's SETTINGS, stops reading its socket, opens the streams; the
// server writes two 128 KiB chunks to each. 1 s later the server cancels as told; every chunk
// whose write callback has fired is overwritten with 0xEE at once (what a pool's poison does
// on release). 1.5 s later the client reads again; DATA bytes equal to 0xEE are bytes of a
// chunk that was "released" while a socket write still referenced it.

import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { RawH2Connection } from '../../test/support/raw-h2.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';

const transport = (process.argv[2] ?? 'h2c') as 'tls' | 'h2c';
const how = process.argv[3] ?? 'destroy-streams';
const streamCount = Number(process.argv[4] ?? 100);
const t0 = performance.now();
const log = (...args: unknown[]): void => console.log(`${(performance.now() - t0).toFixed(0)}ms`.padStart(7), ...args);

const cert =
  transport === 'tls' ? createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 }) : undefined;
const server = cert ? http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem }) : http2.createServer();
const streams: http2.ServerHttp2Stream[] = [];
const callbacks = new Map<string, number>();
let pending = 0;
let isCancelled = false;
let callbacksAfterCancel = 0;
let sessionRef: http2.ServerHttp2Session | undefined;
server.on('session', (session) => {
  sessionRef = session;
  session.on('close', () => log("server: session 'close'"));
  session.on('error', () => {});
});
server.on('connection', (socket: Socket) => socket.on('close', () => log("server: socket 'close'")));
server.on('stream', (stream) => {
  streams.push(stream);
  stream.on('error', () => {});
  stream.respond({ ':status': 200 });
  for (let i = 0; i < 2; i++) {
    const chunk = Buffer.alloc(128 * 1024, 0x41 + i);
    pending++;
    stream.write(chunk, (err) => {
      pending--;
      const key = err ? String((err as NodeJS.ErrnoException).code) : 'null';
      callbacks.set(key, (callbacks.get(key) ?? 0) + 1);
      if (isCancelled) callbacksAfterCancel++;
      chunk.fill(0xee); // "released" and poisoned
    });
  }
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const conn = await RawH2Connection.connect({
  host: '127.0.0.1',
  port,
  tls: transport === 'tls',
  servername: 'localhost',
  initialStreamWindow: 100_000,
  connectionWindow: 256 * 1024 * 1024,
});
conn.on('error', () => {});
const socket = (conn as unknown as { socket: Socket }).socket;
socket.pause();
let dataBytes = 0;
let poisoned = 0;
let rsts = 0;
conn.on('data', (_id, payload) => {
  dataBytes += payload.length;
  for (const b of payload) if (b === 0xee) poisoned++;
});
conn.on('rst', () => rsts++);
conn.on('close', () => log('client: connection closed'));
const scheme = transport === 'tls' ? 'https' : 'http';
for (let i = 0; i < streamCount; i++) conn.request([[':method', 'GET'], [':scheme', scheme], [':authority', 'localhost'], [':path', `/${i}`]]);
await new Promise((r) => setTimeout(r, 1000));
log(`server: ${streams.length} streams, callbacks ${JSON.stringify(Object.fromEntries(callbacks))}, pending ${pending}`);
isCancelled = true;
if (how === 'destroy-session') sessionRef?.destroy();
else for (const s of streams) how === 'close-streams' ? s.close(http2.constants.NGHTTP2_CANCEL) : s.destroy();
await new Promise((r) => setTimeout(r, 50));
log(`server: after ${how}: callbacks ${JSON.stringify(Object.fromEntries(callbacks))} (${callbacksAfterCancel} since the cancel), pending ${pending}, streams closed ${streams.filter((s) => s.closed).length}`);
await new Promise((r) => setTimeout(r, 1450));
log('client: reads its socket again');
socket.resume();
await new Promise((r) => setTimeout(r, 1000));
log(`client: ${dataBytes} DATA bytes, ${poisoned} of them 0xEE (released too early), ${rsts} RST_STREAM; server callbacks ${JSON.stringify(Object.fromEntries(callbacks))}, pending ${pending}`);
conn.destroy();
server.close();
setTimeout(() => process.exit(0), 300).unref();
