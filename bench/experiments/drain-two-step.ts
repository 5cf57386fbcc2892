// Experiment: what can Node do for RFC 9113 section 6.8's two-step GOAWAY, and what does a
// stream the client sends while the first step is in flight (a "racing" stream) get?
//
//   node bench/experiments/drain-two-step.ts [oneWayDelayMs=25]
//
// A bare node:http2 h2c server behind a proxy that delays every chunk by oneWayDelayMs each
// way, so a round trip is visible. A raw-frame client (test/support/raw-h2.ts) opens stream 1
// (the server answers it after 300 ms), then the server starts its drain and, in the same
// tick, the client sends stream 3: the two cross in the proxy, as in a real race. Variants:
//   single        session.close(): one GOAWAY with the real last stream id
//   goaway-max    session.goaway(NO_ERROR, 2^31-1), SETTINGS (its ACK times one round trip),
//                 then session.close()
//   settings-zero session.settings({ maxConcurrentStreams: 0 }), on its ACK session.close()
// For each: the frames the client saw (ms after the race), what stream 3 got and when, and
// whether stream 1 finished. Then the same three with Node's own client, which also opens a
// request after the first step arrived; and goaway-max timed by a PING or a SETTINGS ACK when
// the client has nothing open but the racing stream (the server then has no open stream).

import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ErrorCode, RawH2Connection } from '../../test/support/raw-h2.ts';

const delayMs = Number(process.argv[2] ?? 25);
type Variant = 'single' | 'goaway-max' | 'settings-zero';

function startServer(onSession: (s: http2.ServerHttp2Session) => void): Promise<{ server: http2.Http2Server; port: number; handled: number[] }> {
  const handled: number[] = [];
  const server = http2.createServer({ settings: { maxConcurrentStreams: 128 } });
  server.on('session', onSession);
  server.on('stream', (stream) => {
    handled.push(stream.id ?? 0);
    stream.on('error', () => {});
    setTimeout(() => {
      if (stream.closed) return;
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(1000, 0x61));
    }, 300);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, handled })));
}

/** A TCP proxy that delays every chunk by `ms`, in order, each way. */
function startDelayProxy(targetPort: number, ms: number): Promise<{ proxy: net.Server; port: number }> {
  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pipeDelayed = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), ms));
      from.on('end', () => setTimeout(() => to.end(), ms));
      from.on('error', () => to.destroy());
    };
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve({ proxy, port: (proxy.address() as AddressInfo).port })));
}

function phaseOne(session: http2.ServerHttp2Session, variant: Variant, log: (what: string) => void): void {
  if (variant === 'single') {
    session.close();
    return;
  }
  if (variant === 'goaway-max') {
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
    session.settings({}, () => {
      log('server: SETTINGS ACK received, final GOAWAY');
      session.close();
    });
    return;
  }
  session.settings({ maxConcurrentStreams: 0 }, () => {
    log('server: SETTINGS ACK received, final GOAWAY');
    session.close();
  });
}

async function rawRun(variant: Variant): Promise<void> {
  let session: http2.ServerHttp2Session | undefined;
  const { server, port, handled } = await startServer((s) => (session = s));
  const { proxy, port: proxyPort } = await startDelayProxy(port, delayMs);
  const client = await RawH2Connection.connect({ host: '127.0.0.1', port: proxyPort });
  client.on('error', () => {});
  const lines: string[] = [];
  let t0 = 0;
  const log = (what: string): void => {
    lines.push(`  ${(performance.now() - t0).toFixed(1).padStart(6)} ms  ${what}`);
  };
  client.on('headers', (id, status, end) => log(`client: HEADERS stream ${id} :status ${status}${end ? ' END_STREAM' : ''}`));
  client.on('data', (id, payload, end) => log(`client: DATA stream ${id} ${payload.length} B${end ? ' END_STREAM' : ''}`));
  client.on('rst', (id, code) => log(`client: RST_STREAM stream ${id} code ${code}${code === ErrorCode.REFUSED_STREAM ? ' (REFUSED_STREAM)' : ''}`));
  client.on('goaway', (last, code) => log(`client: GOAWAY last-stream-id ${last} code ${code}`));
  client.on('settings', (values) => log(`client: SETTINGS ${JSON.stringify([...values])} (ACK sent)`));
  client.on('close', () => log('client: connection closed'));
  const get = (path: string): number => client.request([[':method', 'GET'], [':scheme', 'http'], [':authority', 'x'], [':path', path]]);
  get('/one'); // stream 1: the server answers it after 300 ms
  await new Promise((r) => setTimeout(r, 3 * delayMs));
  t0 = performance.now();
  phaseOne(session!, variant, log);
  get('/racing'); // stream 3: sent before the client can have seen the first step
  log('client: sent HEADERS stream 3 (racing)');
  await new Promise((r) => setTimeout(r, 300 + 6 * delayMs));
  console.log(`${variant} (one-way delay ${delayMs} ms): the server's handler ran for streams [${handled.join(', ')}]`);
  console.log(lines.join('\n'));
  client.destroy();
  proxy.close();
  server.close();
}

/** Node's own client under settings-zero: a request queued while MAX_CONCURRENT_STREAMS is 0. */
async function nodeClientRun(variant: Variant): Promise<void> {
  let session: http2.ServerHttp2Session | undefined;
  const { server, port, handled } = await startServer((s) => (session = s));
  const { proxy, port: proxyPort } = await startDelayProxy(port, delayMs);
  const client = http2.connect(`http://127.0.0.1:${proxyPort}`);
  client.on('error', () => {});
  const t0 = { at: 0 };
  const lines: string[] = [];
  const log = (what: string): void => void lines.push(`  ${(performance.now() - t0.at).toFixed(1).padStart(6)} ms  ${what}`);
  client.on('goaway', (code, last) => log(`client: 'goaway' code ${code} last-stream-id ${last}`));
  client.on('remoteSettings', (s) => t0.at > 0 && log(`client: remote SETTINGS maxConcurrentStreams ${s.maxConcurrentStreams}`));
  client.on('close', () => log('client: session closed'));
  const watch = (name: string, req: http2.ClientHttp2Stream): void => {
    req.on('response', (h) => log(`client: ${name} (stream ${req.id}) response ${h[':status']}`));
    req.on('error', (err: NodeJS.ErrnoException) => log(`client: ${name} (stream ${req.id}) error ${err.code}: ${err.message}`));
    req.on('close', () => log(`client: ${name} (stream ${req.id}) closed, rstCode ${req.rstCode}`));
    req.resume();
  };
  const one = client.request({ ':path': '/one' });
  watch('first', one);
  await new Promise((r) => setTimeout(r, 3 * delayMs));
  t0.at = performance.now();
  phaseOne(session!, variant, log);
  watch('racing', client.request({ ':path': '/racing' }));
  await new Promise((r) => setTimeout(r, delayMs * 1.5)); // the first step has arrived
  log('client: opening "after" (after the first step arrived)');
  try {
    watch('after', client.request({ ':path': '/after' }));
  } catch (err) {
    log(`client: request() threw ${(err as NodeJS.ErrnoException).code}`);
  }
  await new Promise((r) => setTimeout(r, 1000 + 6 * delayMs));
  console.log(`${variant} with Node's client (one-way delay ${delayMs} ms): handler ran for streams [${handled.join(', ')}]`);
  console.log(lines.join('\n'));
  client.destroy();
  proxy.close();
  server.close();
}

/**
 * Node's client with nothing open but the racing stream: does it acknowledge what times the
 * final GOAWAY, a SETTINGS frame or a PING, once it has read GOAWAY(2^31-1)?
 */
async function onlyRacingRun(timer: 'settings' | 'ping'): Promise<void> {
  let session: http2.ServerHttp2Session | undefined;
  const { server, port, handled } = await startServer((s) => (session = s));
  const { proxy, port: proxyPort } = await startDelayProxy(port, delayMs);
  const client = http2.connect(`http://127.0.0.1:${proxyPort}`);
  client.on('error', () => {});
  await new Promise((r) => client.once('remoteSettings', r));
  await new Promise((r) => setTimeout(r, 3 * delayMs));
  const t0 = performance.now();
  const lines: string[] = [];
  const log = (what: string): void => void lines.push(`  ${(performance.now() - t0).toFixed(1).padStart(6)} ms  ${what}`);
  client.on('goaway', (code, last) => log(`client: 'goaway' code ${code} last-stream-id ${last}`));
  client.on('close', () => log('client: session closed'));
  const s = session!;
  s.goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
  const final = (): void => {
    log(`server: ${timer} ACK received, final GOAWAY`);
    s.close();
  };
  const fallback = setTimeout(() => {
    log(`server: no ${timer} ACK within 1 s, final GOAWAY`);
    s.close();
  }, 1000);
  s.once('close', () => clearTimeout(fallback));
  if (timer === 'settings') s.settings({}, final);
  else s.ping(final);
  const racing = client.request({ ':path': '/racing' });
  racing.on('error', (err: NodeJS.ErrnoException) => log(`client: racing (stream ${racing.id}) error ${err.code}`));
  racing.on('close', () => log(`client: racing closed, rstCode ${racing.rstCode}`));
  await new Promise((r) => setTimeout(r, 1500));
  console.log(`goaway-max timed by ${timer}, Node's client with only a racing stream: handler ran for [${handled.join(', ')}]`);
  console.log(lines.join('\n'));
  client.destroy();
  proxy.close();
  server.close();
}

for (const variant of ['single', 'goaway-max', 'settings-zero'] as const) await rawRun(variant);
for (const variant of ['single', 'goaway-max', 'settings-zero'] as const) await nodeClientRun(variant);
await onlyRacingRun('ping');
await onlyRacingRun('settings');
