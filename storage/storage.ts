// The storage interface: what the server needs from a media store, and nothing of HTTP.
// A backend resolves safe relative paths, describes files (size, mtime, a strong validator)
// and hands out shared, reference-counted handles for positional reads.

export type StorageErrorCode =
  | 'NOT_FOUND' // no such file, or a directory, or a hidden entry
  | 'OUTSIDE_ROOT' // the path (or a symlink on it) leads outside the media root
  | 'NOT_PERMITTED' // the OS refused access
  | 'TOO_MANY_OPEN_FILES' // EMFILE/ENFILE: try again later
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

/** A shared open file. Every `open` must be paired with exactly one `close`. */
export interface MediaFile {
  readonly info: FileInfo;
  /** Reads up to `length` bytes at `position` into `target[0..]`; resolves the count read. */
  read(target: Buffer, length: number, position: number): Promise<number>;
  close(): void;
}

export interface Storage {
  open(path: string): Promise<MediaFile>;
  stat(path: string): Promise<FileInfo>;
  /** Every servable file below the root, depth first, hidden entries skipped. */
  list(): Promise<FileInfo[]>;
  /** Counts for leak checks: descriptors open, their users, and paths held by the cache. */
  openCounts(): { readonly files: number; readonly users: number; readonly cached: number };
  /** Closes descriptors that only the open-file cache keeps open. */
  dropCache(): void;
  close(): Promise<void>;
}
