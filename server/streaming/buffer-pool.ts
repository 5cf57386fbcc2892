// Slabs of a few sizes under one hard cap on bytes, leased to one chunk at a time and shared
// fairly between connections and clients.
//
// Ownership: a lease belongs to the chunk read into it. When the chunk is handed to a
// write, the lease is marked "writing"; only that write's completion callback may mark it
// "written" and release it. Node's http2 does not copy DATA payloads (docs/http2-lifecycle.md),
// so a slab released before its write completed can be refilled by another stream while the
// socket still reads from it: exactly the Jetty bug. The pool therefore counts every release
// of a slab whose write had not completed (`prematureReleases`); in a correct server that
// count stays 0, and the tests assert it.
//
// Sizes: powers of two from `minSlabBytes` (16 KiB, the smallest frame size any HTTP/2 peer
// must accept) up to `slabBytes` (CHUNK_BYTES). The data path asks for what the peer can take
// (send-body.ts), so a stream held at a zero window keeps one small slab, not a large one.
// Free slabs of one size are dropped to make room for another when the cap is reached.
//
// Shares (docs/slab-policy.md): every lease is charged to its connection and to its client
// (address, IPv6 by /64). A connection may hold at most `connectionMaxBytes`, a client at
// most `clientMaxBytes`: paused or hostile streams of one client cannot take slabs another
// client needs. When a stream must wait, it waits for the smallest slab; a released slab goes
// first to the waiting client that holds the least, and within a client to its oldest waiter
// whose connection is under its share. Nothing ever waits on a share while bytes it could use
// sit free, and nothing waits forever while the slabs it waits for are flowing.
//
// Probes: a write past the peer's initial window that no completed write has yet shown the
// peer will take (send-body.ts) may never complete; thousands of paused viewers each holding
// one would fill any pool. Probe slabs may fill only PROBE_FRACTION of the pool, and waiting
// probes are served after every other waiter: the rest stays for streams that flow, such as a
// new viewer's first window.

export interface BufferPoolOptions {
  /** The largest slab (CHUNK_BYTES). */
  readonly slabBytes: number;
  /** Hard cap on slab bytes allocated, leased or free. */
  readonly maxBytes: number;
  /** The smallest slab; default 16 KiB (or slabBytes, if smaller). */
  readonly minSlabBytes?: number;
  /** Most bytes the leases of one connection may hold; default maxBytes. */
  readonly connectionMaxBytes?: number;
  /** Most bytes the leases of one client may hold; default maxBytes. */
  readonly clientMaxBytes?: number;
}

export interface BufferPoolStats {
  readonly slabBytes: number;
  readonly minSlabBytes: number;
  readonly capacityBytes: number;
  /** Largest slabs the cap holds (capacityBytes / slabBytes). */
  readonly capacitySlabs: number;
  readonly allocatedSlabs: number;
  readonly allocatedBytes: number;
  /** Leases out now. */
  readonly inUse: number;
  readonly inUseBytes: number;
  /** Largest slabs that could still be leased (ignoring shares). */
  readonly free: number;
  readonly highWater: number;
  readonly highWaterBytes: number;
  readonly waiting: number;
  readonly waitsTotal: number;
  /** Acquires refused at once because the connection or the client was at its share. */
  readonly shareRefusals: number;
  readonly prematureReleases: number;
}

type LeaseState = 'held' | 'writing' | 'written' | 'released';

export class DoubleReleaseError extends Error {
  override readonly name = 'DoubleReleaseError';
}

export class PoolClosedError extends Error {
  override readonly name = 'PoolClosedError';
}

/** Where a stream takes its slabs from: the pool under a connection's share. */
export interface SlabSource {
  /** The largest slab; no read is bigger. */
  readonly slabBytes: number;
  /** The smallest slab. */
  readonly minSlabBytes: number;
  /**
   * A slab of at least `bytes` (at most slabBytes) now, or undefined when none may be had.
   * `isProbe`: for a write the peer may never take (see the header).
   */
  tryAcquire(bytes: number, isProbe?: boolean): Lease | undefined;
  /** The smallest slab, waiting behind other streams when none may be had now. */
  acquire(signal?: AbortSignal, isProbe?: boolean): Promise<Lease>;
}

export class Lease {
  readonly buffer: Buffer;
  #state: LeaseState = 'held';
  readonly #pool: BufferPool;
  readonly #share: PoolShare;

  constructor(pool: BufferPool, share: PoolShare, buffer: Buffer) {
    this.#pool = pool;
    this.#share = share;
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
    this.#pool.reclaim(this.buffer, this.#share, wasWriting);
  }
}

/** The bytes one client's leases hold, and its streams waiting for a slab. */
class ClientShare {
  bytes = 0;
  readonly waiters: Waiter[] = [];
  /** Waiting probes, served only when no other waiter can be (see the header). */
  readonly probeWaiters: Waiter[] = [];
  /** Dropped from the pool's table (nothing held, nobody waiting); a share that sees it looks again. */
  isDetached = false;
  readonly key: string;

  constructor(key: string) {
    this.key = key;
  }
}

/** One connection's view of the pool: its leases are charged to it and to its client. */
export class PoolShare implements SlabSource {
  bytes = 0;
  readonly #pool: BufferPool;
  readonly #clientKey: string;
  #client: ClientShare;

  constructor(pool: BufferPool, clientKey: string, client: ClientShare) {
    this.#pool = pool;
    this.#clientKey = clientKey;
    this.#client = client;
  }

  get slabBytes(): number {
    return this.#pool.slabBytes;
  }

  get minSlabBytes(): number {
    return this.#pool.minSlabBytes;
  }

  /** The client's record, looked up again once the pool has let it go. */
  get client(): ClientShare {
    if (this.#client.isDetached) this.#client = this.#pool.clientShare(this.#clientKey);
    return this.#client;
  }

  tryAcquire(bytes: number, isProbe = false): Lease | undefined {
    return this.#pool.tryAcquireFor(this, bytes, isProbe);
  }

  acquire(signal?: AbortSignal, isProbe = false): Promise<Lease> {
    return this.#pool.acquireFor(this, signal, isProbe);
  }
}

interface Waiter {
  readonly share: PoolShare;
  resolve(lease: Lease): void;
  reject(err: Error): void;
}

const DEFAULT_MIN_SLAB_BYTES = 16 * 1024;
/** The part of the pool probe slabs may fill. */
export const PROBE_FRACTION = 0.75;

export class BufferPool implements SlabSource {
  readonly slabBytes: number;
  readonly minSlabBytes: number;
  readonly capacityBytes: number;
  readonly capacitySlabs: number;
  readonly connectionMaxBytes: number;
  readonly clientMaxBytes: number;
  /** Probe slabs are leased only while the bytes in use stay at or below this. */
  readonly probeMaxBytes: number;
  /** Slab sizes, smallest first; #free[i] holds free slabs of #sizes[i]. */
  readonly #sizes: readonly number[];
  readonly #free: Buffer[][];
  readonly #clients = new Map<string, ClientShare>();
  /** A connection's share is kept on the connection's own record, under this pool's key. */
  readonly #shareKey = Symbol('poolShare');
  /** Clients with at least one waiter. */
  readonly #waitingClients = new Set<ClientShare>();
  /** Leases not charged to any connection (tests, tools): one share of their own. */
  readonly #ownShare: PoolShare;
  #allocatedBytes = 0;
  #allocatedSlabs = 0;
  #inUse = 0;
  #inUseBytes = 0;
  #highWater = 0;
  #highWaterBytes = 0;
  #waiting = 0;
  #waitsTotal = 0;
  #shareRefusals = 0;
  #prematureReleases = 0;
  #closed = false;

  constructor(options: BufferPoolOptions) {
    if (!Number.isInteger(options.slabBytes) || options.slabBytes < 1024) {
      throw new RangeError('slabBytes must be an integer >= 1024');
    }
    // Finite too: NaN or Infinity would make the cap NaN or Infinity, i.e. no cap at all.
    if (!Number.isFinite(options.maxBytes) || options.maxBytes < options.slabBytes) {
      throw new RangeError('maxBytes must be finite and hold at least one slab');
    }
    const minSlab = Math.min(options.minSlabBytes ?? DEFAULT_MIN_SLAB_BYTES, options.slabBytes);
    if (!Number.isInteger(minSlab) || minSlab < 1024) throw new RangeError('minSlabBytes must be an integer >= 1024');
    this.slabBytes = options.slabBytes;
    this.minSlabBytes = minSlab;
    this.capacityBytes = options.maxBytes;
    this.capacitySlabs = Math.floor(options.maxBytes / options.slabBytes);
    this.connectionMaxBytes = Math.min(options.connectionMaxBytes ?? options.maxBytes, options.maxBytes);
    this.clientMaxBytes = Math.min(options.clientMaxBytes ?? options.maxBytes, options.maxBytes);
    if (this.connectionMaxBytes < options.slabBytes || this.clientMaxBytes < options.slabBytes) {
      throw new RangeError('a connection and a client must each be allowed at least one largest slab');
    }
    this.probeMaxBytes = Math.floor(options.maxBytes * PROBE_FRACTION);
    const sizes: number[] = [];
    for (let size = minSlab; size < options.slabBytes; size *= 2) sizes.push(size);
    sizes.push(options.slabBytes);
    this.#sizes = sizes;
    this.#free = sizes.map(() => []);
    this.#ownShare = new PoolShare(this, '', this.clientShare(''));
  }

  /** The share of one connection (any object that lives as long as it), made on first use. */
  shareOf(connection: object, clientKey: () => string | undefined): PoolShare {
    const holder = connection as { [key: symbol]: PoolShare | undefined };
    let share = holder[this.#shareKey];
    if (!share) {
      const key = clientKey() ?? '';
      share = new PoolShare(this, key, this.clientShare(key));
      holder[this.#shareKey] = share;
    }
    return share;
  }

  /** For PoolShare only: the record of a client, made when needed. */
  clientShare(key: string): ClientShare {
    let client = this.#clients.get(key);
    if (!client) {
      client = new ClientShare(key);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** A lease for no connection in particular (tests, tools). */
  tryAcquire(bytes: number = this.slabBytes, isProbe = false): Lease | undefined {
    return this.tryAcquireFor(this.#ownShare, bytes, isProbe);
  }

  acquire(signal?: AbortSignal, isProbe = false): Promise<Lease> {
    return this.acquireFor(this.#ownShare, signal, isProbe);
  }

  /** A slab of at least `bytes` now, when the cap (for a probe, its part of it) and both shares allow it. */
  tryAcquireFor(share: PoolShare, bytes: number, isProbe = false): Lease | undefined {
    if (this.#closed) return undefined;
    const index = this.#sizeIndex(bytes);
    const size = this.#sizes[index]!;
    if (this.#inUseBytes + size > (isProbe ? this.probeMaxBytes : this.capacityBytes)) return undefined;
    const client = share.client;
    if (share.bytes + size > this.connectionMaxBytes || client.bytes + size > this.clientMaxBytes) {
      this.#shareRefusals++;
      return undefined;
    }
    const buffer = this.#take(index);
    return buffer && this.#lease(share, client, buffer);
  }

  /**
   * The smallest slab, at once if it may be had, otherwise when the pool serves this stream
   * (see the header). Waiters take the smallest slab so a freed slab of any size serves one.
   */
  acquireFor(share: PoolShare, signal?: AbortSignal, isProbe = false): Promise<Lease> {
    const now = this.tryAcquireFor(share, this.minSlabBytes, isProbe);
    if (now) return Promise.resolve(now);
    if (this.#closed) return Promise.reject(new PoolClosedError('buffer pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.#waitsTotal++;
    const client = share.client;
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#forget(client, waiter, isProbe)) reject(signal!.reason as Error);
      };
      // The listener goes when the wait ends, or a signal reused across waits gathers one per wait.
      const stopListening = (): void => signal?.removeEventListener('abort', onAbort);
      const waiter: Waiter = {
        share,
        resolve: (lease) => {
          stopListening();
          resolve(lease);
        },
        reject: (err) => {
          stopListening();
          reject(err);
        },
      };
      (isProbe ? client.probeWaiters : client.waiters).push(waiter);
      this.#waiting++;
      this.#waitingClients.add(client);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Called by Lease.release only. */
  reclaim(buffer: Buffer, share: PoolShare, wasWriting: boolean): void {
    if (wasWriting) this.#prematureReleases++;
    const size = buffer.length;
    const client = share.client;
    this.#inUse--;
    this.#inUseBytes -= size;
    share.bytes -= size;
    client.bytes -= size;
    this.#free[this.#sizeIndex(size)]!.push(buffer);
    if (this.#waiting > 0) this.#serveWaiters();
    if (client.bytes === 0 && !hasWaiters(client)) this.#detach(client);
  }

  /** Rejects waiters; leases still out come back through release() as usual. */
  close(): void {
    this.#closed = true;
    for (const client of this.#waitingClients) {
      for (const waiter of [...client.waiters.splice(0), ...client.probeWaiters.splice(0)]) waiter.reject(new PoolClosedError('buffer pool is closed'));
    }
    this.#waitingClients.clear();
    this.#waiting = 0;
  }

  stats(): BufferPoolStats {
    return {
      slabBytes: this.slabBytes,
      minSlabBytes: this.minSlabBytes,
      capacityBytes: this.capacityBytes,
      capacitySlabs: this.capacitySlabs,
      allocatedSlabs: this.#allocatedSlabs,
      allocatedBytes: this.#allocatedBytes,
      inUse: this.#inUse,
      inUseBytes: this.#inUseBytes,
      free: Math.floor((this.capacityBytes - this.#inUseBytes) / this.slabBytes),
      highWater: this.#highWater,
      highWaterBytes: this.#highWaterBytes,
      waiting: this.#waiting,
      waitsTotal: this.#waitsTotal,
      shareRefusals: this.#shareRefusals,
      prematureReleases: this.#prematureReleases,
    };
  }

  /**
   * Hands freed bytes to waiters: streams that flow before probes; among them the waiting
   * client that holds the least first, and within it the oldest waiter whose connection is
   * under its share. Runs in every release that finds waiters, so free bytes never sit idle
   * while an eligible stream waits.
   */
  #serveWaiters(): void {
    while (this.#serveOne(false) || (this.#inUseBytes + this.#sizes[0]! <= this.probeMaxBytes && this.#serveOne(true))) {
      // one waiter served per pass
    }
  }

  /** Serves the best eligible waiter of one kind; false when none could be served. */
  #serveOne(isProbe: boolean): boolean {
    const size = this.#sizes[0]!;
    let candidates: ClientShare[] = [];
    for (const client of this.#waitingClients) {
      if ((isProbe ? client.probeWaiters : client.waiters).length > 0 && client.bytes + size <= this.clientMaxBytes) candidates.push(client);
    }
    if (candidates.length > 1) candidates = candidates.sort((a, b) => a.bytes - b.bytes);
    for (const client of candidates) {
      const queue = isProbe ? client.probeWaiters : client.waiters;
      // A waiter whose connection is at its share is served by that connection's own releases.
      const at = queue.findIndex((w) => w.share.bytes + size <= this.connectionMaxBytes);
      if (at < 0) continue;
      const buffer = this.#take(0);
      if (!buffer) return false; // the cap: the next release comes back here
      const [waiter] = queue.splice(at, 1);
      this.#waiting--;
      if (!hasWaiters(client)) this.#waitingClients.delete(client);
      waiter!.resolve(this.#lease(waiter!.share, client, buffer));
      return true;
    }
    return false;
  }

  /** Removes an aborted waiter; false when it was already served or rejected. */
  #forget(client: ClientShare, waiter: Waiter, isProbe: boolean): boolean {
    const queue = isProbe ? client.probeWaiters : client.waiters;
    const at = queue.indexOf(waiter);
    if (at < 0) return false;
    queue.splice(at, 1);
    this.#waiting--;
    if (!hasWaiters(client)) {
      this.#waitingClients.delete(client);
      if (client.bytes === 0) this.#detach(client);
    }
    return true;
  }

  #detach(client: ClientShare): void {
    if (client === this.#ownShare.client) return;
    client.isDetached = true;
    this.#clients.delete(client.key);
  }

  /** The smallest size holding `bytes` (the largest size for anything bigger). */
  #sizeIndex(bytes: number): number {
    const sizes = this.#sizes;
    let i = 0;
    while (i < sizes.length - 1 && sizes[i]! < bytes) i++;
    return i;
  }

  /** A slab of size #sizes[index]: reused, or allocated once the cap has room (dropping free slabs of other sizes if need be). */
  #take(index: number): Buffer | undefined {
    const reused = this.#free[index]!.pop();
    if (reused) return reused;
    const size = this.#sizes[index]!;
    if (this.#inUseBytes + size > this.capacityBytes) return undefined;
    // Free slabs of other sizes make room: drop the largest first (fewest drops).
    for (let i = this.#sizes.length - 1; i >= 0 && this.#allocatedBytes + size > this.capacityBytes; i--) {
      const free = this.#free[i]!;
      while (free.length > 0 && this.#allocatedBytes + size > this.capacityBytes) {
        free.pop();
        this.#allocatedBytes -= this.#sizes[i]!;
        this.#allocatedSlabs--;
      }
    }
    this.#allocatedBytes += size;
    this.#allocatedSlabs++;
    // allocUnsafeSlow: a slab of its own, never a view into Node's shared 8 KiB pool.
    return Buffer.allocUnsafeSlow(size);
  }

  #lease(share: PoolShare, client: ClientShare, buffer: Buffer): Lease {
    const size = buffer.length;
    this.#inUse++;
    this.#inUseBytes += size;
    share.bytes += size;
    client.bytes += size;
    if (this.#inUse > this.#highWater) this.#highWater = this.#inUse;
    if (this.#inUseBytes > this.#highWaterBytes) this.#highWaterBytes = this.#inUseBytes;
    return new Lease(this, share, buffer);
  }
}

function hasWaiters(client: ClientShare): boolean {
  return client.waiters.length > 0 || client.probeWaiters.length > 0;
}
