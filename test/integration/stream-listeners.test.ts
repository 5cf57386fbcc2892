// One owner per connection (STYLE.md 11): every listener of ours on an HTTP/2 stream and on an
// accepted socket is attached by the connection registry, and there are few of them: at most two
// on a media GET stream, one on the socket. Counted against a bare node:http2 server on the same
// Node, whose streams and sockets carry only Node's own listeners.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { ResponseSink } from '../../server/streaming/response-sink.ts';
import { connectionRecordOf } from '../../server/connection/connection-registry.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';

/** Listeners of every event on a stream or socket. */
function listenerTotal(emitter: ServerHttp2Stream | Socket): number {
  let total = 0;
  for (const name of emitter.eventNames()) total += emitter.listenerCount(name);
  return total;
}

/** Node's own listeners on a server stream when its 'stream' handler runs. */
async function nodeBaseline(): Promise<number> {
  const server = http2.createServer();
  let count = -1;
  server.on('stream', (stream) => {
    count = listenerTotal(stream);
    stream.respond({ ':status': 204 }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await h2Request(client, { ':path': '/' });
  client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return count;
}

describe('listeners on a media stream', () => {
  let library: FixtureLibrary;
  before(async () => {
    library = await makeFixtureLibrary();
  });
  const servers: { close(ms: number): Promise<void> }[] = [];
  after(async () => {
    for (const server of servers) await server.close(0);
  });

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: a GET of a range carries at most two listeners of ours, from the handler to its last write`, async () => {
      const baseline = await nodeBaseline();
      const counts: number[] = [];
      /** Counts when the sink is made (the registry's listeners are on) and at every write. */
      const countingSink = (sink: ResponseSink, stream: ServerHttp2Stream | undefined): ResponseSink => {
        if (!stream) return sink;
        counts.push(listenerTotal(stream));
        const write = sink.write.bind(sink);
        return Object.assign(Object.create(null) as ResponseSink, {
          protocol: sink.protocol,
          ready: sink.ready,
          peerWindowBytes: sink.peerWindowBytes,
          get closed() {
            return sink.closed;
          },
          get unflushedBytes() {
            return sink.unflushedBytes;
          },
          isOpen: () => sink.isOpen(),
          isGone: () => sink.isGone(),
          isClientReset: () => sink.isClientReset(),
          respond: (status: number, headers: http2.OutgoingHttpHeaders, endStream: boolean) => sink.respond(status, headers, endStream),
          end: () => sink.end(),
          cancel: () => sink.cancel(),
          write: (chunk: Buffer, onFlushed: () => void) => {
            const accepted = write(chunk, onFlushed);
            counts.push(listenerTotal(stream));
            return accepted;
          },
        });
      };
      const server = await startTestServer(library.root, {}, { decorateSink: countingSink });
      servers.push(server);
      const session = connectH2(server, transport);
      const res = await h2Request(session, { ':path': '/media/seek.bin', range: 'bytes=1000-300000' });
      assert.equal(res.status, 206);
      assert.equal(res.body.length, 299_001);
      session.close();
      assert.ok(counts.length >= 2, `counted at the sink and its writes (${counts.length})`);
      const ours = Math.max(...counts) - baseline;
      console.log(`# ${transport}: Node's own listeners ${baseline}, with ours at most ${Math.max(...counts)}: ${ours} of ours`);
      assert.ok(ours <= 2, `${ours} listeners of ours on a media GET stream`);
      await assertNoLeaks(server);
    });
  }
});

describe('listeners on an accepted socket', () => {
  let library: FixtureLibrary;
  before(async () => {
    library = await makeFixtureLibrary();
  });
  const cert = createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });

  /** Node's own listeners on the TCP socket of a bare server's session, while a stream is open. */
  async function socketBaseline(transport: 'tls' | 'h2c'): Promise<number> {
    const server = transport === 'tls' ? http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, allowHTTP1: true }) : http2.createServer();
    let tcp: Socket | undefined;
    server.on('connection', (socket: Socket) => (tcp = socket));
    let count = -1;
    server.on('stream', (stream) => {
      count = listenerTotal(tcp!);
      stream.respond({ ':status': 204 }, { endStream: true });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = transport === 'tls' ? http2.connect(`https://localhost:${port}`, { ca: cert.certPem }) : http2.connect(`http://127.0.0.1:${port}`);
    await h2Request(client, { ':path': '/' });
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return count;
  }

  for (const transport of ['tls', 'h2c'] as const) {
    it(`${transport}: the TCP socket under a session carries one listener of ours`, async () => {
      const baseline = await socketBaseline(transport);
      let count = -1;
      const countingSink = (sink: ResponseSink, stream: ServerHttp2Stream | undefined): ResponseSink => {
        const tcp = connectionRecordOf(stream?.session?.socket)?.socket;
        if (tcp) count = listenerTotal(tcp);
        return sink;
      };
      const server = await startTestServer(library.root, {}, { decorateSink: countingSink });
      try {
        const session = connectH2(server, transport);
        const res = await h2Request(session, { ':path': '/media/seek.bin', range: 'bytes=0-999' });
        assert.equal(res.status, 206);
        session.close();
        assert.ok(count >= 0, 'the registry knows the TCP socket under the session');
        console.log(`# ${transport}: Node's own socket listeners ${baseline}, with ours ${count}: ${count - baseline} of ours`);
        assert.ok(count - baseline <= 1, `${count - baseline} listeners of ours on an accepted socket`);
        await assertNoLeaks(server);
      } finally {
        await server.close(0);
      }
    });
  }
});
