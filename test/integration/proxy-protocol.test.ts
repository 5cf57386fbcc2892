// PROXY_PROTOCOL=on (net/proxy-listener.ts), against the real server: the address a proxy
// announces is the client the server sees (per-client connection limit, flood penalty box),
// on TLS (HTTP/2 and HTTP/1.1) and h2c, with the header whole, coalesced with the TLS
// ClientHello or the HTTP/2 preface, or trickled byte by byte; LOCAL keeps the socket's own
// address; a connection without a valid header, or with an unfinished one past
// HEADER_TIMEOUT_MS, is closed, counted and logged; a drain closes the listening gate.
//
// The negative control is built in: every connection comes from 127.0.0.1, so a server keying
// limits on the socket address would refuse the connections announcing a second address (and
// penalise 127.0.0.1 for all) where these tests expect them to be served.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { encodeProxyV1, encodeProxyV2 } from '../../server/net/proxy-protocol.ts';
import type { ProxyHeader } from '../../server/net/proxy-protocol.ts';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';
import { connectProxied } from '../support/proxy-client.ts';
import type { HeaderDelivery } from '../support/proxy-client.ts';

type Transport = 'tls' | 'h2c';

const REFUSED_LINE = 'connection refused: no valid PROXY protocol header';

const proxied = (address: string, port = 40000): ProxyHeader =>
  net.isIPv4(address)
    ? { command: 'proxy', family: 'IPv4', sourceAddress: address, sourcePort: port, destinationAddress: '127.0.0.1', destinationPort: 8443 }
    : { command: 'proxy', family: 'IPv6', sourceAddress: address, sourcePort: port, destinationAddress: '::1', destinationPort: 8443 };

/** An HTTP/2 session whose TCP connection starts with `header`, as a proxy's would. */
const connectVia = (server: TestServer, transport: Transport, header: Buffer, delivery: HeaderDelivery = 'separate'): Promise<http2.ClientHttp2Session> =>
  connectProxied({ port: transport === 'tls' ? server.port : server.h2cPort!, transport, header, delivery, ca: server.tlsCert });

const isServed = async (session: http2.ClientHttp2Session): Promise<boolean> => {
  try {
    return (await h2Request(session, { ':path': '/healthz' })).status === 200;
  } catch {
    return false;
  }
};

/** Counters of one metric by its `reason` label. */
async function countsByReason(server: TestServer, metric: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await server.metrics.registry.metrics()).matchAll(new RegExp(`^${metric}\\{reason="([^"]+)"\\} (\\d+)`, 'gm'))) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

describe('PROXY protocol', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  const sessions: http2.ClientHttp2Session[] = [];
  before(async () => {
    library = await makeFixtureLibrary({ seekBytes: 1024 * 1024 });
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    for (const s of servers) await s.close(0);
  });
  const start = async (env: Record<string, string> = {}): Promise<TestServer> => {
    const server = await startTestServer(library.root, { PROXY_PROTOCOL: 'on', ...env });
    servers.push(server);
    return server;
  };
  const open = async (...args: Parameters<typeof connectVia>): Promise<http2.ClientHttp2Session> => {
    const session = await connectVia(...args);
    sessions.push(session);
    return session;
  };
  const closeAll = async (): Promise<void> => {
    await Promise.all(sessions.splice(0).map((s) => (s.destroyed ? undefined : (s.close(), once(s, 'close')))));
  };

  for (const transport of ['tls', 'h2c'] as const) {
    for (const [version, encode] of [['v1', encodeProxyV1], ['v2', encodeProxyV2]] as const) {
      for (const delivery of ['separate', 'coalesced', 'trickled'] as const) {
        it(`${transport}, ${version}, header ${delivery}: media served byte-exact`, async () => {
          const server = servers[0] ?? (await start());
          const session = await open(server, transport, encode(proxied('203.0.113.9')), delivery);
          const small = await h2Request(session, { ':path': '/media/small.txt', range: 'bytes=10-19' });
          assert.equal(small.status, 206);
          assert.equal(small.body.length, 10);
          await closeAll();
        });
      }
    }
  }

  it('the per-client connection limit counts the announced address, across both ports; LOCAL counts the proxy itself', async () => {
    const server = await start({ MAX_CONNECTIONS_PER_CLIENT: '1' });
    const first = await open(server, 'tls', encodeProxyV1(proxied('203.0.113.7')));
    assert.equal(await isServed(first), true, 'first connection of 203.0.113.7');
    const second = await open(server, 'h2c', encodeProxyV2(proxied('203.0.113.7', 40001)));
    assert.equal(await isServed(second), false, 'second connection of 203.0.113.7 is refused');
    const other = await open(server, 'h2c', encodeProxyV2(proxied('2001:db8::7')));
    assert.equal(await isServed(other), true, 'another announced client, same socket address, is served');
    const check = await open(server, 'tls', encodeProxyV2({ command: 'local' }));
    assert.equal(await isServed(check), true, 'LOCAL (a health check): the socket address, 127.0.0.1, has no connection yet');
    const secondCheck = await open(server, 'tls', encodeProxyV1({ command: 'local' }));
    assert.equal(await isServed(secondCheck), false, 'a second LOCAL connection counts against 127.0.0.1');

    assert.deepEqual(await countsByReason(server, 'media_flood_penalties_total'), { 'client-connections': 2 });
    const refusal = server.logLines.find((l) => l.msg === 'connection refused');
    assert.equal(refusal?.client, '203.0.113.7', 'the refusal names the announced client');
    await closeAll();
    await assertNoLeaks(server);
  });

  it('a flood penalises the announced client: its next connection is refused, another announced client is served', async () => {
    const server = await start({ EARLY_RESET_BURST: '10', EARLY_RESET_RATE_PER_SEC: '1', CLIENT_PENALTY_MS: '60000' });
    const attacker = await open(server, 'h2c', encodeProxyV1(proxied('198.51.100.9')));
    await once(attacker, 'connect');
    const goaway = once(attacker, 'goaway');
    for (let i = 0; i < 30; i++) {
      const req = attacker.request({ ':path': '/media/seek.bin' });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_CANCEL); // Rapid Reset in miniature: cancelled before any answer
    }
    assert.equal((await goaway)[0], http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const flood = server.logLines.find((l) => l.msg === 'http2 connection ended as a flood');
    assert.equal(flood?.client, '198.51.100.9', 'the flood is charged to the announced client');

    const again = await open(server, 'tls', encodeProxyV2(proxied('198.51.100.9', 40002)));
    assert.equal(await isServed(again), false, 'the penalised client is refused');
    const neighbour = await open(server, 'tls', encodeProxyV2(proxied('198.51.100.10')));
    assert.equal(await isServed(neighbour), true, 'another client behind the same proxy is served');
    assert.deepEqual(await countsByReason(server, 'media_flood_penalties_total'), { 'rapid-reset': 1, 'penalised-client': 1 });
    await closeAll();
    await assertNoLeaks(server);
  });

  it('no header, or a wrong one: closed before TLS or HTTP/2, counted and logged (one line a second)', async () => {
    const server = await start();
    for (const transport of ['tls', 'h2c'] as const) assert.equal(await isServed(connectH2(server, transport)), false, `${transport} without a header`);
    const garbage = await open(server, 'h2c', Buffer.from('PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n'));
    assert.equal(await isServed(garbage), false, 'a malformed header');
    assert.deepEqual(await countsByReason(server, 'media_proxy_protocol_refused_total'), { 'not-proxy-protocol': 2, malformed: 1 });
    const lines = server.logLines.filter((l) => l.msg === REFUSED_LINE);
    assert.equal(lines.length, 1, 'the refusals of one second share a log line');
    assert.equal(lines[0]!.reason, 'not-proxy-protocol');
    await assertNoLeaks(server);
  });

  it('an unfinished header is cut off at HEADER_TIMEOUT_MS', async () => {
    const headerTimeoutMs = 400;
    const server = await start({ HEADER_TIMEOUT_MS: String(headerTimeoutMs) });
    const raw = net.connect(server.port, '127.0.0.1');
    await once(raw, 'connect');
    raw.write('PROXY TCP4 192.0.2.1 ');
    const sentAt = performance.now();
    await once(raw, 'close');
    const closedAfter = performance.now() - sentAt;
    assert.ok(closedAfter >= headerTimeoutMs - 50 && closedAfter < headerTimeoutMs + 2000, `closed after ${Math.round(closedAfter)} ms`);
    assert.deepEqual(await countsByReason(server, 'media_proxy_protocol_refused_total'), { timeout: 1 });
  });

  it('HTTP/1.1 after a LOCAL header (how HAProxy checks /healthz); a drain closes idle keep-alive sockets at once and stops the gate listening', async () => {
    const server = await start();
    const raw = net.connect(server.port, '127.0.0.1');
    raw.write(encodeProxyV2({ command: 'local' }));
    const socket = tls.connect({ socket: raw, ALPNProtocols: ['http/1.1'], ca: server.tlsCert, servername: 'localhost' });
    await once(socket, 'secureConnect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const [head] = (await once(socket, 'data')) as [Buffer];
    assert.match(head.toString('latin1'), /^HTTP\/1\.1 200 /);
    const h2 = await open(server, 'tls', encodeProxyV1(proxied('203.0.113.5')));
    assert.equal(await isServed(h2), true);
    const goaway = once(h2, 'goaway');

    const drainedAt = performance.now();
    const drained = server.drain(3000);
    await once(socket, 'close'); // Node's HTTP/1.1 connection tracking runs on the inner server too
    assert.ok(performance.now() - drainedAt < 1000, `idle keep-alive socket closed after ${Math.round(performance.now() - drainedAt)} ms`);
    assert.equal((await goaway)[0], http2.constants.NGHTTP2_NO_ERROR);
    const refused = net.connect(server.port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED', 'the gate no longer listens');
    const report = await drained;
    assert.equal(report.isDeadlineReached, false);
    await assertNoLeaks(server);
    await closeAll();
  });
});
