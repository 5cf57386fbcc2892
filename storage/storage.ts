// The storage interface: what the server needs from a media store, and nothing of HTTP.
// A backend resolves safe relative paths, describes files (size, mtime, a strong validator),
// hands out shared, reference-counted handles for positional reads, and replaces or removes
// files atomically.

import type { ReadCounts } from './read-policy.ts';
import type { MediaFacts } from './media-probe.ts';

export type StorageErrorCode =
  | 'NOT_FOUND' // no such file, or a directory, or a hidden entry
  | 'OUTSIDE_ROOT' // the path (or a symlink on it) leads outside the media root
  | 'NOT_PERMITTED' // the OS refused access
  | 'TOO_MANY_OPEN_FILES' // EMFILE/ENFILE: try again later
  | 'TOO_LARGE' // a body for replace() went past its maxBytes
  | 'LENGTH_MISMATCH' // a body for replace() was not exactly its expectedBytes long
  | 'CONFLICT' // a folder is where a file should go, or a file where a folder should
  | 'NO_SPACE' // ENOSPC/EDQUOT: the disk or the quota is full
  | 'IO'; // any other I/O failure

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface FileInfo {
  /** Path relative to the media root, with '/' separators. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Strong validator: changes whenever the bytes may have changed (size, mtime ns, inode). */
  readonly version: string;
}

/**
 * A shared open file. Every `open` must be paired with a `close`; closing the same handle again
 * is a no-op (its use is counted down once), so a cleanup path may close without knowing
 * whether another already did.
 */
export interface MediaFile {
  readonly info: FileInfo;
  /** Reads up to `length` bytes at `position` into `target[0..]`; resolves the count read. */
  read(target: Buffer, length: number, position: number): Promise<number>;
  close(): void;
}

export interface ReplaceOptions {
  /** The body must be exactly this long (a declared length); undefined: any length up to maxBytes. */
  readonly expectedBytes?: number | undefined;
  readonly maxBytes: number;
}

export interface ReplaceResult {
  /** The file now at the path: exactly the bytes the body carried. */
  readonly info: FileInfo;
  /** No file was at the path before. */
  readonly created: boolean;
}

export interface Storage {
  open(path: string): Promise<MediaFile>;
  stat(path: string): Promise<FileInfo>;
  /** Every servable file below the root, depth first, hidden entries skipped. */
  list(): Promise<FileInfo[]>;
  /**
   * Puts the body at `path` atomically: readers see the old file or the whole new one, never
   * a part. Missing folders are created. If the body fails (its own error is rethrown as is),
   * is too long or not `expectedBytes` long, nothing is kept and the old file is untouched.
   * Whoever has the old file open keeps reading the old bytes.
   */
  replace(path: string, body: AsyncIterable<Buffer>, options: ReplaceOptions): Promise<ReplaceResult>;
  /** Removes the file at `path`; open handles keep reading it. NOT_FOUND when there is none. */
  remove(path: string): Promise<void>;
  /** Counts for leak checks: descriptors open (uploads being written too), their users, and paths held by the cache. */
  openCounts(): { readonly files: number; readonly users: number; readonly cached: number };
  /** File reads so far by where they ran (event loop or thread pool), see read-policy.ts. */
  readCounts(): ReadCounts;
  /** Closes descriptors that only the open-file cache keeps open. */
  dropCache(): void;
  /**
   * Another process replaced or removed a file below the root (another instance told us): the
   * next open of any path stats it afresh, as after this instance's own replace or remove.
   */
  invalidate(): void;
  /** Duration and codecs of a file when they can be known (media-probe.ts); undefined otherwise. */
  probe(path: string): Promise<MediaFacts | undefined>;
  close(): Promise<void>;
}
