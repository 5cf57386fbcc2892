// A media response's head leaves with its first body chunk (streaming/send-body.ts), after the
// first read. So a read that fails before any byte was sent is answered with an error status,
// on every transport, instead of a 206 head followed by a reset. Provoked with a file that
// shrank under the open-file cache, which keeps the old size (FILE_CACHE_VALID_MS).
// Negative control: with the head sent before the read (the order before this change), the
// client sees 206 and then a reset or a short body, and these tests fail.

import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectedBytes, firstMismatch, makeFixtureLibrary } from '../support/fixtures.ts';
import { connectHttp1 } from '../support/http1-client.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { FetchResult, TestServer } from '../support/server-harness.ts';

const SIZE = 1024 * 1024;
const SALT = 0x4e;
const SHRUNK_SIZE = 1000;

const library = await makeFixtureLibrary({ seekBytes: 64 * 1024 });

type Transport = 'tls' | 'h2c' | 'http/1.1';

describe('a read failing before the first body byte is answered with a status', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(library.root, { FILE_CACHE_VALID_MS: '60000' });
  });
  after(async () => {
    await server.close(0);
  });

  for (const transport of ['tls', 'h2c', 'http/1.1'] as const) {
    it(`${transport}: 500 and no file bytes, then the next request is served`, async () => {
      const name = `shrinks-${transport.replace('/', '')}.bin`;
      await writeFile(path.join(library.root, name), expectedBytes(0, SIZE, SALT));
      const get = requester(server, transport);
      try {
        const warm = await get(`/media/${name}`, 'bytes=0-9');
        assert.equal(warm.status, 206);
        assert.equal(firstMismatch(warm.body, 0, SALT), -1);

        // Same inode, fewer bytes: the cached descriptor still says SIZE, the read finds nothing.
        await truncate(path.join(library.root, name), SHRUNK_SIZE);
        const start = SIZE / 2;
        const failed = await get(`/media/${name}`, `bytes=${start}-${start + 65535}`);
        assert.equal(failed.status, 500, 'no 206 head went out before the read');
        assert.equal(failed.headers['content-range'], undefined);
        assert.equal((JSON.parse(failed.body.toString('utf8')) as { error: string }).error, 'INTERNAL');

        const after = await get(`/media/${name}`, 'bytes=0-9');
        assert.equal(after.status, 206);
        assert.equal(firstMismatch(after.body, 0, SALT), -1);
        assert.ok(
          server.logLines.some((line) => line.msg === 'request failed' && String((line.err as { message?: string })?.message).includes('ended at')),
          'the failed read is logged as an error',
        );
      } finally {
        get.close();
      }
      await assertNoLeaks(server);
    });
  }
});

interface Requester {
  (urlPath: string, range: string): Promise<FetchResult>;
  close(): void;
}

function requester(server: TestServer, transport: Transport): Requester {
  if (transport === 'http/1.1') {
    const client = connectHttp1(server);
    return Object.assign((urlPath: string, range: string) => client.request('GET', urlPath, { range }), { close: () => client.close() });
  }
  const session = connectH2(server, transport);
  const get = (urlPath: string, range: string): Promise<FetchResult> =>
    h2Request(session, { ':method': 'GET', ':path': urlPath, range });
  return Object.assign(get, { close: () => session.close() });
}
