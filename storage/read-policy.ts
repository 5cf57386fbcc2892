// Where a file read runs: on the event loop (a plain pread) or on libuv's thread pool.
//
// A pread of bytes in the page cache is a memcpy: ~10-30 us for 64-128 KiB. Handing it to the
// thread pool costs more than that on the event loop alone (queue lock, futex wake, eventfd
// back, a callback turn; measured ~30 us per read on 2 cores under load) and pays for it with
// ~25% fewer 64 KiB ranges per second. But a pread that misses the page cache waits for the
// disk, and on the event loop that wait stalls every stream of the process. nginx's default
// (no `aio`) accepts that stall; a Node server has one loop for all its connections.
//
// 'auto' (an option; 'async' stays the default until a benchmark shows auto's gain) reads on the loop only what it has reason to believe is cached: a
// block this process read within the last `warmMs` (the file's bytes are then in page cache
// unless memory pressure evicted them since). Everything else goes to the pool, and reading
// it there warms it. Every loop read is timed; one slower than `slowSyncReadMs` (a read that
// did wait for a disk, or a starved machine) turns loop reads off for `cooldownMs`, so a wrong
// guess costs at most one stall per cooldown. Node exposes neither mincore(2) nor
// preadv2(RWF_NOWAIT), which would answer "is it cached?" exactly.

export type ReadMode = 'async' | 'sync' | 'auto';

export interface ReadPolicyOptions {
  readonly mode: ReadMode;
  /** A block read this recently counts as cached. */
  readonly warmMs: number;
  /** A loop read slower than this turns loop reads off for `cooldownMs`. */
  readonly slowSyncReadMs: number;
  readonly cooldownMs: number;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  readonly now?: () => number;
}

export const AUTO_READ_DEFAULTS = { warmMs: 30_000, slowSyncReadMs: 2, cooldownMs: 5_000 } as const;

export interface ReadCounts {
  /** Reads run on the event loop. */
  readonly sync: number;
  /** Reads run on the thread pool. */
  readonly async: number;
  /** Loop reads slower than the threshold (each started a cooldown). */
  readonly slowSync: number;
}

const MIN_BLOCK_BYTES = 1024 * 1024;
/** Bounds a descriptor's table at 256 KiB, whatever the file size. */
const MAX_BLOCKS = 65_536;

/**
 * When each block of one file was last read, in ms since the policy's epoch (0: never).
 * Lazily allocated; one Float64 per block of max(1 MiB, size / 65,536) bytes.
 */
export class WarmBlocks {
  readonly #blockBytes: number;
  readonly #lastReadMs: Float64Array;

  constructor(fileBytes: number) {
    this.#blockBytes = Math.max(MIN_BLOCK_BYTES, Math.ceil(fileBytes / MAX_BLOCKS));
    this.#lastReadMs = new Float64Array(Math.max(1, Math.ceil(fileBytes / this.#blockBytes)));
  }

  /** True when every block that [position, position + length) touches was read since `sinceMs`. */
  isWarm(position: number, length: number, sinceMs: number): boolean {
    if (length <= 0) return false;
    const [first, last] = this.#blocksOf(position, length);
    for (let block = first; block <= last; block++) {
      const readAt = this.#lastReadMs[block];
      if (readAt === undefined || readAt === 0 || readAt < sinceMs) return false;
    }
    return true;
  }

  markRead(position: number, length: number, atMs: number): void {
    if (length <= 0) return;
    const [first, last] = this.#blocksOf(position, length);
    for (let block = first; block <= last; block++) this.#lastReadMs[block] = atMs;
  }

  /** First and last block a byte range touches; bytes past the end count as the last block. */
  #blocksOf(position: number, length: number): [number, number] {
    const lastBlock = this.#lastReadMs.length - 1;
    return [
      Math.min(lastBlock, Math.floor(position / this.#blockBytes)),
      Math.min(lastBlock, Math.floor((position + length - 1) / this.#blockBytes)),
    ];
  }
}

/** One per storage: decides sync or async per read and counts what it decided. */
export class ReadPolicy {
  readonly mode: ReadMode;
  readonly #options: ReadPolicyOptions;
  readonly #now: () => number;
  #syncOffUntilMs = 0;
  #sync = 0;
  #async = 0;
  #slowSync = 0;

  constructor(options: ReadPolicyOptions) {
    this.mode = options.mode;
    this.#options = options;
    // +1: a read at the very first millisecond must not look like "never read" (0).
    this.#now = options.now ?? ((): number => performance.now() + 1);
  }

  /** The warmth table for a newly opened file, when this mode keeps one. */
  blocksFor(fileBytes: number): WarmBlocks | undefined {
    return this.mode === 'auto' ? new WarmBlocks(fileBytes) : undefined;
  }

  /** Decides one read; the caller then runs it and reports back with syncDone/asyncDone. */
  isSync(blocks: WarmBlocks | undefined, position: number, length: number): boolean {
    if (this.mode !== 'auto') return this.mode === 'sync';
    if (!blocks) return false;
    const now = this.#now();
    return now >= this.#syncOffUntilMs && blocks.isWarm(position, length, now - this.#options.warmMs);
  }

  /** The policy's clock, for timing a loop read. */
  now(): number {
    return this.#now();
  }

  syncDone(blocks: WarmBlocks | undefined, position: number, length: number, elapsedMs: number): void {
    this.#sync++;
    const now = this.#now();
    if (this.mode === 'auto' && elapsedMs > this.#options.slowSyncReadMs) {
      this.#slowSync++;
      this.#syncOffUntilMs = now + this.#options.cooldownMs;
    }
    blocks?.markRead(position, length, now);
  }

  asyncDone(blocks: WarmBlocks | undefined, position: number, length: number): void {
    this.#async++;
    blocks?.markRead(position, length, this.#now());
  }

  counts(): ReadCounts {
    return { sync: this.#sync, async: this.#async, slowSync: this.#slowSync };
  }
}
