// READ_MODE=auto: a read runs on the event loop only when every block it touches was read
// within the warm window, and slow loop reads that spend more than the stall budget in one
// second turn loop reads off for the cooldown.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReadPolicy, WarmBlocks } from '../../storage/read-policy.ts';
import { FsStorage } from '../../storage/fs-storage.ts';

const MiB = 1024 * 1024;

describe('WarmBlocks', () => {
  const cases: { name: string; marks: [number, number, number][]; ask: [number, number, number]; warm: boolean }[] = [
    { name: 'never read', marks: [], ask: [0, 100, 0], warm: false },
    { name: 'read inside one block', marks: [[10, 5, 100]], ask: [MiB - 10, 10, 50], warm: true },
    { name: 'read too long ago', marks: [[10, 5, 100]], ask: [0, 10, 101], warm: false },
    { name: 'spans a cold second block', marks: [[0, 10, 100]], ask: [MiB - 5, 10, 50], warm: false },
    { name: 'spans two warm blocks', marks: [[0, 10, 100], [MiB, 1, 90]], ask: [MiB - 5, 10, 50], warm: true },
    { name: 'a read marks every block it covers', marks: [[MiB - 1, MiB + 2, 100]], ask: [2 * MiB, 1, 50], warm: true },
    { name: 'empty read is never warm', marks: [[0, 10, 100]], ask: [0, 0, 0], warm: false },
    { name: 'past the end counts as the last block', marks: [[3 * MiB, 1, 100]], ask: [4 * MiB, 1, 50], warm: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const blocks = new WarmBlocks(4 * MiB);
      for (const [position, length, at] of c.marks) blocks.markRead(position, length, at);
      assert.equal(blocks.isWarm(...c.ask), c.warm);
    });
  }

  it('a huge file keeps at most 65,536 entries (blocks grow instead)', () => {
    const blocks = new WarmBlocks(2 ** 40); // 1 TiB: 16 MiB blocks
    blocks.markRead(0, 1, 10);
    assert.equal(blocks.isWarm(16 * MiB - 1, 1, 5), true);
    assert.equal(blocks.isWarm(16 * MiB, 1, 5), false);
  });
});

describe('ReadPolicy', () => {
  const clock = { ms: 1000 };
  const now = (): number => clock.ms;
  /** isSync for a probe: a read sent to the pool reports back at once, having read nothing. */
  const decide = (policy: ReadPolicy, blocks: WarmBlocks | undefined, position: number, length: number): boolean => {
    const isSync = policy.isSync(blocks, position, length);
    if (!isSync) policy.asyncDone(blocks, position, 0);
    return isSync;
  };

  it('auto: cold reads go to the pool, warm ones run on the loop until the window passes', () => {
    const policy = new ReadPolicy({ mode: 'auto', warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5000, now });
    const blocks = policy.blocksFor(8 * MiB);
    assert.equal(policy.isSync(blocks, 0, 65536), false);
    policy.asyncDone(blocks, 0, 65536);
    assert.equal(policy.isSync(blocks, 0, 65536), true);
    policy.syncDone(blocks, 0, 65536, 0.05);
    clock.ms += 30_001;
    assert.equal(policy.isSync(blocks, 0, 65536), false, 'not read for longer than the window');
    assert.deepEqual(policy.counts(), { sync: 1, async: 1, slowSync: 0 });
  });

  it('auto: while one of its reads is on the pool, warm reads go to the pool too', () => {
    const policy = new ReadPolicy({ mode: 'auto', warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5000, now });
    const blocks = policy.blocksFor(8 * MiB);
    policy.asyncDone(blocks, 0, MiB); // block 0 warm
    assert.equal(policy.isSync(blocks, 4 * MiB, 65536), false, 'cold block: to the pool');
    assert.equal(policy.isSync(blocks, 0, 65536), false, 'warm, but a pool read is in flight');
    policy.asyncDone(blocks, 4 * MiB, 65536);
    assert.equal(decide(policy, blocks, 0, 65536), false, 'still one in flight');
    policy.asyncDone(blocks, 0, 65536);
    assert.equal(policy.isSync(blocks, 0, 65536), true, 'pool idle again');
  });

  it('auto: slow loop reads within the stall budget keep loop reads on', () => {
    const policy = new ReadPolicy({ mode: 'auto', warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5000, now });
    const blocks = policy.blocksFor(8 * MiB);
    policy.asyncDone(blocks, 0, MiB);
    for (let second = 0; second < 3; second++) {
      policy.syncDone(blocks, 0, MiB, 9); // two 9 ms stalls a second: 18 of 20 ms
      policy.syncDone(blocks, 0, MiB, 9);
      assert.equal(policy.isSync(blocks, 0, MiB), true, `second ${second}: within the budget`);
      clock.ms += 1000; // the next second has a budget of its own
    }
    assert.equal(policy.counts().slowSync, 6);
  });

  it('auto: slow loop reads over the budget in one second turn loop reads off for the cooldown', () => {
    const policy = new ReadPolicy({ mode: 'auto', warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5000, now });
    const blocks = policy.blocksFor(8 * MiB);
    policy.asyncDone(blocks, 0, MiB);
    policy.syncDone(blocks, 0, MiB, 1.9); // not slow: not counted
    policy.syncDone(blocks, 0, MiB, 12); // waited for a disk
    assert.equal(decide(policy, blocks, 0, MiB), true, '12 of 20 ms');
    clock.ms += 500;
    policy.syncDone(blocks, 0, MiB, 12); // 24 ms in one second
    assert.equal(decide(policy, blocks, 0, MiB), false, 'cooling down');
    clock.ms += 4999;
    assert.equal(decide(policy, blocks, 0, MiB), false, 'still cooling down');
    clock.ms += 2;
    assert.equal(decide(policy, blocks, 0, MiB), true, 'cooldown over, block still warm');
    assert.equal(policy.counts().slowSync, 2);
  });

  it('auto: one read longer than the whole budget turns loop reads off at once', () => {
    const policy = new ReadPolicy({ mode: 'auto', warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5000, now });
    const blocks = policy.blocksFor(8 * MiB);
    policy.asyncDone(blocks, 0, MiB);
    policy.syncDone(blocks, 0, MiB, 40); // a network file system, a swapped-out page
    assert.equal(decide(policy, blocks, 0, MiB), false);
  });

  it('sync and async modes never look at warmth', () => {
    const sync = new ReadPolicy({ mode: 'sync', warmMs: 1, slowSyncReadMs: 0, stallBudgetMs: 0, cooldownMs: 1e9, now });
    const async = new ReadPolicy({ mode: 'async', warmMs: 1e9, slowSyncReadMs: 1e9, stallBudgetMs: 0, cooldownMs: 0, now });
    assert.equal(sync.blocksFor(MiB), undefined);
    sync.syncDone(undefined, 0, 1, 1000);
    assert.equal(sync.isSync(undefined, 0, 1), true, 'a slow read does not switch sync mode');
    assert.equal(async.isSync(async.blocksFor(MiB), 0, 1), false);
  });
});

describe('FsStorage with READ_MODE=auto', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'read-policy-'));
    await writeFile(path.join(root, 'clip.mp4'), Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => i % 251)));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function readTwice(storage: FsStorage): Promise<Buffer[]> {
    const file = await storage.open('clip.mp4');
    try {
      const out: Buffer[] = [];
      for (let i = 0; i < 2; i++) {
        const buf = Buffer.alloc(100_000);
        const n = await file.read(buf, buf.length, MiB + 17);
        out.push(buf.subarray(0, n));
      }
      return out;
    } finally {
      file.close();
    }
  }

  it('reads a range on the pool first, then on the loop, with the same bytes', async () => {
    const storage = await FsStorage.create(root, { cacheValidMs: 1000, cacheMaxFiles: 4, readMode: 'auto' });
    const [first, second] = await readTwice(storage);
    const expected = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (MiB + 17 + i) % 251));
    assert.deepEqual(first, expected);
    assert.deepEqual(second, expected);
    assert.deepEqual(storage.readCounts(), { sync: 1, async: 1, slowSync: 0 });
    await storage.close();
  });

  it('a loop read slower than the threshold sends the next reads back to the pool', async () => {
    // Every loop read counts as slow and spends the whole budget: the second read runs on the
    // loop, the third cannot.
    const storage = await FsStorage.create(root, { cacheValidMs: 1000, cacheMaxFiles: 4, readMode: 'auto', autoRead: { slowSyncReadMs: -1, stallBudgetMs: -1 } });
    await readTwice(storage);
    await readTwice(storage);
    assert.deepEqual(storage.readCounts(), { sync: 1, async: 3, slowSync: 1 });
    await storage.close();
  });

  it('defaults to async: every read on the pool', async () => {
    const storage = await FsStorage.create(root);
    await readTwice(storage);
    assert.deepEqual(storage.readCounts(), { sync: 0, async: 2, slowSync: 0 });
    await storage.close();
  });
});
