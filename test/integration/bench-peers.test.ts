// Every benchmark peer (bench/peers/) that can run here is started over the fixture library
// with one self-signed certificate and must serve the same URL shape over HTTP/2 + TLS: a
// Range request gets exactly the right 100 bytes with 206, a plain GET the whole file. After
// stop() its process group must be gone. A peer that is not installed is skipped with the
// reason, never silently.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PEERS } from '../../bench/peers/index.ts';
import type { PeerContext, PeerHandle } from '../../bench/peers/index.ts';
import { liveGroupMembers } from '../../bench/peers/child-process.ts';
import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';
import { expectedBytes, makeFixtureLibrary } from '../support/fixtures.ts';

const FILE = 'video.mp4';

interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

describe('bench peers', () => {
  let ctx: PeerContext;
  let cert: string;
  let fixtureBase: string;
  let size: number;
  let salt: number;

  before(async () => {
    const library = await makeFixtureLibrary({ seekBytes: 64 * 1024 });
    fixtureBase = path.dirname(library.root);
    ({ size, salt } = library.files.get(FILE)!);
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'bench-peers-'));
    const pair = createSelfSignedCert({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 2 });
    cert = pair.certPem;
    const certFile = path.join(workDir, 'cert.pem');
    const keyFile = path.join(workDir, 'key.pem');
    await writeFile(certFile, pair.certPem);
    await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
    ctx = { mediaRoot: library.root, certFile, keyFile, workDir };
  });

  after(async () => {
    await rm(ctx.workDir, { recursive: true, force: true });
    await rm(fixtureBase, { recursive: true, force: true });
  });

  it('lists the peers in bench order', () => {
    assert.deepEqual(
      PEERS.map((p) => p.name),
      ['ours', 'ours-sync-read', 'nginx', 'h2o', 'caddy', 'node-respondwithfd', 'fastify-static', 'koa-send'],
    );
  });

  for (const peer of PEERS) {
    it(`${peer.name}: serves /media/ ranges over h2 and stops`, async (t) => {
      const availability = await peer.available();
      if (!availability.ok) {
        t.skip(availability.reason);
        return;
      }
      const startedAt = performance.now();
      const handle = await peer.start(ctx);
      t.diagnostic(`${peer.name} (${availability.version ?? 'version unknown'}) ready in ${Math.round(performance.now() - startedAt)} ms at ${handle.url}`);
      try {
        assert.match(handle.url, /^https:\/\/localhost:\d+$/);
        assert.ok(handle.pid && handle.pid > 0, 'a pid to measure RSS of');
        await checkServes(handle);
      } finally {
        const stoppingAt = performance.now();
        await handle.stop();
        t.diagnostic(`${peer.name} stopped in ${Math.round(performance.now() - stoppingAt)} ms`);
      }
      assert.equal(isAlive(handle.pid!), false, 'the server process is gone');
      assert.deepEqual(liveGroupMembers(handle.pid!), [], 'no process of its group is left running');
      await handle.stop(); // idempotent
    });
  }

  async function checkServes(handle: PeerHandle): Promise<void> {
    const session = http2.connect(handle.url, { ca: cert });
    session.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      assert.equal(session.alpnProtocol, 'h2');

      const partial = await get(session, `/media/${FILE}`, { range: 'bytes=100-199' });
      assert.equal(partial.status, 206, 'Range gets 206');
      assert.equal(partial.headers['content-range'], `bytes 100-199/${size}`);
      assert.equal(partial.body.length, 100);
      assert.ok(partial.body.equals(expectedBytes(100, 100, salt)), 'exactly bytes 100-199 of the file');

      const full = await get(session, `/media/${FILE}`);
      assert.equal(full.status, 200);
      assert.equal(full.body.length, size);
      assert.ok(full.body.equals(expectedBytes(0, size, salt)), 'the whole file');
    } finally {
      await new Promise<void>((resolve) => session.close(() => resolve()));
    }
  }
});

function get(session: ClientHttp2Session, urlPath: string, extra: Record<string, string> = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': urlPath, ...extra });
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** Whether a process still exists (a zombie too: the bench reaps its own children). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
