// Regression (found by the scale-out test): a server may close the connection as soon as its
// last stream is done, right after the final GOAWAY (RFC 9113 6.8). A paused viewer can then
// still hold that stream's last bytes unread in Node's client buffer, and Node destroys the
// stream with them. The load tool once called that a failed play ("connection closed after
// GOAWAY NO_ERROR while stream N was still open") although every byte had arrived; it now reads
// them out of the destroyed stream's buffer, verifies them, and counts the stream as ended.
// The test shows the situation really arises (the connection is gone before the tail is read)
// and that the tail bytes are exactly the file's.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Connection } from '../../loadtest/connection.ts';
import { RangeStream } from '../../loadtest/range-stream.ts';
import { expectedBytes, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

describe('load tool: bytes that arrived before the connection closed', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  before(async () => {
    library = await makeFixtureLibrary({ seekBytes: 1024 * 1024 });
    server = await startTestServer(library.root);
  });
  after(() => server.close(0));

  it('a paused stream whose whole body arrived before the server closed the connection ended, every byte verified', async () => {
    const { size, salt } = library.files.get('seek.bin')!;
    const tail = 48 * 1024; // less than one stream window: the server sends all of it while the viewer is paused
    const offset = size - tail;
    const failures: string[] = [];
    const connection = new Connection(server.tlsUrl, { insecure: false, caPem: server.tlsCert }, false, {
      onGracefulGoaway: () => {},
      onFailure: (cls, detail) => failures.push(`${cls}: ${detail}`),
    });
    const chunks: { offset: number; bytes: Buffer; isAfterClose: boolean }[] = [];
    let stream: RangeStream | undefined;
    stream = new RangeStream(connection, new URL(`${server.tlsUrl}/media/seek.bin`), offset, {
      onData: (_s, chunk, at) => {
        if (chunks.length === 0) stream!.hold('user-pause', true); // the viewer stops reading after the first chunk
        chunks.push({ offset: at, bytes: Buffer.from(chunk), isAfterClose: connection.isGone });
      },
    });
    await stream.firstByte;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the rest arrives and waits in Node's buffer
    const report = await server.drain(2000); // the session is idle on the server: GOAWAY, then the socket closes
    const end = await stream.done;

    assert.equal(report.streams.inFlight, 0, 'the server had finished the stream before it closed the connection');
    assert.ok(chunks.some((c) => c.isAfterClose), 'the tail was read out after Node had destroyed the stream');
    assert.deepEqual(end, { kind: 'ended' });
    assert.deepEqual(failures, []);
    const body = Buffer.concat(chunks.map((c) => c.bytes));
    assert.equal(chunks[0]!.offset, offset);
    assert.ok(body.equals(expectedBytes(offset, tail, salt)), 'every byte is the file\'s, in order');
    await assertNoLeaks(server);
  });
});
