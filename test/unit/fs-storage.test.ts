// The filesystem backend: confinement to the root, shared reference-counted descriptors,
// and a replaced file read consistently by whoever opened it.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { FsStorage } from '../../storage/fs-storage.ts';
import { StorageError } from '../../storage/storage.ts';

async function readAll(storage: FsStorage, rel: string): Promise<string> {
  const file = await storage.open(rel);
  try {
    const buf = Buffer.alloc(file.info.size);
    const n = await file.read(buf, buf.length, 0);
    return buf.subarray(0, n).toString();
  } finally {
    file.close();
  }
}

describe('FsStorage', () => {
  let base: string;
  let root: string;
  let storage: FsStorage;
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'fs-storage-'));
    root = path.join(base, 'root');
    await mkdir(path.join(root, 'a/b'), { recursive: true });
    await writeFile(path.join(root, 'one.mp4'), 'one');
    await writeFile(path.join(root, 'a/b/two.webm'), 'two');
    await writeFile(path.join(root, '.hidden'), 'no');
    await writeFile(path.join(base, 'outside.mp4'), 'outside');
    await symlink(path.join(base, 'outside.mp4'), path.join(root, 'escape.mp4'));
    await symlink(path.join(root, 'one.mp4'), path.join(root, 'alias.mp4'));
    await symlink(path.join(root, 'missing'), path.join(root, 'dangling.mp4'));
    storage = await FsStorage.create(root, { cacheValidMs: 0, cacheMaxFiles: 1 });
  });

  it('refuses a missing or non-directory root', async () => {
    await assert.rejects(FsStorage.create(path.join(base, 'nope')), StorageError);
    await assert.rejects(FsStorage.create(path.join(base, 'outside.mp4')), StorageError);
  });

  const refusals: readonly [string, string][] = [
    ['missing.mp4', 'NOT_FOUND'],
    ['a', 'NOT_FOUND'],
    ['.hidden', 'NOT_FOUND'],
    ['escape.mp4', 'OUTSIDE_ROOT'],
    ['dangling.mp4', 'NOT_FOUND'],
    ['../outside.mp4', 'OUTSIDE_ROOT'],
    ['a/../../outside.mp4', 'OUTSIDE_ROOT'],
    ['a//b', 'OUTSIDE_ROOT'],
    ['a\\b', 'OUTSIDE_ROOT'],
  ];
  for (const [rel, code] of refusals) {
    it(`open(${JSON.stringify(rel)}) fails with ${code}`, async () => {
      await assert.rejects(storage.open(rel), (err: unknown) => err instanceof StorageError && err.code === code);
      assert.deepEqual(storage.openCounts(), { files: 0, users: 0, cached: 0 });
    });
  }

  it('serves symlinks inside the root and nested files', async () => {
    assert.equal(await readAll(storage, 'alias.mp4'), 'one');
    assert.equal(await readAll(storage, 'a/b/two.webm'), 'two');
  });

  it('lists servable files only, depth first and sorted', async () => {
    const names = (await storage.list()).map((f) => f.path);
    assert.deepEqual(names, ['a/b/two.webm', 'alias.mp4', 'one.mp4']);
  });

  it('shares one descriptor between users and closes it after the last one', async () => {
    const first = await storage.open('one.mp4');
    const second = await storage.open('one.mp4');
    assert.deepEqual(storage.openCounts(), { files: 1, users: 2, cached: 0 });
    first.close();
    assert.deepEqual(storage.openCounts(), { files: 1, users: 1, cached: 0 });
    second.close();
    assert.deepEqual(storage.openCounts(), { files: 0, users: 0, cached: 0 });
  });

  it('a second close of one handle is a no-op: the shared descriptor is counted down once', async () => {
    const twice = await storage.open('one.mp4');
    const other = await storage.open('one.mp4');
    assert.deepEqual(storage.openCounts(), { files: 1, users: 2, cached: 0 });
    twice.close();
    twice.close();
    assert.deepEqual(storage.openCounts(), { files: 1, users: 1, cached: 0 }, 'the other user still holds it');
    assert.equal(await readBytes(other), 'one', 'and reads through it');
    const third = await storage.open('one.mp4');
    assert.deepEqual(storage.openCounts(), { files: 1, users: 2, cached: 0 }, 'a new opener shares the same descriptor');
    twice.close();
    assert.deepEqual(storage.openCounts(), { files: 1, users: 2, cached: 0 });
    assert.equal(await readBytes(third), 'one');
    other.close();
    third.close();
    third.close();
    assert.deepEqual(storage.openCounts(), { files: 0, users: 0, cached: 0 });
    await assert.rejects(twice.read(Buffer.alloc(3), 3, 0), StorageError, 'a closed handle stays closed');
  });

  it('a file replaced by rename: old readers keep the old bytes, new opens get the new file', async () => {
    await writeFile(path.join(root, 'swap.mp4'), 'old bytes');
    const before = await storage.open('swap.mp4');
    const tmp = path.join(root, '.swap.tmp');
    await writeFile(tmp, 'new bytes!');
    await rename(tmp, path.join(root, 'swap.mp4'));
    const after = await storage.open('swap.mp4');
    assert.notEqual(after.info.version, before.info.version);
    const oldBuf = Buffer.alloc(9);
    await before.read(oldBuf, 9, 0);
    const newBuf = Buffer.alloc(10);
    await after.read(newBuf, 10, 0);
    assert.equal(oldBuf.toString(), 'old bytes');
    assert.equal(newBuf.toString(), 'new bytes!');
    assert.equal(storage.openCounts().files, 2);
    before.close();
    after.close();
    assert.deepEqual(storage.openCounts(), { files: 0, users: 0, cached: 0 });
  });

  it('a read after close is refused', async () => {
    const file = await storage.open('one.mp4');
    file.close();
    await assert.rejects(file.read(Buffer.alloc(3), 3, 0), StorageError);
  });

  it('READ_MODE sync reads the same bytes and maps errors the same way', async () => {
    const sync = await FsStorage.create(root, { cacheValidMs: 0, cacheMaxFiles: 1, readMode: 'sync' });
    const file = await sync.open('a/b/two.webm');
    assert.equal(await readBytes(file), 'two');
    file.close();
    await assert.rejects(file.read(Buffer.alloc(3), 3, 0), StorageError);
    await sync.close();
  });

  describe('open-file cache', () => {
    it('reuses the descriptor within the validity window, then re-validates by stat', async () => {
      const cached = await FsStorage.create(root, { cacheValidMs: 200, cacheMaxFiles: 10 });
      await writeFile(path.join(root, 'hot.mp4'), 'first');
      const a = await cached.open('hot.mp4');
      a.close();
      assert.deepEqual(cached.openCounts(), { files: 1, users: 0, cached: 1 }, 'kept open by the cache');
      const tmp = path.join(root, '.hot.tmp');
      await writeFile(tmp, 'second!');
      await rename(tmp, path.join(root, 'hot.mp4'));
      const b = await cached.open('hot.mp4');
      assert.equal(b.info.version, a.info.version, 'within the window: the cached descriptor and its own stat');
      assert.equal(await readBytes(b), 'first', 'bytes and validators stay paired');
      b.close();
      await new Promise((r) => setTimeout(r, 250));
      const c = await cached.open('hot.mp4');
      assert.notEqual(c.info.version, a.info.version, 'after the window the replacement is seen');
      assert.equal(await readBytes(c), 'second!');
      c.close();
      cached.dropCache();
      assert.deepEqual(cached.openCounts(), { files: 0, users: 0, cached: 0 });
      await cached.close();
    });

    it('keeps at most cacheMaxFiles open, evicting the least recently used', async () => {
      const cached = await FsStorage.create(root, { cacheValidMs: 60_000, cacheMaxFiles: 2 });
      for (const name of ['one.mp4', 'a/b/two.webm', 'alias.mp4', 'one.mp4']) (await cached.open(name)).close();
      assert.equal(cached.openCounts().cached, 2);
      assert.ok(cached.openCounts().files <= 2);
      await cached.close();
      assert.deepEqual(cached.openCounts(), { files: 0, users: 0, cached: 0 });
    });

    it('a descriptor in use survives eviction and closes with its last user', async () => {
      const cached = await FsStorage.create(root, { cacheValidMs: 60_000, cacheMaxFiles: 1 });
      const held = await cached.open('one.mp4');
      (await cached.open('a/b/two.webm')).close(); // evicts one.mp4 from the cache
      assert.equal(await readBytes(held), 'one');
      held.close();
      assert.deepEqual(cached.openCounts(), { files: 1, users: 0, cached: 1 });
      await cached.close();
    });

    it('a failed open drops the stale entry', async () => {
      const cached = await FsStorage.create(root, { cacheValidMs: 50, cacheMaxFiles: 10 });
      await writeFile(path.join(root, 'gone.mp4'), 'x');
      (await cached.open('gone.mp4')).close();
      await rm(path.join(root, 'gone.mp4'));
      await new Promise((r) => setTimeout(r, 80));
      await assert.rejects(cached.open('gone.mp4'), (err: unknown) => err instanceof StorageError && err.code === 'NOT_FOUND');
      assert.deepEqual(cached.openCounts(), { files: 0, users: 0, cached: 0 });
      await cached.close();
    });
  });
});

async function readBytes(file: { info: { size: number }; read(t: Buffer, l: number, p: number): Promise<number> }): Promise<string> {
  const buf = Buffer.alloc(file.info.size);
  const n = await file.read(buf, buf.length, 0);
  return buf.subarray(0, n).toString();
}
