// Per-client limits across every instance on one Redis. One script call per request admits
// it or says why not, atomically: the streams a client holds are a hash of per-instance counts
// (the counts of instances whose heartbeat key expired are dropped, so a crashed instance does
// not hold its clients' streams forever), and its request rate is a token bucket on Redis's
// own clock. When Redis cannot answer, the request is judged by this instance alone (the same
// limits per instance) and never waits: the link fails commands at once or after its timeout.
//
// This instance remembers how many streams it holds per client. A release Redis did not take
// (it was down) marks the client, and its count is written again once Redis is back.

import type { Redis } from 'ioredis';
import { MemoryQuota } from './client-quota.ts';
import type { Admission, Admitted, ClientQuota, QuotaLimits } from './client-quota.ts';
import type { RedisLink } from './redis-link.ts';
import type { Logger } from '../log.ts';

/** How long a client's stream counts outlive its last request (a stream may run for hours). */
const STREAM_COUNTS_TTL_MS = 6 * 3600 * 1000;

// KEYS: the client's stream counts, its bucket. ARGV: this instance, max streams, rate per
// second, the prefix of instances' heartbeat keys, the counts' TTL.
const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local maxStreams = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
if maxStreams > 0 then
  local fields = redis.call('HGETALL', KEYS[1])
  local total = 0
  for i = 1, #fields, 2 do
    local owner = fields[i]
    if owner == ARGV[1] or redis.call('EXISTS', ARGV[4] .. owner) == 1 then
      total = total + tonumber(fields[i + 1])
    else
      redis.call('HDEL', KEYS[1], owner)
    end
  end
  if total >= maxStreams then return {0, 'streams', 1} end
end
if rate > 0 then
  local state = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  local tokens = tonumber(state[1]) or rate
  local at = tonumber(state[2]) or nowMs
  tokens = math.min(rate, tokens + math.max(0, nowMs - at) * rate / 1000)
  local isRefused = tokens < 1
  if not isRefused then tokens = tokens - 1 end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'at', nowMs)
  redis.call('PEXPIRE', KEYS[2], 2000)
  if isRefused then return {0, 'rate', math.max(1, math.ceil((1 - tokens) / rate))} end
end
if maxStreams > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {1}
`;

// KEYS: the client's stream counts. ARGV: this instance.
const RELEASE_SCRIPT = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
`;

// KEYS: the client's stream counts. ARGV: this instance, its true count, the counts' TTL.
const ASSERT_SCRIPT = `
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
`;

type ScriptReply = [number, string?, number?];

interface QuotaCommands extends Redis {
  quotaAdmit(countsKey: string, bucketKey: string, instance: string, maxStreams: number, rate: number, heartbeatPrefix: string, ttlMs: number): Promise<ScriptReply>;
  quotaRelease(countsKey: string, instance: string): Promise<number>;
  quotaAssert(countsKey: string, instance: string, count: number, ttlMs: number): Promise<number>;
}

export interface RedisQuotaOptions {
  readonly link: RedisLink;
  readonly instanceId: string;
  /** Key prefix of instances' heartbeats (shared/stats-board.ts writes them). */
  readonly heartbeatPrefix: string;
  readonly limits: QuotaLimits;
  readonly log: Logger;
}

export class RedisQuota implements ClientQuota {
  readonly #options: RedisQuotaOptions;
  readonly #redis: QuotaCommands;
  /** The fallback while Redis cannot answer: the same limits, this instance alone. */
  readonly #local: MemoryQuota;
  /** Streams this instance holds per client, however they were admitted. */
  readonly #held = new Map<string, number>();
  /** Clients whose count in Redis may be wrong (a release or admit Redis did not take). */
  readonly #dirty = new Set<string>();

  constructor(options: RedisQuotaOptions) {
    this.#options = options;
    this.#local = new MemoryQuota(options.limits);
    const redis = options.link.commands;
    redis.defineCommand('quotaAdmit', { numberOfKeys: 2, lua: ADMIT_SCRIPT });
    redis.defineCommand('quotaRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    redis.defineCommand('quotaAssert', { numberOfKeys: 1, lua: ASSERT_SCRIPT });
    this.#redis = redis as QuotaCommands;
    options.link.onStateChange((state) => {
      if (state === 'ready') for (const client of this.#held.keys()) this.#dirty.add(client);
    });
  }

  async admit(client: string | undefined): Promise<Admission> {
    if (client === undefined) return { ok: true, release: () => {} };
    const { link, instanceId, limits } = this.#options;
    if (link.isReady) {
      try {
        const [ok, reason, retryAfterSec] = await this.#redis.quotaAdmit(
          this.#countsKey(client),
          link.key(`quota:rate:${client}`),
          instanceId,
          limits.maxStreamsPerClient,
          limits.maxRequestsPerSec,
          this.#options.heartbeatPrefix,
          STREAM_COUNTS_TTL_MS,
        );
        if (ok !== 1) return { ok: false, reason: reason === 'rate' ? 'rate' : 'streams', retryAfterSec: retryAfterSec ?? 1 };
        return this.#hold(client, true);
      } catch (err) {
        // The script may or may not have run: the count is asserted again when Redis answers.
        this.#dirty.add(client);
        link.noteFailure(err);
        this.#options.log.debug({ err: (err as Error).message }, 'redis quota unavailable: judged by this instance');
      }
    }
    const local = this.#local.admit(client);
    if (!local.ok) return local;
    const held = this.#hold(client, false);
    return {
      ok: true,
      release: () => {
        local.release();
        held.release();
      },
    };
  }

  /** Writes this instance's true counts for clients whose Redis count may be off. */
  async reassert(): Promise<void> {
    const { link, instanceId } = this.#options;
    if (!link.isReady || this.#dirty.size === 0) return;
    for (const client of [...this.#dirty]) {
      this.#dirty.delete(client);
      try {
        await this.#redis.quotaAssert(this.#countsKey(client), instanceId, this.#held.get(client) ?? 0, STREAM_COUNTS_TTL_MS);
      } catch {
        this.#dirty.add(client);
        return;
      }
    }
  }

  #hold(client: string, isInRedis: boolean): Admitted {
    this.#held.set(client, (this.#held.get(client) ?? 0) + 1);
    if (!isInRedis) this.#dirty.add(client);
    let isReleased = false;
    return {
      ok: true,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        const left = (this.#held.get(client) ?? 1) - 1;
        if (left > 0) this.#held.set(client, left);
        else this.#held.delete(client);
        if (!isInRedis || !this.#options.link.isReady) {
          this.#dirty.add(client);
          return;
        }
        this.#redis.quotaRelease(this.#countsKey(client), this.#options.instanceId).catch(() => this.#dirty.add(client));
      },
    };
  }

  #countsKey(client: string): string {
    return this.#options.link.key(`quota:streams:${client}`);
  }
}
