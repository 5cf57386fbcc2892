// FsStorage's writes: replace() puts a whole body at a path atomically or keeps nothing, and
// remove() unlinks; both are confined like reads, and both make this instance serve the new
// state at once while readers of the old file keep its bytes.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsStorage } from '../../storage/fs-storage.ts';
import { UPLOAD_TEMP_PREFIX } from '../../storage/fs-write.ts';
import { StorageError } from '../../storage/storage.ts';
import type { MediaFile } from '../../storage/storage.ts';

async function* bodyOf(...parts: (Buffer | string)[]): AsyncGenerator<Buffer> {
  for (const part of parts) {
    await new Promise((r) => setImmediate(r)); // arrive in pieces, as a request body does
    yield Buffer.from(part);
  }
}

async function readWhole(file: MediaFile): Promise<string> {
  const buf = Buffer.alloc(file.info.size);
  const n = await file.read(buf, buf.length, 0);
  return buf.subarray(0, n).toString();
}

const isCode = (code: string) => (err: unknown) => err instanceof StorageError && err.code === code;

/** Every temporary upload file anywhere below `dir`. */
async function tempFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((e) => path.basename(e).startsWith(UPLOAD_TEMP_PREFIX));
}

describe('FsStorage replace and remove', () => {
  let base: string;
  let root: string;
  let storage: FsStorage;
  const limit = { maxBytes: 1000 };
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'fs-replace-'));
    root = path.join(base, 'root');
    await mkdir(path.join(root, 'folder'), { recursive: true });
    await writeFile(path.join(root, 'old.mp4'), 'old bytes');
    await writeFile(path.join(root, 'plain.txt'), 'plain');
    await mkdir(path.join(base, 'outside'));
    await writeFile(path.join(base, 'outside/file.mp4'), 'outside');
    await symlink(path.join(base, 'outside'), path.join(root, 'escape-dir'));
    await symlink(path.join(base, 'outside/file.mp4'), path.join(root, 'escape.mp4'));
    // A long validity window: only replace()/remove() dropping the cache can show a change.
    storage = await FsStorage.create(root, { cacheValidMs: 60_000, cacheMaxFiles: 100 });
  });
  after(async () => {
    await storage.close();
    await rm(base, { recursive: true, force: true });
  });

  it('creates a new file, and the folders it needs', async () => {
    const { info, created } = await storage.replace('new/deep/clip.mp4', bodyOf('abc', 'def'), { ...limit, expectedBytes: 6 });
    assert.equal(created, true);
    assert.equal(info.path, 'new/deep/clip.mp4');
    assert.equal(info.size, 6);
    assert.equal(await readFile(path.join(root, 'new/deep/clip.mp4'), 'utf8'), 'abcdef');
    assert.deepEqual((await storage.stat('new/deep/clip.mp4')).version, info.version);
    assert.ok((await storage.list()).some((f) => f.path === 'new/deep/clip.mp4'));
    assert.deepEqual(await tempFiles(root), []);
  });

  it('replaces: an open reader keeps the old bytes, the next open gets the new file at once', async () => {
    const reader = await storage.open('old.mp4');
    reader.close();
    const held = await storage.open('old.mp4'); // from the cache
    const { info, created } = await storage.replace('old.mp4', bodyOf('new ', 'bytes!'), limit);
    assert.equal(created, false);
    assert.notEqual(info.version, held.info.version);
    const fresh = await storage.open('old.mp4');
    assert.equal(fresh.info.version, info.version, 'not the cached descriptor');
    assert.equal(await readWhole(fresh), 'new bytes!');
    assert.equal(await readWhole(held), 'old bytes');
    held.close();
    fresh.close();
    assert.deepEqual(await tempFiles(root), []);
  });

  const failures: readonly { name: string; body: () => AsyncIterable<Buffer>; expectedBytes?: number; code: string }[] = [
    { name: 'a body longer than maxBytes: TOO_LARGE', body: () => bodyOf('x'.repeat(600), 'y'.repeat(600)), code: 'TOO_LARGE' },
    { name: 'a body shorter than declared: LENGTH_MISMATCH', body: () => bodyOf('half'), expectedBytes: 8, code: 'LENGTH_MISMATCH' },
    { name: 'a body longer than declared: LENGTH_MISMATCH', body: () => bodyOf('too long'), expectedBytes: 3, code: 'LENGTH_MISMATCH' },
  ];
  for (const f of failures) {
    it(`${f.name}; the old file untouched, nothing left behind`, async () => {
      await writeFile(path.join(root, 'keep.mp4'), 'keep me');
      await assert.rejects(storage.replace('keep.mp4', f.body(), { ...limit, expectedBytes: f.expectedBytes }), isCode(f.code));
      assert.equal(await readFile(path.join(root, 'keep.mp4'), 'utf8'), 'keep me');
      assert.deepEqual(await tempFiles(root), []);
      assert.equal(storage.openCounts().files - storage.openCounts().cached, 0);
    });
  }

  it("a body's own error comes back as it is, and nothing is kept", async () => {
    await writeFile(path.join(root, 'keep.mp4'), 'keep me');
    const cut = new Error('client went away');
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('partial');
      throw cut;
    }
    await assert.rejects(storage.replace('keep.mp4', failing(), limit), (err) => err === cut);
    await assert.rejects(storage.replace('brand-new.mp4', failing(), limit), (err) => err === cut);
    assert.equal(await readFile(path.join(root, 'keep.mp4'), 'utf8'), 'keep me');
    await assert.rejects(storage.stat('brand-new.mp4'), isCode('NOT_FOUND'));
    assert.deepEqual(await tempFiles(root), []);
  });

  const refusals: readonly [string, string][] = [
    ['../outside/new.mp4', 'OUTSIDE_ROOT'],
    ['folder/../../x.mp4', 'OUTSIDE_ROOT'],
    ['a//b.mp4', 'OUTSIDE_ROOT'],
    ['.hidden.mp4', 'NOT_FOUND'],
    ['.private/x.mp4', 'NOT_FOUND'],
    ['escape-dir/new.mp4', 'OUTSIDE_ROOT'],
    ['escape-dir/sub/new.mp4', 'OUTSIDE_ROOT'],
    ['escape.mp4', 'OUTSIDE_ROOT'],
    ['folder', 'CONFLICT'],
    ['plain.txt/x.mp4', 'CONFLICT'],
  ];
  for (const [rel, code] of refusals) {
    it(`replace(${JSON.stringify(rel)}) fails with ${code} and writes nothing`, async () => {
      await assert.rejects(storage.replace(rel, bodyOf('data'), limit), isCode(code));
      assert.deepEqual(await readdir(path.join(base, 'outside')), ['file.mp4']);
      assert.equal(await readFile(path.join(base, 'outside/file.mp4'), 'utf8'), 'outside');
      assert.deepEqual(await tempFiles(root), []);
      await assert.rejects(readdir(path.join(root, '.private')), { code: 'ENOENT' });
    });
  }

  it('two concurrent replaces of one name leave one whole body, and one of them created it', async () => {
    const a = Buffer.alloc(64 * 1024, 'a');
    const b = Buffer.alloc(64 * 1024, 'b');
    const pieces = (buf: Buffer) => Array.from({ length: 16 }, (_, i) => buf.subarray(i * 4096, (i + 1) * 4096));
    const results = await Promise.all([
      storage.replace('race.bin', bodyOf(...pieces(a)), { maxBytes: 1e6 }),
      storage.replace('race.bin', bodyOf(...pieces(b)), { maxBytes: 1e6 }),
    ]);
    assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
    const stored = await readFile(path.join(root, 'race.bin'));
    assert.ok(stored.equals(a) || stored.equals(b), 'one body, never a mix');
    assert.deepEqual(await tempFiles(root), []);
  });

  it('counts an upload being written as an open descriptor until it ends', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from('first');
      await gate;
      yield Buffer.from('second');
    }
    storage.dropCache();
    const writing = storage.replace('slow.mp4', slow(), limit);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(storage.openCounts().files, 1);
    assert.equal((await tempFiles(root)).length, 1, 'the body goes to a hidden temporary file');
    assert.ok(!(await storage.list()).some((f) => path.basename(f.path).startsWith('.')), 'never listed');
    release();
    await writing;
    assert.equal(storage.openCounts().files, 0);
  });

  it('remove: the next open fails at once, an open reader keeps the bytes', async () => {
    await writeFile(path.join(root, 'doomed.mp4'), 'last words');
    const held = await storage.open('doomed.mp4');
    await storage.remove('doomed.mp4');
    await assert.rejects(storage.open('doomed.mp4'), isCode('NOT_FOUND'));
    assert.equal(await readWhole(held), 'last words');
    held.close();
  });

  const removeRefusals: readonly [string, string][] = [
    ['missing.mp4', 'NOT_FOUND'],
    ['folder', 'NOT_FOUND'],
    ['.hidden.mp4', 'NOT_FOUND'],
    ['../outside/file.mp4', 'OUTSIDE_ROOT'],
    ['escape.mp4', 'OUTSIDE_ROOT'],
    ['escape-dir/file.mp4', 'OUTSIDE_ROOT'],
  ];
  for (const [rel, code] of removeRefusals) {
    it(`remove(${JSON.stringify(rel)}) fails with ${code}`, async () => {
      await assert.rejects(storage.remove(rel), isCode(code));
      assert.equal(await readFile(path.join(base, 'outside/file.mp4'), 'utf8'), 'outside');
    });
  }
});
