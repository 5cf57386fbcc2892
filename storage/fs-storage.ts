// Filesystem backend for the media store.
//
// Every path is confined to the root twice: the caller passes clean relative segments, and
// here the real path (symlinks resolved) must still lie under the root's real path.
// Open files are shared: one descriptor per (device, inode, mtime, size), reference counted,
// closed when its last user closes it. A file replaced by rename gets a new key, so readers
// of the old descriptor keep reading the old bytes while new opens see the new file.
//
// Open-file cache (nginx's open_file_cache, h2o's filecache): a path opened within the last
// `cacheValidMs` reuses its descriptor and stat without touching the filesystem, so a hot
// file costs one pread per chunk instead of realpath + stat + open + fstat + close around it
// (measured: those were a third of the server's CPU on 64 KiB ranges). A cached entry always
// pairs a descriptor with its own stat, so bytes and validators never mix; a file replaced
// outside the server is seen at the latest `cacheValidMs` later, one replaced or removed
// through replace()/remove() (written by fs-write.ts) at once: they drop the cache.
// create() first removes the upload temporary files a crash left behind (upload-temp-sweep.ts).

import { constants, promises as fsp, close as closeFd, fstat, open as openFd, read as readFd, readSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { AUTO_READ_DEFAULTS, ReadPolicy } from './read-policy.ts';
import type { ReadCounts, ReadMode, ReadPolicyOptions, WarmBlocks } from './read-policy.ts';
import { removeFile, replaceFile, safeSegments } from './fs-write.ts';
import { removeStaleUploadTemps } from './upload-temp-sweep.ts';
import { probeMedia } from './media-probe.ts';
import type { MediaFacts } from './media-probe.ts';
import { StorageError } from './storage.ts';
import type { FileInfo, MediaFile, ReplaceOptions, ReplaceResult, Storage } from './storage.ts';

interface SharedDescriptor {
  readonly key: string;
  readonly fd: number;
  readonly info: FileInfo;
  users: number;
  /** Cache entries (paths) that keep this descriptor open. */
  cachedBy: number;
  /** Which blocks were read lately (READ_MODE=auto), see read-policy.ts. */
  readonly warm: WarmBlocks | undefined;
}

interface CacheEntry {
  readonly shared: SharedDescriptor;
  readonly validUntil: number;
}

export interface FsStorageOptions {
  /** How long an opened path is reused without a stat; 0 turns the cache off. */
  readonly cacheValidMs: number;
  readonly cacheMaxFiles: number;
  /**
   * 'async' reads on libuv's pool (never blocks the event loop); 'sync' reads on the event
   * loop, as nginx does by default: about 15-25% more small ranges per second when the
   * library is in page cache, but a read that waits for a disk stalls every stream; 'auto'
   * reads on the loop only blocks read lately (read-policy.ts). Default 'async'.
   */
  readonly readMode?: ReadMode;
  /** Overrides of the 'auto' policy's thresholds and clock (tests). */
  readonly autoRead?: Partial<Omit<ReadPolicyOptions, 'mode'>>;
  /** Told by create() how many stale upload temporary files it removed, when any (upload-temp-sweep.ts). */
  readonly onStaleUploadTemps?: (removed: number) => void;
  /** How often an upload in progress touches its temporary file (tests shorten it). */
  readonly uploadTempTouchMs?: number;
}

const DEFAULT_OPTIONS: FsStorageOptions = { cacheValidMs: 1000, cacheMaxFiles: 1000, readMode: 'async' };

export class FsStorage implements Storage {
  readonly root: string;
  readonly #options: FsStorageOptions;
  readonly #reads: ReadPolicy;
  readonly #descriptors = new Map<string, SharedDescriptor>();
  /** Relative path -> entry, least recently used first. */
  readonly #cache = new Map<string, CacheEntry>();
  #sweeper: NodeJS.Timeout | undefined;
  /** Uploads being written (each holds a descriptor of its own): counted in openCounts().files. */
  #writing = 0;
  /** Bumped by every replace and remove: an open() that overlapped one does not cache. */
  #generation = 0;

  private constructor(realRoot: string, options: FsStorageOptions) {
    this.root = realRoot;
    this.#options = options;
    this.#reads = new ReadPolicy({ mode: options.readMode ?? 'async', ...AUTO_READ_DEFAULTS, ...options.autoRead });
  }

  static async create(root: string, options: FsStorageOptions = DEFAULT_OPTIONS): Promise<FsStorage> {
    let realRoot: string;
    try {
      realRoot = await fsp.realpath(root);
    } catch (err) {
      throw new StorageError('NOT_FOUND', `media root ${root} does not exist`, { cause: err });
    }
    const stats = await fsp.stat(realRoot);
    if (!stats.isDirectory()) throw new StorageError('NOT_FOUND', `media root ${root} is not a directory`);
    const removed = await removeStaleUploadTemps(realRoot);
    if (removed > 0) options.onStaleUploadTemps?.(removed);
    return new FsStorage(realRoot, options);
  }

  async stat(relPath: string): Promise<FileInfo> {
    const real = await this.#resolve(relPath);
    const stats = await wrapIo(() => fsp.stat(real, { bigint: true }), relPath);
    if (!stats.isFile()) throw new StorageError('NOT_FOUND', `${relPath} is not a file`);
    return toInfo(relPath, stats);
  }

  async open(relPath: string): Promise<MediaFile> {
    const cached = this.#cache.get(relPath);
    if (cached && cached.validUntil > Date.now()) {
      this.#cache.delete(relPath); // re-insert: most recently used last
      this.#cache.set(relPath, cached);
      cached.shared.users++;
      return this.#handle(cached.shared);
    }
    const generation = this.#generation;
    let shared: SharedDescriptor;
    try {
      const real = await this.#resolve(relPath);
      const probe = await wrapIo(() => fsp.stat(real, { bigint: true }), relPath);
      if (!probe.isFile()) throw new StorageError('NOT_FOUND', `${relPath} is not a file`);
      shared = this.#descriptors.get(keyOf(probe)) ?? (await this.#openDescriptor(real, relPath));
    } catch (err) {
      this.#forget(relPath);
      throw err;
    }
    shared.users++;
    // A replace or remove since the stat may have made this descriptor stale for the path:
    // this request reads it consistently, but later ones must not get it from the cache.
    if (generation === this.#generation) this.#remember(relPath, shared);
    return this.#handle(shared);
  }

  async replace(relPath: string, body: AsyncIterable<Buffer>, options: ReplaceOptions): Promise<ReplaceResult> {
    this.#writing++;
    try {
      const { stats, created } = await replaceFile(this.root, relPath, body, options, this.#options.uploadTempTouchMs);
      return { info: toInfo(relPath, stats), created };
    } catch (err) {
      throw isSystemError(err) ? mapIoError(err, relPath) : err; // the body's own errors as they are
    } finally {
      this.#writing--;
      this.#afterWrite();
    }
  }

  async remove(relPath: string): Promise<void> {
    try {
      await removeFile(this.root, relPath);
    } catch (err) {
      throw isSystemError(err) ? mapIoError(err, relPath) : err;
    } finally {
      this.#afterWrite();
    }
  }

  async list(): Promise<FileInfo[]> {
    const found: FileInfo[] = [];
    const walk = async (relDir: string): Promise<void> => {
      const entries = await wrapIo(() => fsp.readdir(path.join(this.root, relDir), { withFileTypes: true }), relDir);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          await walk(rel);
          continue;
        }
        try {
          found.push(await this.stat(rel));
        } catch (err) {
          // A dangling or escaping symlink is not part of the library; anything else is real.
          if (!(err instanceof StorageError) || (err.code !== 'NOT_FOUND' && err.code !== 'OUTSIDE_ROOT')) throw err;
        }
      }
    };
    await walk('');
    return found;
  }

  openCounts(): { files: number; users: number; cached: number } {
    let users = 0;
    for (const d of this.#descriptors.values()) users += d.users;
    return { files: this.#descriptors.size + this.#writing, users, cached: this.#cache.size };
  }

  readCounts(): ReadCounts {
    return this.#reads.counts();
  }

  dropCache(): void {
    for (const relPath of [...this.#cache.keys()]) this.#forget(relPath);
  }

  invalidate(): void {
    this.#afterWrite();
  }

  async probe(relPath: string): Promise<MediaFacts | undefined> {
    try {
      return await probeMedia(await this.#resolve(relPath));
    } catch {
      return undefined; // gone or outside the root: nothing to know
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    // Descriptors still in use are closed by their last user; nothing is cut off here.
    this.dropCache();
  }

  /**
   * This instance serves a replaced or removed file's successor at once: the whole cache goes,
   * since the file may also be cached under the name of a symlink to it.
   */
  #afterWrite(): void {
    this.#generation++;
    this.dropCache();
  }

  #remember(relPath: string, shared: SharedDescriptor): void {
    if (this.#options.cacheValidMs <= 0) return;
    this.#forget(relPath);
    shared.cachedBy++;
    this.#cache.set(relPath, { shared, validUntil: Date.now() + this.#options.cacheValidMs });
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.#options.cacheMaxFiles) break;
      this.#forget(oldest);
    }
    // Expired entries would otherwise keep their descriptors until the path is opened again.
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(this.#options.cacheValidMs, 250)).unref();
  }

  #forget(relPath: string): void {
    const entry = this.#cache.get(relPath);
    if (!entry) return;
    this.#cache.delete(relPath);
    entry.shared.cachedBy--;
    this.#closeIfUnused(entry.shared);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [relPath, entry] of this.#cache) if (entry.validUntil <= now) this.#forget(relPath);
    if (this.#cache.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #closeIfUnused(shared: SharedDescriptor): void {
    if (shared.users > 0 || shared.cachedBy > 0) return;
    this.#descriptors.delete(shared.key);
    closeFd(shared.fd, () => {});
  }

  /** Real path of a clean relative path, refusing anything that is not under the root. */
  async #resolve(relPath: string): Promise<string> {
    const segments = safeSegments(relPath);
    const real = await wrapIo(() => fsp.realpath(path.join(this.root, ...segments)), relPath);
    if (!real.startsWith(this.root + path.sep)) {
      throw new StorageError('OUTSIDE_ROOT', `${relPath} resolves outside the media root`);
    }
    return real;
  }

  async #openDescriptor(real: string, relPath: string): Promise<SharedDescriptor> {
    // O_NOFOLLOW: the real path was just resolved; a symlink swapped in since is refused.
    // Raw fds (not FileHandle): their lifetime is ours, counted by users, never left to GC.
    const fd = await wrapIo(
      () => new Promise<number>((resolve, reject) =>
        openFd(real, constants.O_RDONLY | constants.O_NOFOLLOW, (err, opened) => (err ? reject(err) : resolve(opened))),
      ),
      relPath,
    );
    let stats: BigIntStats;
    try {
      stats = await new Promise<BigIntStats>((resolve, reject) =>
        fstat(fd, { bigint: true }, (err, s) => (err ? reject(err) : resolve(s))),
      );
    } catch (err) {
      closeFd(fd, () => {});
      throw mapIoError(err, relPath);
    }
    const key = keyOf(stats);
    const raced = this.#descriptors.get(key);
    if (raced) {
      // Another request opened the same file while we waited; share that descriptor.
      closeFd(fd, () => {});
      return raced;
    }
    const info = toInfo(relPath, stats);
    const shared: SharedDescriptor = { key, fd, info, users: 0, cachedBy: 0, warm: this.#reads.blocksFor(info.size) };
    this.#descriptors.set(key, shared);
    return shared;
  }

  #handle(shared: SharedDescriptor): MediaFile {
    let isClosed = false;
    const reads = this.#reads;
    return {
      info: shared.info,
      read: (target, length, position) =>
        new Promise<number>((resolve, reject) => {
          if (isClosed) return reject(new StorageError('IO', 'read after close'));
          if (reads.isSync(shared.warm, position, length)) {
            const startedAt = reads.now();
            try {
              const bytesRead = readSync(shared.fd, target, 0, length, position);
              reads.syncDone(shared.warm, position, bytesRead, reads.now() - startedAt);
              return resolve(bytesRead);
            } catch (err) {
              return reject(mapIoError(err, shared.info.path));
            }
          }
          readFd(shared.fd, target, 0, length, position, (err, bytesRead) => {
            reads.asyncDone(shared.warm, position, err ? 0 : bytesRead);
            if (err) return reject(mapIoError(err, shared.info.path));
            resolve(bytesRead);
          });
        }),
      close: () => {
        if (isClosed) return; // a second close: this handle's use was counted down already
        isClosed = true;
        shared.users--;
        this.#closeIfUnused(shared);
      },
    };
  }
}

function keyOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.mtimeNs}:${stats.size}`;
}

function toInfo(relPath: string, stats: BigIntStats): FileInfo {
  return {
    path: relPath,
    size: Number(stats.size),
    mtimeMs: Number(stats.mtimeNs / 1_000_000n),
    version: `${stats.size.toString(36)}-${stats.mtimeNs.toString(36)}-${stats.ino.toString(36)}`,
  };
}

/** An error from a system call (it has a syscall), as opposed to a body's or our own. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

async function wrapIo<T>(fn: () => Promise<T>, relPath: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapIoError(err, relPath);
  }
}

function mapIoError(err: unknown, relPath: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EISDIR':
      return new StorageError('NOT_FOUND', `${relPath} not found`, { cause: err });
    case 'ELOOP':
      return new StorageError('OUTSIDE_ROOT', `${relPath} is a symlink loop or was swapped`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new StorageError('NOT_PERMITTED', `${relPath}: permission denied`, { cause: err });
    case 'EROFS':
      return new StorageError('NOT_PERMITTED', `${relPath}: read-only filesystem`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError('NO_SPACE', `${relPath}: no space left`, { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      return new StorageError('TOO_MANY_OPEN_FILES', 'too many open files', { cause: err });
    default:
      return new StorageError('IO', `${relPath}: ${(err as Error).message}`, { cause: err });
  }
}
