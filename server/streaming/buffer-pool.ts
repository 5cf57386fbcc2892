// Fixed-size slabs with a hard cap on total bytes, leased to one chunk at a time.
//
// Ownership: a lease belongs to the chunk read into it. When the chunk is handed to a
// write, the lease is marked "writing"; only that write's completion callback may mark it
// "written" and release it. Node's http2 does not copy DATA payloads (see
// ../shared/NODE-HTTP2-NOTES.md), so a slab released before its write completed can be
// refilled by another stream while the socket still reads from it: exactly the Jetty bug.
// The pool therefore counts every release of a slab whose write had not completed
// (`prematureReleases`); in a correct server that count stays 0, and the tests assert it.
//
// When the cap is reached, acquirers wait in FIFO order and a released slab is handed
// straight to the oldest waiter, so memory stays bounded under any load and no stream
// starves.

export interface BufferPoolOptions {
  readonly slabBytes: number;
  readonly maxBytes: number;
  /** Fill released slabs with 0xEE. Costly; tests use it so a premature release is loud. */
  readonly poisonOnRelease?: boolean;
}

export interface BufferPoolStats {
  readonly slabBytes: number;
  readonly capacitySlabs: number;
  readonly allocatedSlabs: number;
  readonly inUse: number;
  readonly free: number;
  readonly highWater: number;
  readonly waiting: number;
  readonly waitsTotal: number;
  readonly prematureReleases: number;
}

type LeaseState = 'held' | 'writing' | 'written' | 'released';

export class DoubleReleaseError extends Error {
  override readonly name = 'DoubleReleaseError';
}

export class PoolClosedError extends Error {
  override readonly name = 'PoolClosedError';
}

export class Lease {
  readonly buffer: Buffer;
  #state: LeaseState = 'held';
  readonly #pool: BufferPool;

  constructor(pool: BufferPool, buffer: Buffer) {
    this.#pool = pool;
    this.buffer = buffer;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** The slab is now referenced by a pending write. */
  writeStarted(): void {
    if (this.#state !== 'held') throw new Error(`lease cannot start a write in state ${this.#state}`);
    this.#state = 'writing';
  }

  /** The write's completion callback fired: nothing references the slab any more. */
  writeCompleted(): void {
    if (this.#state !== 'writing') throw new Error(`lease cannot complete a write in state ${this.#state}`);
    this.#state = 'written';
  }

  /** The write was refused synchronously and will never call back (see response-sink.ts). */
  writeRefused(): void {
    if (this.#state !== 'writing') throw new Error(`lease cannot refuse a write in state ${this.#state}`);
    this.#state = 'held';
  }

  release(): void {
    if (this.#state === 'released') throw new DoubleReleaseError('slab released twice');
    const wasWriting = this.#state === 'writing';
    this.#state = 'released';
    this.#pool.reclaim(this.buffer, wasWriting);
  }
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(err: Error): void;
}

export class BufferPool {
  readonly slabBytes: number;
  readonly capacitySlabs: number;
  readonly #poison: boolean;
  readonly #free: Buffer[] = [];
  readonly #waiters: Waiter[] = [];
  #allocated = 0;
  #inUse = 0;
  #highWater = 0;
  #waitsTotal = 0;
  #prematureReleases = 0;
  #closed = false;

  constructor(options: BufferPoolOptions) {
    if (!Number.isInteger(options.slabBytes) || options.slabBytes < 1024) {
      throw new RangeError('slabBytes must be an integer >= 1024');
    }
    // Finite too: NaN or Infinity would make capacitySlabs NaN or Infinity, i.e. no cap at all.
    if (!Number.isFinite(options.maxBytes) || options.maxBytes < options.slabBytes) {
      throw new RangeError('maxBytes must be finite and hold at least one slab');
    }
    this.slabBytes = options.slabBytes;
    this.capacitySlabs = Math.floor(options.maxBytes / options.slabBytes);
    this.#poison = options.poisonOnRelease ?? false;
  }

  /** A lease now if a slab is free or may be allocated, otherwise undefined. */
  tryAcquire(): Lease | undefined {
    if (this.#closed || this.#waiters.length > 0) return undefined;
    const buffer = this.#takeSlab();
    return buffer && this.#lease(buffer);
  }

  /** A lease, waiting in FIFO order behind earlier acquirers when the pool is exhausted. */
  acquire(signal?: AbortSignal): Promise<Lease> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (this.#closed) return Promise.reject(new PoolClosedError('buffer pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.#waitsTotal++;
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal!.reason as Error);
      };
      // The listener goes when the wait ends, or a signal reused across waits gathers one per wait.
      const stopListening = (): void => signal?.removeEventListener('abort', onAbort);
      const waiter: Waiter = {
        resolve: (lease) => {
          stopListening();
          resolve(lease);
        },
        reject: (err) => {
          stopListening();
          reject(err);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Called by Lease.release only. */
  reclaim(buffer: Buffer, wasWriting: boolean): void {
    if (wasWriting) this.#prematureReleases++;
    this.#inUse--;
    if (this.#poison) buffer.fill(0xee);
    const next = this.#waiters.shift();
    if (next) {
      next.resolve(this.#lease(buffer));
      return;
    }
    this.#free.push(buffer);
  }

  /** Rejects waiters; leases still out come back through release() as usual. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new PoolClosedError('buffer pool is closed'));
  }

  stats(): BufferPoolStats {
    return {
      slabBytes: this.slabBytes,
      capacitySlabs: this.capacitySlabs,
      allocatedSlabs: this.#allocated,
      inUse: this.#inUse,
      free: this.capacitySlabs - this.#inUse,
      highWater: this.#highWater,
      waiting: this.#waiters.length,
      waitsTotal: this.#waitsTotal,
      prematureReleases: this.#prematureReleases,
    };
  }

  #takeSlab(): Buffer | undefined {
    const reused = this.#free.pop();
    if (reused) return reused;
    if (this.#allocated >= this.capacitySlabs) return undefined;
    this.#allocated++;
    // allocUnsafeSlow: a slab of its own, never a view into Node's shared 8 KiB pool.
    return Buffer.allocUnsafeSlow(this.slabBytes);
  }

  #lease(buffer: Buffer): Lease {
    this.#inUse++;
    if (this.#inUse > this.#highWater) this.#highWater = this.#inUse;
    return new Lease(this, buffer);
  }
}
