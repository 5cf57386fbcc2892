// Expect: 100-continue on uploads (RFC 9110 10.1.1): the server invites the body only after it
// has checked the token, the path and the declared size; a refusal goes out without a 100, so
// the client never sends a body that would be thrown away. Over HTTP/1.1 (TLS) and HTTP/2.
// Negative control: with Node answering 100 itself (its default), the same test sees the 100
// before the refusal.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { assertNoLeaks, connectH2, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

const TOKEN = 'expect-continue-token-0123456789';
const MAX = 100_000;

/**
 * Sends an HTTP/1.1 request head with Expect: 100-continue and waits for the server's first
 * status line; sends `body` only if that was 100. Resolves every status line seen, in order.
 */
function h1ExpectContinue(server: TestServer, token: string, length: number, body: Buffer): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: server.tlsCert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    let text = '';
    let hasSentBody = false;
    const statuses = (): number[] => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
    socket.on('secureConnect', () => {
      socket.write(
        `PUT /media/uploaded.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const seen = statuses();
      if (seen[0] === 100 && !hasSentBody) {
        hasSentBody = true;
        socket.write(body);
      }
      // Done once the final answer's head and its body (JSON or empty) are in.
      if (!seen.some((s) => s >= 200)) return;
      const final = text.slice(text.search(/^HTTP\/1\.1 [2-5]/m));
      const bodyLength = Number(/content-length: (\d+)/i.exec(final)?.[1] ?? 0);
      const headEnd = final.indexOf('\r\n\r\n');
      if (headEnd >= 0 && final.length - headEnd - 4 >= bodyLength) {
        socket.end();
        resolve(seen);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error(`no final answer; got ${JSON.stringify(text)}`)));
  });
}

/** The same over HTTP/2: whether the server sent 100 ('continue') before its answer. */
function h2ExpectContinue(server: TestServer, token: string, length: number, body: Buffer): Promise<{ continued: boolean; status: number }> {
  const session = connectH2(server, 'tls');
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'PUT',
      ':path': '/media/uploaded-h2.bin',
      authorization: `Bearer ${token}`,
      'content-length': String(length),
      expect: '100-continue',
    });
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (headers) => {
      const status = Number(headers[':status']);
      req.resume();
      req.on('close', () => {
        session.close();
        resolve({ continued, status });
      });
    });
    req.on('error', reject);
  });
}

describe('Expect: 100-continue on uploads', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  let nodeDefault: TestServer;
  before(async () => {
    library = await makeFixtureLibrary();
    const env = { UPLOAD_TOKEN: TOKEN, UPLOAD_MAX_BYTES: String(MAX) };
    server = await startTestServer(library.root, env);
    nodeDefault = await startTestServer(library.root, env, { omitGuards: ['deferred-continue'] });
  });
  after(async () => {
    for (const s of [server, nodeDefault]) {
      await assertNoLeaks(s);
      await s.close(1000);
    }
  });

  test('HTTP/1.1: a wrong token or a too-large Content-Length is refused without 100; a good upload gets 100, then 201', async () => {
    assert.deepEqual(await h1ExpectContinue(server, 'wrong-token-0123456789', 1000, Buffer.alloc(1000)), [401]);
    assert.deepEqual(await h1ExpectContinue(server, TOKEN, MAX + 1, Buffer.alloc(0)), [413]);
    assert.deepEqual(await h1ExpectContinue(server, TOKEN, 1000, Buffer.alloc(1000, 7)), [100, 201]);
  });

  test('HTTP/2: the same, by whether the client saw a 100 before the answer', async () => {
    assert.deepEqual(await h2ExpectContinue(server, 'wrong-token-0123456789', 1000, Buffer.alloc(1000)), { continued: false, status: 401 });
    assert.deepEqual(await h2ExpectContinue(server, TOKEN, MAX + 1, Buffer.alloc(0)), { continued: false, status: 413 });
    assert.deepEqual(await h2ExpectContinue(server, TOKEN, 1000, Buffer.alloc(1000, 9)), { continued: true, status: 201 });
  });

  test('negative control: Node answering 100 itself invites the body of a request it then refuses', async () => {
    assert.deepEqual(await h1ExpectContinue(nodeDefault, 'wrong-token-0123456789', 1000, Buffer.alloc(1000)), [100, 401]);
    const h2 = await h2ExpectContinue(nodeDefault, 'wrong-token-0123456789', 1000, Buffer.alloc(1000));
    assert.deepEqual(h2, { continued: true, status: 401 });
  });
});
