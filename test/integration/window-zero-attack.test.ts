// Issue 12: one client stalls every viewer. Three HTTP/2 connections from 127.0.0.50, each
// advertising SETTINGS_INITIAL_WINDOW_SIZE=0 and opening 100 GETs of a large file, never grant
// any window. Before fair shares, their streams took every slab of the one global FIFO pool and
// a viewer from another address waited until the stalled-write timeout (60 s).
//
// Now a stream at window 0 holds one 16 KiB slab, and a client holds at most its share of the
// pool: a viewer from 127.0.0.51 opens a fresh connection for each of ten 1 MiB ranges and gets
// every byte right, at once. The negative control injects the old policy (one slab size, no
// shares, one FIFO queue: test/support/global-fifo-pool.ts) into a pool small enough for the
// attacker to fill, and the same viewer then times out; the fair pool of that size serves it.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { countMismatches, makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { GlobalFifoPool } from '../support/global-fifo-pool.ts';
import { poisoning } from '../support/poisoning-pool.ts';
import { RawH2Connection } from '../support/raw-h2.ts';
import { assertNoLeaks, startTestServer } from '../support/server-harness.ts';
import type { HarnessOverrides, TestServer } from '../support/server-harness.ts';

/** The negative control's pool, its released slabs poisoned like the others'. */
const PoisonedFifoPool = poisoning(GlobalFifoPool);

const ATTACKER = '127.0.0.50';
const VIEWER = '127.0.0.51';
const MiB = 1024 * 1024;

interface Attack {
  readonly connections: RawH2Connection[];
  readonly streams: number;
  answered: number;
  resets: number;
}

/** Opens `connections` x `streams` GETs at window 0 from the attacker's address. */
async function startAttack(server: TestServer, seekSize: number, connections = 3, streams = 100): Promise<Attack> {
  const attack: Attack = { connections: [], streams: connections * streams, answered: 0, resets: 0 };
  for (let c = 0; c < connections; c++) {
    const conn = await RawH2Connection.connect({
      host: '127.0.0.1',
      port: server.port,
      tls: true,
      servername: 'localhost',
      localAddress: ATTACKER,
      initialStreamWindow: 0,
    });
    conn.on('error', () => {});
    conn.on('headers', () => attack.answered++);
    conn.on('rst', () => attack.resets++);
    attack.connections.push(conn);
    for (let s = 0; s < streams; s++) {
      const start = ((c * streams + s) * 65_537) % (seekSize - MiB);
      conn.request([
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', '/media/seek.bin'],
        ['range', `bytes=${start}-`],
      ]);
    }
  }
  // Every stream answered (or refused), or a while: the control's pool answers heads too.
  const deadline = Date.now() + 5000;
  while (attack.answered + attack.resets < attack.streams && Date.now() < deadline) await sleep(20);
  return attack;
}

interface Fetch {
  readonly ok: boolean;
  readonly ms: number;
  readonly why?: string;
}

/** One 1 MiB range over a fresh connection from the viewer's address, every byte checked. */
function fetchRange(server: TestServer, start: number, salt: number, deadlineMs: number): Promise<Fetch> {
  const began = performance.now();
  const session = http2.connect(server.tlsUrl, { ca: server.tlsCert, localAddress: VIEWER } as http2.SecureClientSessionOptions);
  session.on('error', () => {});
  return new Promise<Fetch>((resolve) => {
    const finish = (fetch: Fetch): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(fetch);
    };
    const timer = setTimeout(() => finish({ ok: false, ms: performance.now() - began, why: 'deadline' }), deadlineMs);
    const req = session.request({ ':path': '/media/seek.bin', range: `bytes=${start}-${start + MiB - 1}` });
    const chunks: Buffer[] = [];
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err: Error) => finish({ ok: false, ms: performance.now() - began, why: err.message }));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ms = performance.now() - began;
      if (status !== 206 || body.length !== MiB) return finish({ ok: false, ms, why: `status ${status}, ${body.length} bytes` });
      const corrupt = countMismatches(body, start, salt);
      finish(corrupt === 0 ? { ok: true, ms } : { ok: false, ms, why: `${corrupt} corrupt bytes` });
    });
    req.end();
  });
}

async function viewerFetches(server: TestServer, library: FixtureLibrary, deadlineMs: number): Promise<Fetch[]> {
  const seek = library.files.get('seek.bin')!;
  const fetches: Fetch[] = [];
  for (let i = 0; i < 10; i++) {
    const fetch = await fetchRange(server, (i * 1_234_567) % (seek.size - MiB), seek.salt, deadlineMs);
    fetches.push(fetch);
    if (!fetch.ok) break; // one starved fetch says it all
  }
  return fetches;
}

const describeFetches = (fetches: readonly Fetch[]): string =>
  fetches.map((f) => (f.ok ? `${Math.round(f.ms)} ms` : `failed after ${Math.round(f.ms)} ms (${f.why})`)).join(', ');

describe('window-zero attack (issue 12): one client cannot stall the others', () => {
  let library: FixtureLibrary;
  before(async () => {
    library = await makeFixtureLibrary();
  });

  const run = async (env: Record<string, string>, overrides: Omit<HarnessOverrides, 'logDestination'>, deadlineMs: number) => {
    const server = await startTestServer(library.root, env, overrides);
    const attack = await startAttack(server, library.files.get('seek.bin')!.size);
    try {
      const fetches = await viewerFetches(server, library, deadlineMs);
      return { server, attack, fetches, pool: server.pool.stats() };
    } finally {
      for (const conn of attack.connections) conn.destroy();
    }
  };
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.close(0);
  });

  it('defaults: 3 x 100 streams at window 0 from one address; ten fresh 1 MiB fetches from another all succeed', async (t) => {
    const { server, attack, fetches, pool } = await run({}, { poisonOnRelease: true }, 5000);
    servers.push(server);
    t.diagnostic(`viewer: ${describeFetches(fetches)}; attacker: ${attack.answered} of ${attack.streams} answered; pool ${pool.inUseBytes} bytes in use, high water ${pool.highWaterBytes}`);
    assert.ok(fetches.every((f) => f.ok), describeFetches(fetches));
    assert.equal(attack.answered, attack.streams, 'every attacker stream answered, none wedged');
    // A stream at window 0 holds one smallest slab: 300 x 16 KiB, well inside the attacker's share.
    assert.ok(pool.highWaterBytes <= server.config.poolClientMaxBytes + 10 * MiB, `pool high water ${pool.highWaterBytes}`);
    await assertNoLeaks(server);
  });

  // The pair: a pool the old policy lets the attacker fill (300 slabs of 128 KiB > 16 MiB).
  const SMALL_POOL = { POOL_MAX_BYTES: String(16 * MiB) };

  it('a 16 MiB pool with fair shares: the attacker holds at most its client share, the viewer is served', async (t) => {
    const { server, attack, fetches, pool } = await run(SMALL_POOL, { poisonOnRelease: true }, 5000);
    servers.push(server);
    t.diagnostic(`viewer: ${describeFetches(fetches)}; attacker: ${attack.answered} of ${attack.streams} answered; pool high water ${pool.highWaterBytes}, ${pool.waiting} waiting`);
    assert.ok(fetches.every((f) => f.ok), describeFetches(fetches));
    assert.equal(attack.answered, attack.streams, 'streams waiting for a slab were answered with their head');
    await assertNoLeaks(server);
  });

  it('negative control: the same 16 MiB pool as one global FIFO queue starves the viewer', async (t) => {
    const { server, fetches, pool } = await run(SMALL_POOL, { createPool: (options) => new PoisonedFifoPool(options) }, 3000);
    servers.push(server);
    t.diagnostic(`viewer: ${describeFetches(fetches)}; pool ${pool.inUse} slabs in use, ${pool.waiting} waiting`);
    assert.ok(
      fetches.some((f) => !f.ok),
      'the old policy must let the attacker starve the viewer, or this test shows nothing',
    );
  });
});

describe('window hoarding (issue 12): streams held at window 0 without ever taking a byte are a flood', () => {
  let library: FixtureLibrary;
  let server: TestServer;
  const STALLED_MS = 1000;
  before(async () => {
    library = await makeFixtureLibrary();
  });
  after(async () => {
    await server?.close(0);
  });

  const penalties = async (reason: string): Promise<number> => {
    const { values } = await server.metrics.floodPenalties.get();
    return values.find((v) => v.labels.reason === reason)?.value ?? 0;
  };

  /** 20 streams on one connection from `address`; resolves with the connection's GOAWAY codes once every stream was reset. */
  const stallStreams = async (address: string, initialStreamWindow: number): Promise<{ goaways: number[]; conn: RawH2Connection }> => {
    const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: server.port, tls: true, servername: 'localhost', localAddress: address, initialStreamWindow });
    conn.on('error', () => {});
    const goaways: number[] = [];
    let resets = 0;
    conn.on('goaway', (_last, code) => goaways.push(code));
    conn.on('rst', () => resets++);
    const ids: number[] = [];
    for (let s = 0; s < 20; s++) {
      ids.push(conn.request([[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/media/seek.bin'], ['range', `bytes=${s * MiB}-`]]));
    }
    // A viewer that stopped reading: no WINDOW_UPDATE ever (the first window, if any, is taken).
    for (const id of ids) conn.pause(id);
    const deadline = Date.now() + STALLED_MS * 8;
    while (resets < ids.length && goaways.length === 0 && !conn.isClosed && Date.now() < deadline) await sleep(50);
    await sleep(200);
    return { goaways, conn };
  };

  const canConnect = async (address: string): Promise<boolean> => {
    try {
      const conn = await RawH2Connection.connect({ host: '127.0.0.1', port: server.port, tls: true, servername: 'localhost', localAddress: address });
      conn.destroy();
      return true;
    } catch {
      return false;
    }
  };

  it('a connection whose streams never took a byte gets GOAWAY(ENHANCE_YOUR_CALM) and its client is refused for a while', async () => {
    server = await startTestServer(library.root, { STALLED_WRITE_TIMEOUT_MS: String(STALLED_MS) });
    const { goaways, conn } = await stallStreams('127.0.0.60', 0);
    conn.destroy();
    assert.ok(goaways.includes(11), `GOAWAY codes ${JSON.stringify(goaways)}`);
    assert.equal(await penalties('window-hoarding'), 1);
    assert.equal(await canConnect('127.0.0.60'), false, 'the hoarder is in the penalty box');
    assert.equal(await canConnect('127.0.0.61'), true, 'other clients are not');
    await assertNoLeaks(server);
  });

  it('control: a viewer that took its first window and then paused is cancelled as stalled, never penalised', async () => {
    const { goaways, conn } = await stallStreams('127.0.0.62', 65_535);
    conn.destroy();
    assert.ok(!goaways.includes(11), `GOAWAY codes ${JSON.stringify(goaways)}`);
    assert.equal(await penalties('window-hoarding'), 1, 'still only the hoarder of the test before');
    assert.equal(await canConnect('127.0.0.62'), true);
    await assertNoLeaks(server);
  });
});
