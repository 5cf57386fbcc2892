// Uploads (PUT and DELETE on /media/) over HTTP/2 over TLS, h2c and HTTP/1.1 over TLS, and
// request bodies the server must not trust or must not read (the Bandit lesson: a body that
// "ended" may have been cut off; a GET may carry a body nobody reads). Old files stay
// byte-identical whenever an upload is not whole, no temporary file is ever left behind, a
// cut-off upload costs one warning line and never its connection's other streams, and after
// every test every slab and descriptor is back. Bodies longer than their Content-Length:
// upload-overflow.test.ts.

import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { expectedBytes, firstMismatch, makeFixtureLibrary } from '../support/fixtures.ts';
import { ErrorCode } from '../support/raw-h2.ts';
import type { RawH2Connection } from '../support/raw-h2.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { FetchResult, TestServer } from '../support/server-harness.ts';
import { collectRaw, connectRaw, h1PutThenClose, h1Send, h2Send, rawSend } from '../support/upload-client.ts';
import type { BodyOptions } from '../support/upload-client.ts';
import { assertOneCutOffLine, assertSameConnectionServes as assertServes, h2Headers, waitForLog } from '../support/upload-checks.ts';
import type { LogLine } from '../support/upload-checks.ts';
import { UPLOAD_TEMP_PREFIX } from '../../storage/fs-write.ts';

const TOKEN = 'test-upload-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` } as const;
const MiB = 1024 * 1024;
const MAX_BYTES = 32 * MiB;
const READER_FILE_BYTES = 24 * MiB; // more than socket buffers hold: the server still reads after the replace
const OLD_SALT = 0x0dd;
const NEW_SALT = 0x2ee;
const TEST_TIMEOUT_MS = 30_000;

const library = await makeFixtureLibrary({ seekBytes: MiB });
const root = library.root;
const base = path.dirname(root);

type TransportName = 'h2-tls' | 'h2c' | 'h1-tls';
const TRANSPORTS: readonly TransportName[] = ['h2-tls', 'h2c', 'h1-tls'];

interface Client {
  send(method: string, urlPath: string, headers?: Record<string, string>, chunks?: readonly Buffer[], options?: BodyOptions): Promise<FetchResult>;
  close(): void;
}

function openClient(name: TransportName, server: TestServer): Client {
  if (name === 'h1-tls') {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    return {
      send: (method, urlPath, headers = {}, chunks, options) => h1Send(server, agent, method, urlPath, headers, chunks, options),
      close: () => agent.destroy(),
    };
  }
  const session = connectH2(server, name === 'h2-tls' ? 'tls' : 'h2c');
  return {
    send: (method, urlPath, headers = {}, chunks, options) => h2Send(session, { ':method': method, ':path': urlPath, ...headers }, chunks, options),
    close: () => session.close(),
  };
}

const salted = (size: number, salt: number): Buffer => expectedBytes(0, size, salt);
const piecesOf = (buf: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size));
const onDisk = (name: string): Promise<Buffer> => readFile(path.join(root, name));

async function tempFiles(): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.filter((e) => path.basename(e).startsWith(UPLOAD_TEMP_PREFIX));
}

async function exists(name: string): Promise<boolean> {
  return readFile(path.join(root, name)).then(() => true, () => false);
}

let server: TestServer;
let uploadsOff: TestServer;

before(async () => {
  server = await startTestServer(root, { UPLOAD_TOKEN: TOKEN, UPLOAD_MAX_BYTES: String(MAX_BYTES) });
  uploadsOff = await startTestServer(root);
});

after(async () => {
  await server?.close(0);
  await uploadsOff?.close(0);
  await rm(base, { recursive: true, force: true });
});

afterEach(async () => {
  await assertNoLeaks(server);
  await assertNoLeaks(uploadsOff);
  assert.deepEqual(await tempFiles(), [], 'no temporary upload file left behind');
});

for (const name of TRANSPORTS) {
  const isH2 = name !== 'h1-tls';
  const file = (label: string): string => `${label}-${name}.bin`;

  describe(name, () => {
    let client: Client;
    before(() => {
      client = openClient(name, server);
    });
    after(() => client.close());

    it(`${name}: uploads off: PUT and DELETE 403, POST 405 with Allow: GET, HEAD`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const offClient = openClient(name, uploadsOff);
      try {
        const put = await offClient.send('PUT', '/media/small.txt', { ...AUTH, 'content-length': '5' }, [Buffer.from('hello')]);
        assert.equal(put.status, 403);
        const answer = JSON.parse(put.body.toString()) as { error: string; message: string };
        assert.equal(answer.error, 'UPLOADS_DISABLED');
        assert.match(answer.message, /UPLOAD_TOKEN/);
        assert.equal((await offClient.send('DELETE', '/media/small.txt', { ...AUTH })).status, 403);
        const post = await offClient.send('POST', '/media/small.txt', { 'content-length': '0' }, [Buffer.alloc(0)]);
        assert.equal(post.status, 405);
        assert.equal(post.headers.allow, 'GET, HEAD');
        assert.equal(firstMismatch(await onDisk('small.txt'), 0, library.files.get('small.txt')!.salt), -1);
      } finally {
        offClient.close();
      }
    });

    it(`${name}: no token or a wrong one: 401 with WWW-Authenticate: Bearer; nothing written`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const body = [Buffer.from('forged')];
      const cases: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong-token-0123456789' },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
      ];
      for (const headers of cases) {
        const res = await client.send('PUT', `/media/${file('forged')}`, { ...headers, 'content-length': '6' }, body);
        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
        assert.equal((JSON.parse(res.body.toString()) as { error: string }).error, 'UNAUTHORIZED');
      }
      assert.equal((await client.send('DELETE', '/media/small.txt', { authorization: 'Bearer nope-nope-nope-nope' })).status, 401);
      assert.equal(await exists(file('forged')), false);
      assert.ok(await exists('small.txt'));
    });

    it(`${name}: PUT creates (201, ETag), GET returns those bytes, PUT replaces (204), DELETE 204 then 404`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const urlPath = `/media/made/${name}/clip.mp4`;
      const first = salted(300_000, OLD_SALT);
      const created = await client.send('PUT', urlPath, { ...AUTH, 'content-length': String(first.length) }, piecesOf(first, 50_000));
      assert.equal(created.status, 201, created.body.toString());
      const etag = String(created.headers.etag);
      assert.match(etag, /^"[^"]+"$/, 'a strong ETag');
      assert.deepEqual(JSON.parse(created.body.toString()), { name: `made/${name}/clip.mp4`, url: urlPath, size: first.length, etag });
      const got = await client.send('GET', urlPath);
      assert.equal(got.status, 200);
      assert.equal(got.headers.etag, etag);
      assert.ok(got.body.equals(first), 'GET returns the uploaded bytes');

      const second = salted(123_457, NEW_SALT);
      const replaced = await client.send('PUT', urlPath, { ...AUTH }, piecesOf(second, 40_000)); // no Content-Length: chunked / unknown
      assert.equal(replaced.status, 204);
      assert.notEqual(replaced.headers.etag, etag);
      const again = await client.send('GET', urlPath, { range: 'bytes=100-199' });
      assert.equal(again.status, 206);
      assert.equal(again.headers.etag, replaced.headers.etag, 'served at once, not from the open-file cache');
      assert.ok(again.body.equals(second.subarray(100, 200)));

      assert.equal((await client.send('DELETE', urlPath, { ...AUTH })).status, 204);
      assert.equal((await client.send('GET', urlPath)).status, 404);
      assert.equal((await client.send('DELETE', urlPath, { ...AUTH })).status, 404);
      const metrics = (await client.send('GET', '/metrics')).body.toString();
      for (const outcome of ['created', 'replaced', 'deleted']) assert.match(metrics, new RegExp(`media_uploads_total\\{[^}]*outcome="${outcome}"[^}]*\\} [1-9]`));
    });

    it(`${name}: PUT refusals: .. 403, hidden 404, a folder leading out 403, a folder in the way 409`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const outsideBefore = await readdir(base);
      const cases: [string, number][] = [
        ['/media/%2e%2e/escaped.mp4', 403],
        ['/media/.hidden/x.mp4', 404],
        ['/media/nested/.x.mp4', 404],
        ['/media/escape-dir/escaped.mp4', 403],
        ['/media/nested', 409],
        ['/media/small.txt/inside.mp4', 409],
      ];
      for (const [urlPath, status] of cases) {
        const res = await client.send('PUT', urlPath, { ...AUTH, 'content-length': '4' }, [Buffer.from('data')]);
        assert.equal(res.status, status, urlPath);
      }
      assert.deepEqual(await readdir(base), outsideBefore, 'nothing written outside the root');
      assert.equal(await exists('.hidden/x.mp4'), false);
    });

    it(`${name}: Content-Length above the limit: 413 before reading, nothing kept`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const chunks = piecesOf(Buffer.alloc(256 * 1024, 1), 64 * 1024);
      const res = await client.send('PUT', `/media/${file('declared-too-large')}`, { ...AUTH, 'content-length': String(MAX_BYTES + 1) }, chunks, { end: false });
      assert.equal(res.status, 413);
      assert.equal((JSON.parse(res.body.toString()) as { error: string }).error, 'TOO_LARGE');
      if (!isH2) assert.equal(res.headers.connection, 'close', 'the unread body ends the connection, not read to keep it');
      assert.equal(await exists(file('declared-too-large')), false);
      assert.equal((await client.send('GET', '/media/small.txt')).status, 200, 'the client carries on');
    });

    it(`${name}: a body of unknown length growing past the limit: 413, nothing kept, old file untouched`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const old = salted(10_000, OLD_SALT);
      await writeFile(path.join(root, file('chunked-too-large')), old);
      const chunks = piecesOf(Buffer.alloc(MAX_BYTES + MiB, 7), 256 * 1024);
      const res = await client.send('PUT', `/media/${file('chunked-too-large')}`, { ...AUTH }, chunks);
      assert.equal(res.status, 413);
      assert.ok((await onDisk(file('chunked-too-large'))).equals(old), 'old file byte-identical');
      assert.equal((await client.send('GET', '/media/small.txt')).status, 200, 'the client carries on');
    });

    it(`${name}: upload cut at 50% leaves the old file byte-identical`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const name50 = file('cut');
      const urlPath = `/media/${name50}`;
      const old = salted(100_000, OLD_SALT);
      await writeFile(path.join(root, name50), old);
      const half = salted(50_000, NEW_SALT);
      const since = server.logLines.length;
      const cutOff = (l: LogLine): boolean => l.path === urlPath;
      if (isH2) {
        // RST_STREAM(CANCEL) mid-body, then a request on the same connection.
        const conn = await connectRaw(server, name === 'h2-tls' ? 'tls' : 'h2c');
        try {
          rawSend(conn, h2Headers('PUT', urlPath, { ...AUTH, 'content-length': '100000' }), half, { end: false, reset: true });
          assertOneCutOffLine(await waitForLog(server, since, cutOff), urlPath);
          await assertSameConnectionServes(conn);
        } finally {
          await conn.close();
        }
      } else {
        await h1PutThenClose(server, urlPath, { ...AUTH, 'content-length': '100000' }, half);
        assertOneCutOffLine(await waitForLog(server, since, cutOff), urlPath);
        assert.equal((await client.send('GET', '/media/small.txt')).status, 200, 'the server carries on');
      }
      assert.ok((await onDisk(name50)).equals(old), 'old file byte-identical');
      const served = await client.send('GET', urlPath);
      assert.ok(served.body.equals(old), 'and served as it was');
    });

    if (isH2) {
      it(`${name}: DATA with END_STREAM before Content-Length: the stream is refused, the old file intact, the connection serves on`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const urlPath = `/media/${file('short')}`;
        const old = salted(100_000, OLD_SALT);
        await writeFile(path.join(root, file('short')), old);
        const since = server.logLines.length;
        const conn = await connectRaw(server, name === 'h2-tls' ? 'tls' : 'h2c');
        try {
          const put = rawSend(conn, h2Headers('PUT', urlPath, { ...AUTH, 'content-length': '100000' }), salted(50_000, NEW_SALT), { end: true });
          const reply = await put.reply;
          // nghttp2 resets it (RFC 9113 8.1.1: a malformed request); a 400 would do as well.
          assert.ok(reply.resets.includes(ErrorCode.PROTOCOL_ERROR) || reply.status === 400, JSON.stringify(reply));
          assertOneCutOffLine(await waitForLog(server, since, (l) => l.path === urlPath), urlPath);
          await assertSameConnectionServes(conn);
        } finally {
          await conn.close();
        }
        assert.ok((await onDisk(file('short'))).equals(old), 'old file byte-identical');
      });
    }

    it(`${name}: two concurrent uploads to one name leave one whole file, never a mix`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const urlPath = `/media/${file('race')}`;
      const a = salted(8 * MiB, OLD_SALT);
      const b = salted(8 * MiB, NEW_SALT);
      const headers = { ...AUTH, 'content-length': String(8 * MiB) };
      // HTTP/2: two streams of one connection; HTTP/1.1: two connections. Small chunks, interleaved.
      const send = (body: Buffer): Promise<FetchResult> =>
        isH2 ? client.send('PUT', urlPath, headers, piecesOf(body, 16 * 1024)) : h1Send(server, false, 'PUT', urlPath, headers, piecesOf(body, 16 * 1024));
      const results = await Promise.all([send(a), send(b)]);
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 204], 'exactly one created it');
      const stored = await onDisk(file('race'));
      assert.ok(stored.equals(a) || stored.equals(b), 'one of the two bodies exactly');
      const served = await client.send('GET', urlPath, { range: `bytes=${4 * MiB}-${4 * MiB + 65535}` });
      assert.ok(served.body.equals(stored.subarray(4 * MiB, 4 * MiB + 65536)));
    });

    it(`${name}: a reader mid-body keeps the old bytes after a replace completes`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const urlPath = `/media/${file('reader')}`;
      const old = salted(READER_FILE_BYTES, OLD_SALT);
      const fresh = salted(READER_FILE_BYTES, NEW_SALT);
      await writeFile(path.join(root, file('reader')), old);
      const replace = async (): Promise<FetchResult> => {
        const res = await client.send('PUT', urlPath, { ...AUTH, 'content-length': String(fresh.length) }, piecesOf(fresh, 256 * 1024));
        assert.equal(res.status, 204);
        return res;
      };
      let received: Buffer;
      let replaced: FetchResult;
      if (isH2) {
        // A paused viewer: the stream's window is never returned, so the server stalls mid-body.
        const conn = await connectRaw(server, name === 'h2-tls' ? 'tls' : 'h2c');
        try {
          const streamId = conn.request(h2Headers('GET', urlPath, { range: 'bytes=0-' }));
          conn.pause(streamId);
          const reply = collectRaw(conn, streamId);
          await new Promise<void>((resolve) => conn.on('data', (id) => id === streamId && resolve()));
          replaced = await replace();
          conn.resume(streamId);
          const result = await reply;
          assert.equal(result.status, 206);
          received = result.body;
        } finally {
          await conn.close();
        }
      } else {
        received = await new Promise<Buffer>((resolve, reject) => {
          const req = https.get({ host: '127.0.0.1', port: server.port, path: urlPath, headers: { range: 'bytes=0-' }, ca: server.tlsCert, servername: 'localhost', agent: false });
          req.on('error', reject);
          req.on('response', (res) => {
            const parts: Buffer[] = [];
            res.once('data', () => {
              res.pause();
              replace().then((r) => {
                replaced = r;
                res.resume();
              }, reject);
            });
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts)));
          });
        });
      }
      assert.equal(received.length, READER_FILE_BYTES);
      assert.equal(firstMismatch(received, 0, OLD_SALT), -1, 'every byte from the old file');
      const now = await client.send('GET', urlPath, { range: 'bytes=-65536' });
      assert.equal(now.headers.etag, replaced!.headers.etag);
      assert.ok(now.body.equals(fresh.subarray(fresh.length - 65536)), 'new readers get the new file');
    });

    it(`${name}: a GET with a body it never reads: answered, nothing logged at warn or error`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const small = library.files.get('small.txt')!;
      const since = server.logLines.length;
      if (isH2) {
        const conn = await connectRaw(server, name === 'h2-tls' ? 'tls' : 'h2c');
        const resets: [number, number][] = [];
        conn.on('rst', (id, code) => resets.push([id, code]));
        try {
          // A whole body (END_STREAM), then one left open: the server answers, then ends the stream.
          for (const end of [true, false]) {
            const get = rawSend(conn, h2Headers('GET', '/media/small.txt', { range: 'bytes=0-99', 'content-length': '30000' }), Buffer.alloc(30_000, 9), { end });
            const reply = await get.reply;
            assert.equal(reply.status, 206);
            assert.equal(firstMismatch(reply.body, 0, small.salt), -1);
            assert.equal(reply.body.length, 100);
          }
          await new Promise((r) => setTimeout(r, 100));
          assert.ok(resets.every(([, code]) => code === ErrorCode.NO_ERROR), `RST_STREAM NO_ERROR at most: ${JSON.stringify(resets)}`);
          await assertSameConnectionServes(conn);
        } finally {
          await conn.close();
        }
      } else {
        const res = await client.send('GET', '/media/small.txt', { range: 'bytes=0-99', 'content-length': '30000' }, [Buffer.alloc(30_000, 9)]);
        assert.equal(res.status, 206);
        assert.equal(firstMismatch(res.body, 0, small.salt), -1);
        const full = await client.send('GET', '/media/small.txt', { 'content-length': '5' }, [Buffer.from('extra')]);
        assert.equal(full.status, 200);
        assert.equal(full.body.length, small.size);
      }
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(server.logLines.slice(since), [], 'nothing at warn or error');
    });
  });
}

/** Another request on the same HTTP/2 connection still succeeds. */
function assertSameConnectionServes(conn: RawH2Connection): Promise<void> {
  return assertServes(conn, '/media/small.txt', library.files.get('small.txt')!.size);
}
