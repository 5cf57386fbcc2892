// The startup sweep of upload temporary files (storage/upload-temp-sweep.ts): FsStorage.create
// removes the ones untouched for STALE_UPLOAD_TEMP_MS and nothing else, and an upload in
// progress keeps its own temporary file fresh even while its body stalls, so a sweep by
// another instance sharing the folder leaves it alone (negative control: without the touch,
// the same sweep removes it and the upload fails).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsStorage } from '../../storage/fs-storage.ts';
import { UPLOAD_TEMP_PREFIX } from '../../storage/fs-write.ts';
import { removeStaleUploadTemps, STALE_UPLOAD_TEMP_MS } from '../../storage/upload-temp-sweep.ts';

const MINUTE = 60_000;

async function writeAged(file: string, ageMs: number, content = 'partial body'): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
}

const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX));
}

describe('stale upload temporary files', () => {
  let base: string;
  let root: string;
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'temp-sweep-'));
    root = path.join(base, 'root');
    await mkdir(root);
  });
  after(() => rm(base, { recursive: true, force: true }));

  it('FsStorage.create removes stale ones at any depth, keeps fresh ones and every other file, and reports the count once', async () => {
    const stale = [`${UPLOAD_TEMP_PREFIX}0123456789abcdef`, `clips/new/${UPLOAD_TEMP_PREFIX}fedcba9876543210`];
    const kept = [
      `${UPLOAD_TEMP_PREFIX}fresh`, // another instance's upload, touched a while ago
      '.hidden-notes', // hidden, but no upload's temporary file
      'clip.mp4',
      `.private/${UPLOAD_TEMP_PREFIX}old`, // uploads never write into hidden folders
    ];
    await writeAged(path.join(root, stale[0]!), STALE_UPLOAD_TEMP_MS + MINUTE);
    await writeAged(path.join(root, stale[1]!), 24 * 60 * MINUTE);
    await writeAged(path.join(root, kept[0]!), STALE_UPLOAD_TEMP_MS - MINUTE);
    for (const name of kept.slice(1)) await writeAged(path.join(root, name), 24 * 60 * MINUTE);
    // A link named like a temporary file is not followed, nor removed.
    await writeAged(path.join(base, 'outside.bin'), 24 * 60 * MINUTE, 'outside');
    await symlink(path.join(base, 'outside.bin'), path.join(root, `${UPLOAD_TEMP_PREFIX}link`));
    kept.push(`${UPLOAD_TEMP_PREFIX}link`);

    const reports: number[] = [];
    const storage = await FsStorage.create(root, { cacheValidMs: 0, cacheMaxFiles: 10, onStaleUploadTemps: (n) => reports.push(n) });
    await storage.close();
    assert.deepEqual(reports, [2], 'one report, with the count');
    for (const name of stale) assert.equal(await exists(path.join(root, name)), false, `${name} removed`);
    for (const name of kept) assert.ok(await exists(path.join(root, name)), `${name} kept`);
    assert.equal(await readFile(path.join(base, 'outside.bin'), 'utf8'), 'outside');

    const again = await FsStorage.create(root, { cacheValidMs: 0, cacheMaxFiles: 10, onStaleUploadTemps: (n) => reports.push(n) });
    await again.close();
    assert.deepEqual(reports, [2], 'nothing stale left: no second report');
  });

  for (const isTouching of [true, false]) {
    const label = isTouching ? 'an upload whose body stalls keeps its temporary file fresh: a sweep leaves it, the upload completes' : 'negative control, no touch: the same sweep removes it and the upload fails';
    it(label, async () => {
      const folder = path.join(root, isTouching ? 'live' : 'untouched');
      await mkdir(folder);
      const storage = await FsStorage.create(root, { cacheValidMs: 0, cacheMaxFiles: 10, uploadTempTouchMs: isTouching ? 50 : 3_600_000 });
      let resume!: () => void;
      const stalled = new Promise<void>((resolve) => (resume = resolve));
      async function* body(): AsyncGenerator<Buffer> {
        yield Buffer.from('first half ');
        await stalled; // the client sends nothing for a while
        yield Buffer.from('second half');
      }
      const upload = storage.replace(`${path.basename(folder)}/clip.mp4`, body(), { maxBytes: 1000, expectedBytes: 22 });
      try {
        let temps: string[] = [];
        while (temps.length === 0) {
          await new Promise((r) => setTimeout(r, 10));
          temps = await tempFilesIn(folder);
        }
        // As if it had been written long ago: only a touch can make it fresh again.
        const longAgo = new Date(Date.now() - 2 * STALE_UPLOAD_TEMP_MS);
        await utimes(path.join(folder, temps[0]!), longAgo, longAgo);
        await new Promise((r) => setTimeout(r, 200));
        const removed = await removeStaleUploadTemps(root);
        assert.equal(removed, isTouching ? 0 : 1);
      } finally {
        resume();
      }
      if (isTouching) {
        const { info } = await upload;
        assert.equal(await readFile(path.join(folder, 'clip.mp4'), 'utf8'), 'first half second half');
        assert.equal((await storage.stat(`${path.basename(folder)}/clip.mp4`)).version, info.version, 'no touch after the stat: the ETag holds');
      } else {
        await assert.rejects(upload, 'its temporary file is gone');
        assert.equal(await exists(path.join(folder, 'clip.mp4')), false);
      }
      assert.deepEqual(await tempFilesIn(folder), []);
      await storage.close();
    });
  }
});
