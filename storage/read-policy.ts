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
// did wait for a disk, or a process the scheduler put aside) counts its time against a stall
// budget of `stallBudgetMs` per second, and a second whose slow loop reads spend more than that
// turns loop reads off for `cooldownMs`. So wrong guesses cost the loop at most the budget per
// second plus one read. A budget, not one strike: on this 2-core machine under a seek storm
// (the load tool on the other core) a loop read of a cached block took over 2 ms about once in
// 1,300 reads (the scheduler, not a disk), and one strike then sent ~90% of the reads of a
// 15 s storm to the pool (media_file_reads_total, 2026-12-07). A disk miss, 5-15 ms on a
// spinning disk, spends the budget in two or three reads. Node exposes neither mincore(2) nor
// preadv2(RWF_NOWAIT), which would answer "is it cached?" exactly.

export type ReadMode = 'async' | 'sync' | 'auto';

export interface ReadPolicyOptions {
  readonly mode: ReadMode;
  /** A block read this recently counts as cached. */
  readonly warmMs: number;
  /** A loop read slower than this counts its time against the stall budget. */
  readonly slowSyncReadMs: number;
  /** Slow loop reads may spend this many ms per second; more turns loop reads off for `cooldownMs`. */
  readonly stallBudgetMs: number;
  readonly cooldownMs: number;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  readonly now?: () => number;
}

export const AUTO_READ_DEFAULTS = { warmMs: 30_000, slowSyncReadMs: 2, stallBudgetMs: 20, cooldownMs: 5_000 } as const;

/** The stall budget is counted per window of this length. */
const STALL_WINDOW_MS = 1000;

export interface ReadCounts {
  /** Reads run on the event loop. */
  readonly sync: number;
  /** Reads run on the thread pool. */
  readonly async: number;
  /** Loop reads slower than the threshold (counted against the stall budget). */
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
  /** Start of the current stall-budget window, and what slow loop reads spent in it. */
  #windowStartMs = 0;
  #windowStallMs = 0;
  /** auto's reads on the pool that have not reported back. */
  #asyncInFlight = 0;
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

  /**
   * Decides one read; the caller then runs it and reports back with syncDone, or asyncDone
   * (also when the read failed). auto reads on the loop only while none of its reads is on the
   * pool: with many streams reading at once the pool's threads take the copies off the loop,
   * with few the loop saves the hop.
   */
  isSync(blocks: WarmBlocks | undefined, position: number, length: number): boolean {
    if (this.mode !== 'auto') return this.mode === 'sync';
    if (this.#asyncInFlight === 0 && blocks) {
      const now = this.#now();
      if (now >= this.#syncOffUntilMs && blocks.isWarm(position, length, now - this.#options.warmMs)) return true;
    }
    this.#asyncInFlight++;
    return false;
  }

  /** The policy's clock, for timing a loop read. */
  now(): number {
    return this.#now();
  }

  syncDone(blocks: WarmBlocks | undefined, position: number, length: number, elapsedMs: number): void {
    this.#sync++;
    const now = this.#now();
    if (this.mode === 'auto' && elapsedMs > this.#options.slowSyncReadMs) this.#slowRead(now, elapsedMs);
    blocks?.markRead(position, length, now);
  }

  #slowRead(now: number, elapsedMs: number): void {
    this.#slowSync++;
    if (now - this.#windowStartMs >= STALL_WINDOW_MS) {
      this.#windowStartMs = now;
      this.#windowStallMs = 0;
    }
    this.#windowStallMs += elapsedMs;
    if (this.#windowStallMs <= this.#options.stallBudgetMs) return;
    this.#syncOffUntilMs = now + this.#options.cooldownMs;
    this.#windowStallMs = 0;
  }

  asyncDone(blocks: WarmBlocks | undefined, position: number, length: number): void {
    this.#async++;
    if (this.#asyncInFlight > 0) this.#asyncInFlight--;
    blocks?.markRead(position, length, this.#now());
  }

  counts(): ReadCounts {
    return { sync: this.#sync, async: this.#async, slowSync: this.#slowSync };
  }
}
