// Writes into the media root for FsStorage: atomic replace and remove.
//
// replace: the body streams into a hidden temporary file in the target's own folder (same
// filesystem, so the rename is atomic; hidden, so listings and reads never see it). Only a
// body that ended whole is fsync'ed and renamed over the old name, and then the folder is
// fsync'ed so the rename itself survives a crash. Any failure removes the temporary file and
// leaves the old one untouched. A reader that has the old file open keeps its inode, so it
// keeps reading the old bytes. Two uploads to one name each write their own temporary file;
// the last rename wins, and the name always holds one whole body, never a mix. While it is
// written, a temporary file is touched at least every UPLOAD_TEMP_TOUCH_MS, so a crash's
// leftover can be told from a live upload (upload-temp-sweep.ts).
//
// Confinement is the read path's: clean segments, none hidden, and every folder's real path
// (symlinks resolved) under the root's real path; a symlink leading out is refused.
// Filesystem errors are thrown raw for the caller to map; the body's own errors unchanged.

import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StorageError } from './storage.ts';
import type { ReplaceOptions } from './storage.ts';

/** Temporary upload files start with this: hidden, so never listed or served. */
export const UPLOAD_TEMP_PREFIX = '.upload-';
/**
 * An upload in progress touches its temporary file at least this often, even while its client
 * sends nothing (writes are batched per MiB, and a client may stall): the startup sweep of
 * upload-temp-sweep.ts tells a live upload from a crash's leftover by that mtime alone.
 */
export const UPLOAD_TEMP_TOUCH_MS = 30_000;
/** Body bytes gathered before one write: one syscall per MiB, not one per 16 KiB DATA frame. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Filesystems without hard links: fall back to stat-then-rename to tell created from replaced. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

export interface WrittenFile {
  /** fstat of the installed file (rename keeps size, mtime and inode). */
  readonly stats: BigIntStats;
  readonly created: boolean;
}

/** Segments of a clean relative path; reads (FsStorage's #resolve) and writes share this rule. */
export function safeSegments(relPath: string): string[] {
  const segments = relPath.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || /[\\\0]/.test(segment)) {
      throw new StorageError('OUTSIDE_ROOT', `unsafe path ${JSON.stringify(relPath)}`);
    }
    if (segment.startsWith('.')) throw new StorageError('NOT_FOUND', `${relPath} is hidden`);
  }
  return segments;
}

export async function replaceFile(
  root: string,
  relPath: string,
  body: AsyncIterable<Buffer>,
  options: ReplaceOptions,
  touchEveryMs = UPLOAD_TEMP_TOUCH_MS,
): Promise<WrittenFile> {
  const segments = safeSegments(relPath);
  const name = segments.pop()!;
  const { dir, madeIn } = await ensureFolder(root, segments, relPath);
  const target = path.join(dir, name);
  await checkTarget(root, target, relPath);
  const temp = path.join(dir, `${UPLOAD_TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  let isInstalled = false;
  try {
    const stats = await writeTemp(temp, body, options, relPath, touchEveryMs);
    const created = await install(temp, target, relPath);
    isInstalled = true;
    // The new entry, and the entries of folders made for it, must reach the disk too.
    for (const folder of [dir, ...madeIn]) await syncFolder(folder);
    return { stats, created };
  } finally {
    if (!isInstalled) await fsp.rm(temp, { force: true });
  }
}

/** Unlinks a file (a symlink: the link, if it points at a file inside the root). */
export async function removeFile(root: string, relPath: string): Promise<void> {
  const segments = safeSegments(relPath);
  const target = path.join(await confined(root, path.join(root, ...segments.slice(0, -1)), relPath), segments.at(-1)!);
  const entry = await fsp.lstat(target);
  const real = entry.isSymbolicLink() ? await confined(root, target, relPath) : target;
  if (!(await fsp.stat(real)).isFile()) throw new StorageError('NOT_FOUND', `${relPath} is not a file`);
  await fsp.unlink(target);
  await syncFolder(path.dirname(target));
}

/** Real path of `p`, which must lie under the root (or be it). */
async function confined(root: string, p: string, relPath: string): Promise<string> {
  const real = await fsp.realpath(p);
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new StorageError('OUTSIDE_ROOT', `${relPath} resolves outside the media root`);
  }
  return real;
}

/** The real folder for the file, creating missing folders one level at a time. */
async function ensureFolder(root: string, segments: readonly string[], relPath: string): Promise<{ dir: string; madeIn: string[] }> {
  let dir = root;
  const madeIn: string[] = [];
  for (const segment of segments) {
    const next = path.join(dir, segment);
    try {
      await fsp.mkdir(next);
      madeIn.unshift(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Resolved after every step: a symlinked folder is followed only while it stays inside.
    dir = await confined(root, next, relPath);
    if (!(await fsp.stat(dir)).isDirectory()) throw new StorageError('CONFLICT', `${relPath}: ${segment} is a file, not a folder`);
  }
  return { dir, madeIn };
}

/** Refuses a folder in the way and a symlink leading out; a missing target is fine. */
async function checkTarget(root: string, target: string, relPath: string): Promise<void> {
  let entry;
  try {
    entry = await fsp.lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (entry.isDirectory()) throw new StorageError('CONFLICT', `${relPath} is a folder`);
  if (!entry.isSymbolicLink()) return;
  try {
    await confined(root, target, relPath);
  } catch (err) {
    // A dangling link is simply replaced; one that leads out is refused as reads refuse it.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function writeTemp(temp: string, body: AsyncIterable<Buffer>, options: ReplaceOptions, relPath: string, touchEveryMs: number): Promise<BigIntStats> {
  const { expectedBytes, maxBytes } = options;
  const handle = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
  let touching: Promise<void> = Promise.resolve();
  const touch = setInterval(() => {
    const now = new Date();
    touching = handle.utimes(now, now).catch(() => {}); // a failed touch only risks a sweep; writes report real errors
  }, touchEveryMs);
  touch.unref();
  const stopTouching = async (): Promise<void> => {
    clearInterval(touch);
    await touching;
  };
  try {
    let received = 0;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    for await (const chunk of body) {
      received += chunk.length;
      if (received > maxBytes) throw new StorageError('TOO_LARGE', `${relPath}: body longer than ${maxBytes} bytes`);
      if (expectedBytes !== undefined && received > expectedBytes) {
        throw new StorageError('LENGTH_MISMATCH', `${relPath}: body longer than the ${expectedBytes} bytes declared`);
      }
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes < WRITE_BATCH_BYTES) continue;
      await writeAll(handle, batch);
      batch = [];
      batchBytes = 0;
    }
    if (expectedBytes !== undefined && received !== expectedBytes) {
      throw new StorageError('LENGTH_MISMATCH', `${relPath}: body ended after ${received} of ${expectedBytes} bytes declared`);
    }
    await writeAll(handle, batch);
    // No touch may land after the stat: its mtime is the new file's validator (the ETag).
    await stopTouching();
    await handle.sync();
    return await handle.stat({ bigint: true });
  } finally {
    await stopTouching();
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, chunks: readonly Buffer[]): Promise<void> {
  if (chunks.length === 0) return;
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Puts the temporary file at `target`. A hard link succeeds only where no file was, so of two
 * uploads racing to a new name exactly one is told it created it; otherwise rename replaces.
 */
async function install(temp: string, target: string, relPath: string): Promise<boolean> {
  let isLinked = false;
  try {
    await fsp.link(temp, target);
    isLinked = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code !== 'EEXIST' && !NO_HARD_LINKS.has(code)) throw err;
  }
  if (isLinked) {
    await fsp.rm(temp, { force: true });
    return true;
  }
  const existed = await fsp.lstat(target).then(() => true, () => false);
  try {
    await fsp.rename(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTEMPTY') throw new StorageError('CONFLICT', `${relPath} is a folder`, { cause: err });
    throw err;
  }
  return !existed;
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems cannot fsync a folder (EINVAL); the rename is as durable as they allow.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await handle.close();
  }
}
