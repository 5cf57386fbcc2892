// The connection registry against real loopback servers (TLS with allowHTTP1, and h2c): which
// connections are busy, when they go idle, when their head arrived, that nothing is reported
// after a connection closed, and that the record is found from the TCP socket, the TLS socket
// over it and a session's socket proxy.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionRegistry, connectionRecordOf } from '../../server/connection/connection-registry.ts';
import type { ConnectionRecord } from '../../server/connection/connection-registry.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';

type Event = 'idle' | 'busy' | 'head' | 'closed';

const cert = createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });

describe('ConnectionRegistry: connections', () => {
  const events = new Map<ConnectionRecord, Event[]>();
  const follow = (connection: ConnectionRecord) => {
    const list: Event[] = [];
    events.set(connection, list);
    return {
      idle: () => void list.push('idle'),
      busy: () => void list.push('busy'),
      headReceived: () => void list.push('head'),
      closed: () => void list.push('closed'),
    };
  };
  /** Answers after `?ms=` milliseconds. */
  const handler = (req: { url?: string | undefined }, res: { end(body: string): unknown }): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    setTimeout(() => res.end('ok'), Number(url.searchParams.get('ms') ?? 0));
  };
  const secure = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, allowHTTP1: true }, handler);
  const h2c = http2.createServer(handler);
  const registry = new ConnectionRegistry({ connection: [follow], session: [] });
  registry.track(secure);
  registry.track(h2c);
  let securePort = 0;
  let h2cPort = 0;
  before(async () => {
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve));
    securePort = (secure.address() as AddressInfo).port;
    h2cPort = (h2c.address() as AddressInfo).port;
  });
  after(() => {
    secure.close();
    h2c.close();
  });

  const request = (client: http2.ClientHttp2Session, path: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = client.request({ ':path': path });
      req.on('error', reject);
      req.resume();
      req.on('end', () => resolve());
      req.end();
    });
  const only = <T>(items: T[]): T => {
    assert.equal(items.length, 1, `one, got ${items.length}`);
    return items[0]!;
  };

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: a session is busy from a stream's head until its response is done, idle otherwise`, async () => {
      const client =
        transport === 'tls'
          ? http2.connect(`https://localhost:${securePort}`, { ca: cert.certPem })
          : http2.connect(`http://127.0.0.1:${h2cPort}`);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      await sleep(20);
      const connection = only([...registry.connections()].filter((c) => c.protocol === 'h2'));
      assert.deepEqual(events.get(connection), ['idle', 'head']);
      const slow = request(client, '/?ms=150');
      await sleep(50);
      assert.equal(connection.inFlight, 1, 'a handler still working counts');
      assert.deepEqual(events.get(connection), ['idle', 'head', 'busy']);
      await Promise.all([slow, request(client, '/?ms=10')]);
      await sleep(20);
      assert.equal(connection.inFlight, 0);
      assert.deepEqual(events.get(connection), ['idle', 'head', 'busy', 'idle']);
      const tcp = connection.socket;
      assert.equal(tcp.remotePort, (client.socket as Socket).localPort, 'the TCP socket under the session');
      assert.equal(connectionRecordOf(connection.session!.session.socket), connection, 'found from the session socket proxy');
      client.close();
      await new Promise((resolve) => tcp.once('close', resolve));
      await sleep(20);
      assert.deepEqual(events.get(connection), ['idle', 'head', 'busy', 'idle', 'closed']);
      assert.equal([...registry.connections()].includes(connection), false, 'forgotten once closed');
    });
  }

  it('HTTP/1.1 over TLS: busy per request, idle between keep-alive requests, closed once', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: cert.certPem });
    const get = (path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        https.get({ host: 'localhost', port: securePort, path, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
    await get('/?ms=100');
    await sleep(20);
    const connection = only([...registry.connections()].filter((c) => c.protocol === 'http/1.1'));
    await get('/?ms=10');
    await sleep(20);
    assert.deepEqual(events.get(connection), ['idle', 'head', 'busy', 'idle', 'busy', 'idle']);
    const tcp = connection.socket;
    assert.ok(connection.http1Socket && tcp !== connection.http1Socket, 'the TCP socket, not the TLS socket');
    assert.equal(connectionRecordOf(connection.http1Socket), connection, 'found from the TLS socket');
    agent.destroy();
    await new Promise((resolve) => tcp.once('close', resolve));
    await sleep(20);
    assert.deepEqual(events.get(connection), ['idle', 'head', 'busy', 'idle', 'busy', 'idle', 'closed']);
  });

  it('nothing is reported after closed(): an HTTP/1.1 socket gone mid-response', async () => {
    // Our 'close' listener on the socket runs before the one Node adds per response, so the
    // response's 'close' (which ends the request's work) comes after the connection's.
    const agent = new https.Agent({ keepAlive: false, ca: cert.certPem });
    const req = https.get({ host: 'localhost', port: securePort, path: '/?ms=300', agent });
    req.on('error', () => {});
    await sleep(100);
    const connection = only([...registry.connections()].filter((c) => c.protocol === 'http/1.1'));
    assert.equal(connection.inFlight, 1);
    req.destroy();
    await sleep(100);
    const seen = events.get(connection)!;
    assert.deepEqual(seen, ['idle', 'head', 'busy', 'closed'], 'no idle after closed');
    agent.destroy();
  });
});
