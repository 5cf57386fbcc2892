// BufferPool: hard cap, slab sizes, shares per connection and client, waiting without barging, abort, the lease state
// machine and its premature-release count, poisoning, close. Every test ends with no slab in
// use and nobody waiting.

import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { BufferPool, DoubleReleaseError, PoolClosedError } from '../../server/streaming/buffer-pool.ts';
import type { BufferPoolOptions, Lease } from '../../server/streaming/buffer-pool.ts';
import { PoisoningPool } from '../support/poisoning-pool.ts';

const SLAB = 1024;

const pools: BufferPool[] = [];

function makePool(slabs: number, extra: Partial<BufferPoolOptions> = {}, Pool: typeof BufferPool = BufferPool): BufferPool {
  const pool = new Pool({ slabBytes: SLAB, maxBytes: slabs * SLAB, ...extra });
  pools.push(pool);
  return pool;
}

function mustAcquire(pool: BufferPool): Lease {
  const lease = pool.tryAcquire();
  assert.ok(lease, 'a slab is free');
  return lease;
}

/** Whether a promise has settled, after letting pending callbacks run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await nextTurn();
  return settled;
}

afterEach(() => {
  for (const pool of pools.splice(0)) {
    const stats = pool.stats();
    assert.equal(stats.inUse, 0, 'every lease released');
    assert.equal(stats.waiting, 0, 'nobody left waiting');
    assert.ok(stats.allocatedBytes <= stats.capacityBytes, 'never above the cap');
  }
});

describe('BufferPool capacity', () => {
  const cases: readonly { slabBytes: number; maxBytes: number; capacity: number }[] = [
    { slabBytes: 1024, maxBytes: 1024, capacity: 1 },
    { slabBytes: 1024, maxBytes: 4096, capacity: 4 },
    { slabBytes: 1024, maxBytes: 4095, capacity: 3 },
    { slabBytes: 4096, maxBytes: 10_000, capacity: 2 },
    { slabBytes: 128 * 1024, maxBytes: 64 * 1024 * 1024, capacity: 512 },
  ];
  for (const c of cases) {
    it(`slabBytes ${c.slabBytes}, maxBytes ${c.maxBytes} -> ${c.capacity} slabs`, () => {
      const pool = new BufferPool({ slabBytes: c.slabBytes, maxBytes: c.maxBytes });
      pools.push(pool);
      assert.equal(pool.capacitySlabs, c.capacity);
      assert.equal(pool.stats().capacitySlabs, c.capacity);
      assert.equal(pool.stats().allocatedSlabs, 0, 'slabs are allocated lazily');
      const leases: Lease[] = [];
      for (let i = 0; i < c.capacity; i++) leases.push(mustAcquire(pool));
      assert.equal(pool.tryAcquire(), undefined, 'exhausted');
      assert.deepEqual(
        { ...pool.stats(), highWater: 0 },
        {
          slabBytes: c.slabBytes,
          minSlabBytes: Math.min(16 * 1024, c.slabBytes),
          capacityBytes: c.maxBytes,
          capacitySlabs: c.capacity,
          allocatedSlabs: c.capacity,
          allocatedBytes: c.capacity * c.slabBytes,
          inUse: c.capacity,
          inUseBytes: c.capacity * c.slabBytes,
          free: 0,
          highWater: 0,
          highWaterBytes: c.capacity * c.slabBytes,
          waiting: 0,
          waitsTotal: 0,
          shareRefusals: 0,
          prematureReleases: 0,
        },
      );
      for (const lease of leases) assert.equal(lease.buffer.length, c.slabBytes);
      assert.equal(new Set(leases.map((l) => l.buffer)).size, c.capacity, 'each lease its own slab');
      for (const lease of leases) lease.release();
      assert.equal(pool.stats().free, c.capacity);
    });
  }

  it('never allocates beyond the cap under a storm of acquirers', async () => {
    const pool = makePool(4);
    let maxAllocated = 0;
    const worker = async (id: number): Promise<void> => {
      for (let round = 0; round < 20; round++) {
        const lease = await pool.acquire();
        lease.buffer.writeUInt32BE(id, 0);
        maxAllocated = Math.max(maxAllocated, pool.stats().allocatedSlabs);
        if ((id + round) % 3 === 0) await nextTurn();
        else await Promise.resolve();
        assert.equal(lease.buffer.readUInt32BE(0), id, 'nobody else wrote into a held slab');
        lease.release();
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, id) => worker(id)));
    const stats = pool.stats();
    assert.equal(maxAllocated, 4);
    assert.equal(stats.allocatedSlabs, 4);
    assert.equal(stats.highWater, 4);
    assert.ok(stats.waitsTotal > 0);
  });
});

describe('BufferPool reuse', () => {
  it('a released slab comes back as the same Buffer', () => {
    const pool = makePool(4);
    const first = mustAcquire(pool);
    const buffer = first.buffer;
    first.release();
    const second = mustAcquire(pool);
    assert.equal(second.buffer, buffer);
    assert.notEqual(second, first, 'a fresh lease');
    assert.equal(pool.stats().allocatedSlabs, 1);
    second.release();
  });

  it('a slab is its own allocation, not a view into a shared pool', () => {
    const pool = makePool(2);
    const lease = mustAcquire(pool);
    assert.equal(lease.buffer.byteOffset, 0);
    assert.equal(lease.buffer.buffer.byteLength, SLAB);
    lease.release();
  });

  it('contents survive release without poisoning', () => {
    const pool = makePool(1);
    const first = mustAcquire(pool);
    first.buffer.fill(0x11);
    first.release();
    const second = mustAcquire(pool);
    assert.ok(second.buffer.every((b) => b === 0x11));
    second.release();
  });

  it('acquire() resolves at once when a slab is free, without counting a wait', async () => {
    const pool = makePool(1);
    const lease = await pool.acquire();
    assert.equal(pool.stats().waitsTotal, 0);
    lease.release();
  });
});

describe('BufferPool FIFO waiting', () => {
  it('three waiters resolve in order as slabs are released', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const order: string[] = [];
    const waits = ['a', 'b', 'c'].map((name) =>
      pool.acquire().then((lease) => {
        order.push(name);
        return lease;
      }),
    );
    assert.equal(pool.stats().waiting, 3);
    assert.equal(pool.stats().waitsTotal, 3);

    held.release();
    const a = await waits[0]!;
    assert.equal(a.buffer, held.buffer, 'handed straight over');
    assert.deepEqual(order, ['a']);
    assert.equal(pool.stats().waiting, 2);

    a.release();
    const b = await waits[1]!;
    assert.deepEqual(order, ['a', 'b']);

    b.release();
    const c = await waits[2]!;
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(pool.stats().waiting, 0);
    c.release();
    assert.equal(pool.stats().allocatedSlabs, 1);
  });

  it('a later tryAcquire does not barge ahead of waiters', async () => {
    const pool = makePool(2);
    const one = mustAcquire(pool);
    const two = mustAcquire(pool);
    const waiting = pool.acquire();
    assert.equal(pool.tryAcquire(), undefined, 'exhausted');

    one.release();
    assert.equal(pool.tryAcquire(), undefined, 'the released slab went to the waiter');
    const got = await waiting;
    assert.equal(got.buffer, one.buffer);

    // With a waiter queued, tryAcquire refuses even the moment a slab is free.
    const late = pool.acquire();
    two.release();
    assert.equal(pool.tryAcquire(), undefined);
    const lateLease = await late;
    assert.equal(lateLease.buffer, two.buffer);
    got.release();
    lateLease.release();
  });

  it('a later acquire() queues behind earlier ones', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const order: number[] = [];
    const first = pool.acquire().then((l) => (order.push(1), l));
    const second = pool.acquire().then((l) => (order.push(2), l));
    held.release();
    const l1 = await first;
    assert.equal(await isSettled(second), false);
    l1.release();
    (await second).release();
    assert.deepEqual(order, [1, 2]);
  });
});

describe('BufferPool abort', () => {
  it('an aborted waiter leaves the queue; the next release goes to the next waiter', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const controller = new AbortController();
    const aborted = pool.acquire(controller.signal);
    const next = pool.acquire();
    assert.equal(pool.stats().waiting, 2);

    const reason = new Error('client went away');
    controller.abort(reason);
    await assert.rejects(aborted, (err) => err === reason);
    assert.equal(pool.stats().waiting, 1);

    held.release();
    const lease = await next;
    assert.equal(lease.buffer, held.buffer);
    assert.equal(pool.stats().inUse, 1);
    lease.release();
    assert.equal(pool.stats().waitsTotal, 2);
  });

  it('an already-aborted signal on an exhausted pool rejects at once without waiting', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const reason = new Error('already gone');
    await assert.rejects(pool.acquire(AbortSignal.abort(reason)), (err) => err === reason);
    assert.equal(pool.stats().waiting, 0);
    assert.equal(pool.stats().waitsTotal, 0);
    held.release();
  });

  it('abort after the lease was handed over changes nothing', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    held.release();
    const lease = await waiting;
    controller.abort();
    assert.equal(pool.stats().inUse, 1);
    assert.equal(lease.state, 'held');
    lease.release();
  });

  // Regression: the abort listener outlived the wait, so one response's signal gathered a
  // listener per chunk that had to wait (a leak, and MaxListenersExceededWarning after 10).
  it('a signal reused across many waits keeps no listener once each wait is over', async () => {
    const pool = makePool(1);
    const controller = new AbortController();
    let held = mustAcquire(pool);
    for (let i = 0; i < 20; i++) {
      const waiting = pool.acquire(controller.signal);
      assert.equal(getEventListeners(controller.signal, 'abort').length, 1, 'listening while waiting');
      held.release();
      held = await waiting;
    }
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    held.release();
  });

  it('a wait ended by close() keeps no listener either', async () => {
    const pool = makePool(1);
    const controller = new AbortController();
    const held = mustAcquire(pool);
    const waiting = pool.acquire(controller.signal);
    pool.close();
    await assert.rejects(waiting, PoolClosedError);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    held.release();
  });
});

describe('Lease state machine', () => {
  type Step = 'writeStarted' | 'writeCompleted' | 'writeRefused' | 'release';
  const cases: readonly {
    steps: readonly Step[];
    expected: 'held' | 'writing' | 'written' | 'released' | { throws: RegExp | typeof DoubleReleaseError };
  }[] = [
    { steps: [], expected: 'held' },
    { steps: ['writeStarted'], expected: 'writing' },
    { steps: ['writeStarted', 'writeCompleted'], expected: 'written' },
    { steps: ['writeStarted', 'writeRefused'], expected: 'held' },
    { steps: ['writeStarted', 'writeRefused', 'writeStarted', 'writeCompleted'], expected: 'written' },
    { steps: ['release'], expected: 'released' },
    { steps: ['writeStarted', 'writeCompleted', 'release'], expected: 'released' },
    { steps: ['writeCompleted'], expected: { throws: /complete a write in state held/ } },
    { steps: ['writeRefused'], expected: { throws: /refuse a write in state held/ } },
    { steps: ['writeStarted', 'writeStarted'], expected: { throws: /start a write in state writing/ } },
    { steps: ['writeStarted', 'writeCompleted', 'writeStarted'], expected: { throws: /start a write in state written/ } },
    { steps: ['writeStarted', 'writeCompleted', 'writeCompleted'], expected: { throws: /complete a write in state written/ } },
    { steps: ['writeStarted', 'writeCompleted', 'writeRefused'], expected: { throws: /refuse a write in state written/ } },
    { steps: ['release', 'writeStarted'], expected: { throws: /start a write in state released/ } },
    { steps: ['release', 'release'], expected: { throws: DoubleReleaseError } },
    { steps: ['writeStarted', 'writeCompleted', 'release', 'release'], expected: { throws: DoubleReleaseError } },
  ];
  for (const c of cases) {
    const label = typeof c.expected === 'string' ? c.expected : `throws ${String(c.expected.throws)}`;
    it(`[${c.steps.join(', ')}] -> ${label}`, () => {
      const pool = makePool(1);
      const lease = mustAcquire(pool);
      const run = (): void => {
        for (const step of c.steps) lease[step]();
      };
      if (typeof c.expected === 'string') {
        run();
        assert.equal(lease.state, c.expected);
      } else {
        assert.throws(run, c.expected.throws);
      }
      if (lease.state === 'writing') lease.writeCompleted();
      if (lease.state !== 'released') lease.release();
      assert.equal(pool.stats().inUse, 0, 'a failed transition or double release leaks and frees nothing');
    });
  }

  it('a double release does not free the slab twice', () => {
    const pool = makePool(2);
    const lease = mustAcquire(pool);
    const other = mustAcquire(pool);
    lease.release();
    assert.throws(() => lease.release(), DoubleReleaseError);
    assert.equal(pool.stats().inUse, 1);
    assert.equal(pool.stats().free, 1);
    other.release();
  });

  it('a stale lease cannot release a slab now leased to someone else', () => {
    const pool = makePool(1);
    const stale = mustAcquire(pool);
    stale.release();
    const current = mustAcquire(pool);
    assert.equal(current.buffer, stale.buffer);
    assert.throws(() => stale.release(), DoubleReleaseError);
    assert.equal(current.state, 'held');
    assert.equal(pool.stats().inUse, 1);
    current.release();
  });
});

describe('prematureReleases', () => {
  const cases: readonly { steps: readonly ('writeStarted' | 'writeCompleted' | 'writeRefused')[]; premature: number }[] = [
    { steps: [], premature: 0 },
    { steps: ['writeStarted'], premature: 1 },
    { steps: ['writeStarted', 'writeCompleted'], premature: 0 },
    { steps: ['writeStarted', 'writeRefused'], premature: 0 },
  ];
  for (const c of cases) {
    it(`release after [${c.steps.join(', ')}] -> ${c.premature}`, () => {
      const pool = makePool(1);
      const lease = mustAcquire(pool);
      for (const step of c.steps) lease[step]();
      lease.release();
      assert.equal(pool.stats().prematureReleases, c.premature);
    });
  }

  it('counts across leases', () => {
    const pool = makePool(3);
    const leases = [mustAcquire(pool), mustAcquire(pool), mustAcquire(pool)];
    for (const lease of leases) lease.writeStarted();
    leases[0]!.writeCompleted();
    for (const lease of leases) lease.release();
    assert.equal(pool.stats().prematureReleases, 2);
  });
});

describe('PoisoningPool (test/support: the byte verifiers\' poisoned slabs)', () => {
  it('fills a released slab with 0xee', () => {
    const pool = makePool(1, {}, PoisoningPool);
    const lease = mustAcquire(pool);
    const buffer = lease.buffer;
    buffer.fill(0x11);
    lease.release();
    assert.ok(buffer.every((b) => b === 0xee));
    const again = mustAcquire(pool);
    assert.ok(again.buffer.every((b) => b === 0xee));
    again.release();
  });

  it('poisons a slab handed straight to a waiter too', async () => {
    const pool = makePool(1, {}, PoisoningPool);
    const held = mustAcquire(pool);
    held.buffer.fill(0x11);
    const waiting = pool.acquire();
    held.release();
    const lease = await waiting;
    assert.ok(lease.buffer.every((b) => b === 0xee));
    lease.release();
  });

  it('makes a premature release loud: the in-flight bytes are overwritten', () => {
    const pool = makePool(1, {}, PoisoningPool);
    const lease = mustAcquire(pool);
    lease.buffer.fill(0x42);
    const inFlight = lease.buffer.subarray(0, 16); // what a pending write still points at
    lease.writeStarted();
    lease.release();
    assert.deepEqual([...inFlight], new Array(16).fill(0xee));
    assert.equal(pool.stats().prematureReleases, 1);
  });
});

describe('BufferPool counters', () => {
  it('highWater keeps the most slabs ever in use', () => {
    const pool = makePool(4);
    const a = mustAcquire(pool);
    const b = mustAcquire(pool);
    const c = mustAcquire(pool);
    a.release();
    b.release();
    const d = mustAcquire(pool);
    assert.equal(pool.stats().inUse, 2);
    assert.equal(pool.stats().highWater, 3);
    c.release();
    d.release();
    assert.equal(pool.stats().highWater, 3);
  });

  it('waitsTotal counts acquires that had to wait, including aborted ones', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const controller = new AbortController();
    const aborted = pool.acquire(controller.signal);
    const waited = pool.acquire();
    controller.abort(new Error('gone'));
    await assert.rejects(aborted, /gone/);
    held.release();
    (await waited).release();
    (await pool.acquire()).release(); // did not wait
    assert.equal(pool.stats().waitsTotal, 2);
  });
});

describe('BufferPool close', () => {
  it('rejects every waiter with PoolClosedError, in order', async () => {
    const pool = makePool(1);
    const held = mustAcquire(pool);
    const waits = [pool.acquire(), pool.acquire(), pool.acquire()];
    pool.close();
    for (const wait of waits) await assert.rejects(wait, PoolClosedError);
    assert.equal(pool.stats().waiting, 0);
    held.release();
  });

  it('refuses new acquires; leases still out release as usual', async () => {
    const pool = makePool(2);
    const held = mustAcquire(pool);
    pool.close();
    assert.equal(pool.tryAcquire(), undefined);
    await assert.rejects(pool.acquire(), PoolClosedError);
    held.release();
    assert.equal(pool.tryAcquire(), undefined, 'a slab freed after close is not leased again');
    assert.equal(pool.stats().inUse, 0);
  });
});

describe('BufferPool options', () => {
  const cases: readonly { name: string; options: BufferPoolOptions }[] = [
    { name: 'slab below 1024', options: { slabBytes: 1023, maxBytes: 1 << 20 } },
    { name: 'fractional slab', options: { slabBytes: 1024.5, maxBytes: 1 << 20 } },
    { name: 'NaN slab', options: { slabBytes: Number.NaN, maxBytes: 1 << 20 } },
    { name: 'zero slab', options: { slabBytes: 0, maxBytes: 1 << 20 } },
    { name: 'maxBytes below one slab', options: { slabBytes: 4096, maxBytes: 4095 } },
    // Regression: these gave capacitySlabs NaN or Infinity, i.e. no cap at all.
    { name: 'NaN maxBytes', options: { slabBytes: 4096, maxBytes: Number.NaN } },
    { name: 'infinite maxBytes', options: { slabBytes: 4096, maxBytes: Number.POSITIVE_INFINITY } },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      assert.throws(() => new BufferPool(c.options), RangeError);
    });
  }
});

describe('BufferPool slab sizes', () => {
  const KiB = 1024;
  it('leases the smallest size that holds the request, 16 KiB up to slabBytes', () => {
    const pool = new BufferPool({ slabBytes: 128 * KiB, maxBytes: 1024 * KiB });
    pools.push(pool);
    const cases: readonly [number, number][] = [
      [1, 16 * KiB],
      [16 * KiB, 16 * KiB],
      [16 * KiB + 1, 32 * KiB],
      [65_535, 64 * KiB],
      [100 * KiB, 128 * KiB],
      [4 * 1024 * KiB, 128 * KiB],
    ];
    for (const [asked, got] of cases) {
      const lease = pool.tryAcquire(asked);
      assert.equal(lease?.buffer.length, got, `asked ${asked}`);
      lease!.release();
    }
  });

  it('caps bytes, not slabs, and drops free slabs of one size to make room for another', () => {
    const pool = new BufferPool({ slabBytes: 64 * KiB, maxBytes: 64 * KiB });
    pools.push(pool);
    mustAcquire(pool).release();
    assert.equal(pool.stats().allocatedBytes, 64 * KiB);
    const small = [pool.tryAcquire(1)!, pool.tryAcquire(1)!, pool.tryAcquire(1)!, pool.tryAcquire(1)!];
    assert.ok(small.every((l) => l?.buffer.length === 16 * KiB));
    assert.equal(pool.tryAcquire(1), undefined, '4 x 16 KiB fill 64 KiB');
    assert.equal(pool.stats().allocatedBytes, 64 * KiB, 'the free 64 KiB slab was dropped for them');
    for (const lease of small) lease.release();
  });
});

describe('BufferPool shares', () => {
  const KiB = 1024;
  const sharedPool = (options: Partial<BufferPoolOptions> = {}): BufferPool => {
    const pool = new BufferPool({ slabBytes: 16 * KiB, maxBytes: 256 * KiB, connectionMaxBytes: 32 * KiB, clientMaxBytes: 64 * KiB, ...options });
    pools.push(pool);
    return pool;
  };
  const takeAll = (take: () => Lease | undefined): Lease[] => {
    const leases: Lease[] = [];
    for (let lease = take(); lease; lease = take()) leases.push(lease);
    return leases;
  };

  it('a connection holds at most its share, a client at most its share, others are not touched', () => {
    const pool = sharedPool();
    const [a1, a2, a3, b1] = [{}, {}, {}, {}];
    const shareA1 = pool.shareOf(a1, () => '10.0.0.1');
    const held = takeAll(() => shareA1.tryAcquire(1));
    assert.equal(held.length, 2, 'connection share: 32 KiB');
    held.push(...takeAll(() => pool.shareOf(a2, () => '10.0.0.1').tryAcquire(1)));
    held.push(...takeAll(() => pool.shareOf(a3, () => '10.0.0.1').tryAcquire(1)));
    assert.equal(held.length, 4, 'client share: 64 KiB over three connections');
    assert.ok(pool.stats().shareRefusals >= 3);
    const other = takeAll(() => pool.shareOf(b1, () => '10.0.0.2').tryAcquire(1));
    assert.equal(other.length, 2, 'another client still gets its connection share');
    for (const lease of [...held, ...other]) lease.release();
    assert.equal(shareA1.bytes, 0);
    assert.equal(shareA1.client.bytes, 0);
  });

  it('a released slab goes to the waiting client that holds the least, not the oldest waiter', async () => {
    const pool = sharedPool({ maxBytes: 64 * KiB, connectionMaxBytes: 64 * KiB, clientMaxBytes: 64 * KiB });
    const heavy = pool.shareOf({}, () => 'heavy');
    const light = pool.shareOf({}, () => 'light');
    const heavyHeld = takeAll(() => heavy.tryAcquire(1));
    assert.equal(heavyHeld.length, 4, 'heavy holds the whole pool');
    const heavyWaits = heavy.acquire();
    const lightWaits = light.acquire();
    heavyHeld.pop()!.release();
    assert.equal(await isSettled(lightWaits), true, 'light (holding nothing) is served first');
    assert.equal(await isSettled(heavyWaits), false);
    heavyHeld.pop()!.release();
    assert.equal(await isSettled(heavyWaits), true, 'then heavy');
    for (const lease of [...heavyHeld, await lightWaits, await heavyWaits]) lease.release();
  });

  it('a waiter whose connection is at its share does not hold up another connection', async () => {
    const pool = sharedPool({ maxBytes: 64 * KiB, connectionMaxBytes: 32 * KiB, clientMaxBytes: 64 * KiB });
    const full = pool.shareOf({}, () => 'c');
    const fullHeld = takeAll(() => full.tryAcquire(1));
    const other = pool.shareOf({}, () => 'd');
    const otherHeld = takeAll(() => other.tryAcquire(1));
    assert.equal(fullHeld.length + otherHeld.length, 4, 'the pool is full');
    const fullWaits = full.acquire(); // at its share: only its own releases can serve it
    const third = pool.shareOf({}, () => 'e');
    const thirdWaits = third.acquire();
    otherHeld.pop()!.release();
    assert.equal(await isSettled(thirdWaits), true, 'served although an older waiter exists');
    assert.equal(await isSettled(fullWaits), false, 'still at its share');
    fullHeld.pop()!.release();
    assert.equal(await isSettled(fullWaits), true, 'its own release serves it');
    for (const lease of [...fullHeld, ...otherHeld, await thirdWaits, await fullWaits]) lease.release();
  });

  it('forgets a client once it holds nothing and waits for nothing', () => {
    const pool = sharedPool();
    const share = pool.shareOf({}, () => 'gone');
    const lease = share.tryAcquire(1)!;
    const client = share.client;
    lease.release();
    assert.equal(client.isDetached, true);
    const again = share.tryAcquire(1)!;
    assert.notEqual(share.client, client, 'a new record once needed again');
    assert.equal(share.client.bytes, 16 * KiB);
    again.release();
  });
});

describe('BufferPool probes', () => {
  const KiB = 1024;
  it('probe slabs fill at most PROBE_FRACTION of the pool; other streams get the rest, and are served first', async () => {
    const pool = new BufferPool({ slabBytes: 16 * KiB, maxBytes: 64 * KiB });
    pools.push(pool);
    const probes: Lease[] = [];
    for (let lease = pool.tryAcquire(1, true); lease; lease = pool.tryAcquire(1, true)) probes.push(lease);
    assert.equal(probes.length, 3, '3 of 4 slabs (0.75)');
    const flowing = pool.tryAcquire(1);
    assert.ok(flowing, 'a flowing stream still gets the last slab');
    const probeWaits = pool.acquire(undefined, true);
    const flowWaits = pool.acquire();
    probes.pop()!.release();
    assert.equal(await isSettled(flowWaits), true, 'the flowing stream is served first');
    assert.equal(await isSettled(probeWaits), false);
    flowing.release();
    assert.equal(await isSettled(probeWaits), false, 'in use 3 of 4: no room for a probe');
    (await flowWaits).release();
    assert.equal(await isSettled(probeWaits), true, 'in use 2 of 4: the probe fits');
    for (const lease of [...probes, await probeWaits]) lease.release();
  });
});
