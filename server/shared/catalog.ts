// The catalog: one record per media file (path, size, mtime, strong ETag, type), what
// GET /api/media lists. The media folder is the truth; the catalog is its shared index. An
// instance that replaces or removes a file records it and announces the path at once; every
// other instance drops its open-file cache and its copy of the list when it hears that, so
// none serves a stale ETag for a file changed through any instance. Files changed behind the
// server's back (copied into the folder) are picked up by the rescan every CATALOG_RESCAN_MS.
//
// Where the records live is a RecordStore: a Map here, a Redis hash in shared/redis-catalog.ts.
// When the store cannot answer (Redis down) the list is read from the folder itself.

import mime from 'mime-types';
import type { FileInfo, Storage } from '../../storage/storage.ts';
import type { Logger } from '../log.ts';

export interface CatalogRecord {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly etag: string;
  readonly type: string;
  /** From ffprobe when it is installed and MEDIA_PROBE is on (storage/media-probe.ts). */
  readonly durationSec?: number;
  readonly codecs?: readonly string[];
}

/** A change to make only if the stored record is still `expected` (undefined: absent). */
export interface RecordChange {
  readonly path: string;
  readonly expected: CatalogRecord | undefined;
  /** undefined: remove the record. */
  readonly next: CatalogRecord | undefined;
}

export interface RecordStore {
  all(): Promise<Map<string, CatalogRecord>>;
  /** Applies each change whose expectation still holds, atomically per change; resolves how many did. */
  apply(changes: readonly RecordChange[]): Promise<number>;
  /** Sets records unconditionally (this instance just wrote or removed the file). */
  set(path: string, record: CatalogRecord | undefined): Promise<void>;
  /** Tells every other instance that these paths changed. */
  announce(paths: readonly string[]): Promise<void>;
  /** Called with paths another instance announced, or with [] when announcements may have been missed. */
  onAnnounce(listener: (paths: readonly string[]) => void): void;
}

export function recordOf(info: FileInfo): CatalogRecord {
  return {
    path: info.path,
    size: info.size,
    mtimeMs: info.mtimeMs,
    etag: `"${info.version}"`,
    type: mime.lookup(info.path) || 'application/octet-stream',
  };
}

export interface CatalogOptions {
  readonly storage: Storage;
  readonly store: RecordStore;
  readonly rescanMs: number;
  /** Add duration and codecs to new and changed records, in the background. */
  readonly isProbing: boolean;
  readonly log: Logger;
}

export class Catalog {
  readonly #options: CatalogOptions;
  /** This instance's copy of the list; undefined: read it again. */
  #cached: CatalogRecord[] | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #rescanning: Promise<void> | undefined;
  /** Records waiting for their facts, probed one at a time. */
  readonly #toProbe = new Map<string, CatalogRecord>();
  #probing: Promise<void> | undefined;

  constructor(options: CatalogOptions) {
    this.#options = options;
    options.store.onAnnounce(() => {
      // Another instance replaced or removed a file: our descriptors and list may be stale.
      options.storage.invalidate();
      this.#cached = undefined;
    });
  }

  /** Indexes the folder now and then every rescanMs. */
  async start(): Promise<void> {
    await this.rescan();
    if (this.#options.rescanMs > 0) this.#rescanTimer = setInterval(() => void this.rescan(), this.#options.rescanMs).unref();
  }

  /** Stops rescanning and probing; resolves once a probe under way has finished. */
  async stop(): Promise<void> {
    clearInterval(this.#rescanTimer);
    this.#toProbe.clear();
    await this.#probing;
  }

  async list(): Promise<CatalogRecord[]> {
    if (this.#cached) return this.#cached;
    let records: CatalogRecord[];
    try {
      records = sortByPath([...(await this.#options.store.all()).values()]);
    } catch {
      // The store is out of reach: the folder itself is the truth, uncached.
      return sortByPath((await this.#options.storage.list()).map(recordOf));
    }
    this.#cached = records;
    return records;
  }

  /** This instance replaced or removed `path`: record what is there now and tell the others. */
  async noteChanged(path: string): Promise<void> {
    this.#cached = undefined;
    let record: CatalogRecord | undefined;
    try {
      record = recordOf(await this.#options.storage.stat(path));
    } catch {
      record = undefined; // removed (or unreadable): no longer servable
    }
    try {
      await this.#options.store.set(path, record);
      await this.#options.store.announce([path]);
      if (record) this.#enrich([record]);
    } catch (err) {
      // Redis is down: the others see it at their next rescan, and serve it at the latest
      // FILE_CACHE_VALID_MS later (their open-file cache).
      this.#options.log.warn({ err: (err as Error).message, path }, 'catalog change not shared: redis unavailable');
    }
    this.#cached = undefined;
  }

  /** Brings the stored records in line with the folder; one rescan at a time. */
  rescan(): Promise<void> {
    this.#rescanning ??= this.#rescan().finally(() => {
      this.#rescanning = undefined;
    });
    return this.#rescanning;
  }

  async #rescan(): Promise<void> {
    const { storage, store, log } = this.#options;
    try {
      const onDisk = new Map((await storage.list()).map((info) => [info.path, recordOf(info)]));
      const stored = await store.all();
      const changes: RecordChange[] = [];
      for (const [path, record] of onDisk) {
        const expected = stored.get(path);
        if (!expected || !isSameRecord(expected, record)) changes.push({ path, expected, next: record });
      }
      for (const [path, expected] of stored) if (!onDisk.has(path)) changes.push({ path, expected, next: undefined });
      if (changes.length === 0) return;
      const applied = await store.apply(changes);
      await store.announce(changes.map((c) => c.path));
      this.#cached = undefined;
      this.#enrich(changes.flatMap((c) => (c.next ? [c.next] : [])));
      // The first index of an empty catalog is routine; a change found later is worth a line.
      const level = stored.size === 0 ? 'debug' : 'info';
      log[level]({ changed: changes.length, applied }, 'catalog updated from the media folder');
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'catalog rescan skipped');
    }
  }

  /** Probes these records' files in the background and stores the facts (compare-and-set). */
  #enrich(records: readonly CatalogRecord[]): void {
    if (!this.#options.isProbing) return;
    for (const record of records) this.#toProbe.set(record.path, record);
    this.#probing ??= (async () => {
      const { storage, store } = this.#options;
      for (const [path, record] of this.#toProbe) {
        this.#toProbe.delete(path);
        const facts = await storage.probe(path);
        if (!facts) continue;
        try {
          if ((await store.apply([{ path, expected: record, next: { ...record, ...facts } }])) === 0) continue;
          await store.announce([path]);
          this.#cached = undefined;
        } catch {
          // Redis is away: the next rescan after it is back finds the record without facts as unchanged; they stay unknown.
        }
      }
    })().finally(() => {
      this.#probing = undefined;
    });
  }
}

export class MemoryRecordStore implements RecordStore {
  readonly #records = new Map<string, CatalogRecord>();

  async all(): Promise<Map<string, CatalogRecord>> {
    return new Map(this.#records);
  }

  async apply(changes: readonly RecordChange[]): Promise<number> {
    let applied = 0;
    for (const change of changes) {
      const current = this.#records.get(change.path);
      if (!(current === undefined ? change.expected === undefined : change.expected !== undefined && isSameRecord(current, change.expected))) continue;
      await this.set(change.path, change.next);
      applied++;
    }
    return applied;
  }

  async set(path: string, record: CatalogRecord | undefined): Promise<void> {
    if (record) this.#records.set(path, record);
    else this.#records.delete(path);
  }

  /** One instance: nobody else to tell. */
  async announce(_paths: readonly string[]): Promise<void> {}

  onAnnounce(_listener: (paths: readonly string[]) => void): void {}
}

export function isSameRecord(a: CatalogRecord, b: CatalogRecord): boolean {
  return a.etag === b.etag && a.size === b.size && a.mtimeMs === b.mtimeMs && a.type === b.type && a.path === b.path;
}

function sortByPath(records: CatalogRecord[]): CatalogRecord[] {
  return records.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
