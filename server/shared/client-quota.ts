// Per-client admission for media requests: at most `maxStreamsPerClient` responses in progress
// and `maxRequestsPerSec` new requests per second (a token bucket of one second's worth) per
// client address. The in-memory quota holds within one process; shared/redis-quota.ts holds
// the same limits across every instance on one Redis and falls back to this one when Redis
// cannot answer in time.

export type RefusalReason = 'streams' | 'rate';

export interface Admitted {
  readonly ok: true;
  /** Call exactly once, when the response is over; later calls do nothing. */
  release(): void;
}

export type Admission = Admitted | { readonly ok: false; readonly reason: RefusalReason; readonly retryAfterSec: number };

export interface ClientQuota {
  /** Admits one request of `client`; an admitted request must call release() exactly once. */
  admit(client: string | undefined): Admission | Promise<Admission>;
}

export interface QuotaLimits {
  /** Responses in progress per client; 0: no limit. */
  readonly maxStreamsPerClient: number;
  /** New requests per second per client (burst: one second's worth); 0: no limit. */
  readonly maxRequestsPerSec: number;
}

export function hasQuota(limits: QuotaLimits): boolean {
  return limits.maxStreamsPerClient > 0 || limits.maxRequestsPerSec > 0;
}

/** Token bucket arithmetic shared by the in-memory quota and the Redis script's mirror of it. */
interface Bucket {
  tokens: number;
  atMs: number;
}

interface ClientEntry {
  streams: number;
  bucket: Bucket | undefined;
}

/** How long an idle client's entry is kept: long enough for its bucket to have refilled. */
const IDLE_ENTRY_MS = 2_000;

/** Within one process: a map of clients, each entry dropped once it holds nothing. */
export class MemoryQuota implements ClientQuota {
  readonly #limits: QuotaLimits;
  readonly #now: () => number;
  readonly #clients = new Map<string, ClientEntry>();
  #sweepAtMs = 0;

  constructor(limits: QuotaLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  admit(client: string | undefined): Admission {
    // Without an address (the socket is already gone) there is nobody to count against.
    if (client === undefined) return { ok: true, release: noop };
    const now = this.#now();
    this.#sweep(now);
    let entry = this.#clients.get(client);
    if (!entry) {
      entry = { streams: 0, bucket: undefined };
      this.#clients.set(client, entry);
    }
    const { maxStreamsPerClient, maxRequestsPerSec } = this.#limits;
    if (maxStreamsPerClient > 0 && entry.streams >= maxStreamsPerClient) return { ok: false, reason: 'streams', retryAfterSec: 1 };
    if (maxRequestsPerSec > 0) {
      const bucket = refill(entry.bucket, maxRequestsPerSec, now);
      entry.bucket = bucket;
      if (bucket.tokens < 1) return { ok: false, reason: 'rate', retryAfterSec: retryAfterSec(bucket, maxRequestsPerSec) };
      bucket.tokens -= 1;
    }
    entry.streams++;
    let isReleased = false;
    const held = entry;
    return {
      ok: true,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        held.streams--;
      },
    };
  }

  /** Streams this process holds per client (the entries a sweep keeps). */
  streamsByClient(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [client, entry] of this.#clients) if (entry.streams > 0) out.set(client, entry.streams);
    return out;
  }

  #sweep(now: number): void {
    if (now < this.#sweepAtMs) return;
    this.#sweepAtMs = now + IDLE_ENTRY_MS;
    for (const [client, entry] of this.#clients) {
      const isIdle = entry.streams === 0 && (!entry.bucket || now - entry.bucket.atMs >= IDLE_ENTRY_MS);
      if (isIdle) this.#clients.delete(client);
    }
  }
}

/** A bucket of `ratePerSec` tokens (one second's burst), refilled continuously. */
export function refill(bucket: Bucket | undefined, ratePerSec: number, nowMs: number): Bucket {
  if (!bucket) return { tokens: ratePerSec, atMs: nowMs };
  const elapsedMs = Math.max(0, nowMs - bucket.atMs);
  return { tokens: Math.min(ratePerSec, bucket.tokens + (elapsedMs * ratePerSec) / 1000), atMs: nowMs };
}

/** Whole seconds until one token is back (Retry-After is in seconds, RFC 9110 10.2.3). */
export function retryAfterSec(bucket: Bucket, ratePerSec: number): number {
  return Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSec));
}

function noop(): void {}
