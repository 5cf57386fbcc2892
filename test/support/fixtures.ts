// Fixture files whose bytes encode their own offset, so any misplaced or foreign byte is
// obvious (the nginx-tests trick): every 8-byte word holds its own offset, big-endian,
// XORed with a per-file salt so two fixtures never agree on a byte range.

import { mkdtemp, open, writeFile, mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export function expectedBytes(start: number, length: number, salt = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  fillEncoded(out, start, salt);
  return out;
}

/** Fills `target` with the encoding of the bytes at [offset, offset + target.length). */
export function fillEncoded(target: Buffer, offset: number, salt = 0): void {
  const firstWord = Math.floor(offset / 8) * 8;
  const span = Buffer.allocUnsafe(Math.ceil((offset - firstWord + target.length) / 8) * 8);
  const saltBig = BigInt(salt);
  for (let i = 0; i < span.length; i += 8) span.writeBigUInt64BE(BigInt(firstWord + i) ^ saltBig, i);
  span.copy(target, 0, offset - firstWord, offset - firstWord + target.length);
}

/** Index of the first byte of `received` (at `offset`) that is not what the file holds there. */
export function firstMismatch(received: Buffer, offset: number, salt = 0): number {
  const want = expectedBytes(offset, received.length, salt);
  if (want.equals(received)) return -1;
  for (let i = 0; i < received.length; i++) if (received[i] !== want[i]) return i;
  return -1;
}

/** How many bytes of `received` (at `offset`) differ from the file. */
export function countMismatches(received: Buffer, offset: number, salt = 0): number {
  const want = expectedBytes(offset, received.length, salt);
  let bad = 0;
  for (let i = 0; i < received.length; i++) if (received[i] !== want[i]) bad++;
  return bad;
}

export interface FixtureLibrary {
  readonly root: string;
  /** name -> { size, salt } */
  readonly files: ReadonlyMap<string, { size: number; salt: number }>;
}

export const SALTS = { 'seek.bin': 0x5eed, 'small.txt': 0x11, 'video.mp4': 0x22, 'nested/deep/clip.webm': 0x33 } as const;

/** A media root with offset-encoded files, a nested folder, hidden files and symlinks. */
export async function makeFixtureLibrary(options: { seekBytes?: number } = {}): Promise<FixtureLibrary> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'media-fixture-'));
  const root = path.join(base, 'root');
  await mkdir(path.join(root, 'nested/deep'), { recursive: true });
  const files = new Map<string, { size: number; salt: number }>();
  const sizes: Record<keyof typeof SALTS, number> = {
    'seek.bin': options.seekBytes ?? 24 * 1024 * 1024 + 12345,
    'small.txt': 1000,
    'video.mp4': 3 * 1024 * 1024 + 7,
    'nested/deep/clip.webm': 777_777,
  };
  for (const [name, size] of Object.entries(sizes) as [keyof typeof SALTS, number][]) {
    await writeFile(path.join(root, name), expectedBytes(0, size, SALTS[name]));
    files.set(name, { size, salt: SALTS[name] });
  }
  await writeFile(path.join(root, 'empty.mp4'), Buffer.alloc(0));
  files.set('empty.mp4', { size: 0, salt: 0 });
  await writeFile(path.join(root, '.hidden.mp4'), 'secret');
  await mkdir(path.join(root, '.private'));
  await writeFile(path.join(root, '.private/inside.mp4'), 'secret');
  await writeFile(path.join(base, 'outside.mp4'), 'outside the root');
  await symlink(path.join(base, 'outside.mp4'), path.join(root, 'escape.mp4'));
  await symlink(base, path.join(root, 'escape-dir'));
  await symlink(path.join(root, 'video.mp4'), path.join(root, 'alias.mp4'));
  files.set('alias.mp4', { size: sizes['video.mp4'], salt: SALTS['video.mp4'] });
  return { root, files };
}

export const HUGE_OFFSET = 4.5 * 1024 ** 3; // past 4 GiB: 32-bit truncation would show
export const HUGE_SIZE = 5 * 1024 ** 3 + 11;
export const HUGE_SALT = 0x44;

/**
 * A sparse 5 GiB file with 1 MiB of encoded bytes written at 4.5 GiB (and at its very end),
 * for range offsets above 4 GiB. Costs about 1 MiB of disk.
 */
export async function addHugeSparseFile(root: string, name = 'huge.bin'): Promise<void> {
  const handle = await open(path.join(root, name), 'w');
  try {
    await handle.truncate(HUGE_SIZE);
    await handle.write(expectedBytes(HUGE_OFFSET, 1024 * 1024, HUGE_SALT), 0, 1024 * 1024, HUGE_OFFSET);
    const tail = 4096;
    await handle.write(expectedBytes(HUGE_SIZE - tail, tail, HUGE_SALT), 0, tail, HUGE_SIZE - tail);
  } finally {
    await handle.close();
  }
}
