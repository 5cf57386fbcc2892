// One owner per connection (STYLE.md 11): every listener of ours on an HTTP/2 stream is attached
// by the connection registry, and a media GET carries few of them. Counted against a bare
// node:http2 server on the same Node, whose streams carry only Node's own listeners.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { ResponseSink } from '../../server/streaming/response-sink.ts';

/** Listeners of every event on a stream. */
function listenerTotal(stream: ServerHttp2Stream): number {
  let total = 0;
  for (const name of stream.eventNames()) total += stream.listenerCount(name);
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
