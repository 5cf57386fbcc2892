// Starts the real server on loopback (port 0, TLS + h2c) over a media root, for integration
// tests, and checks after each test that every slab and descriptor came back.

import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import type { BufferPoolOptions } from '../../server/streaming/buffer-pool.ts';
import type { RunningServer, TestOverrides } from '../../server/server.ts';
import { PoisoningPool } from './poisoning-pool.ts';

export interface TestServer extends RunningServer {
  readonly tlsUrl: string;
  readonly h2cUrl: string;
  /** Log lines at warn and above (the harness runs the server at LOG_LEVEL=warn). */
  readonly logLines: ReadonlyArray<Record<string, unknown>>;
}

export interface HarnessOverrides extends Omit<TestOverrides, 'logDestination'> {
  /** Released slabs are filled with 0xEE (test/support/poisoning-pool.ts), for the byte verifiers. */
  readonly poisonOnRelease?: boolean;
}

export async function startTestServer(
  mediaRoot: string,
  env: Record<string, string> = {},
  harnessOverrides: HarnessOverrides = {},
): Promise<TestServer> {
  const { poisonOnRelease, ...overrides } = harnessOverrides;
  if (poisonOnRelease && overrides.createPool) throw new Error('poisonOnRelease with createPool: pass createPool a poisoning(...) pool');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'media-data-'));
  const logLines: Record<string, unknown>[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig(
    // No ffprobe per fixture file per server: tests that want facts turn MEDIA_PROBE on.
    { PORT: '0', H2C_PORT: '0', HOST: '127.0.0.1', MEDIA_ROOT: mediaRoot, DATA_DIR: dataDir, LOG_LEVEL: 'warn', MEDIA_PROBE: 'off', ...env },
    [],
  );
  const createPool = poisonOnRelease ? (options: BufferPoolOptions) => new PoisoningPool(options) : overrides.createPool;
  const server = await startServer(config, { ...overrides, ...(createPool ? { createPool } : {}), logDestination });
  return Object.assign(server, {
    tlsUrl: `https://localhost:${server.port}`,
    h2cUrl: `http://127.0.0.1:${server.h2cPort}`,
    logLines,
  });
}

/** Connects an HTTP/2 client that trusts the test server's generated certificate. */
export function connectH2(server: TestServer, transport: 'tls' | 'h2c', options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session =
    transport === 'tls'
      ? http2.connect(server.tlsUrl, { ca: server.tlsCert, ...options })
      : http2.connect(server.h2cUrl, options);
  session.on('error', () => {}); // tests look at outcomes, not at unhandled events
  return session;
}

/** Slabs back in the pool, no premature release, every descriptor closed. Waits for late callbacks. */
export async function assertNoLeaks(server: RunningServer, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pool = server.pool.stats();
    server.storage.dropCache(); // cached descriptors are open on purpose; a user's leak is not
    const files = server.storage.openCounts();
    if (pool.inUse === 0 && files.users === 0 && files.files === 0) break;
    if (Date.now() > deadline) {
      assert.fail(`leak: ${pool.inUse} slabs in use, ${files.users} file users, ${files.files} descriptors open`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(server.pool.stats().prematureReleases, 0, 'slabs released before their write completed');
}

export interface FetchResult {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request over an HTTP/2 session, whole body buffered. */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end();
  });
}
