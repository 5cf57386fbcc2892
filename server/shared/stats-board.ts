// Where instances put their live figures and GET /api/stats reads everyone's. In memory: this
// instance only. In Redis: each instance writes its figures every second under a heartbeat key
// that lives STATS_TTL_MS, and lists itself in a sorted set by time; a reader takes the
// members seen within the TTL, so a dead instance drops out once its key expires. The
// heartbeat key is also how the Redis quota knows an instance is alive.

import { percentilesOf, TTFB_BOUNDS_MS } from './instance-stats.ts';
import type { InstanceStats, Percentiles } from './instance-stats.ts';
import type { RedisLink } from './redis-link.ts';

/** Figures that add up across instances. */
type Summed = Pick<
  InstanceStats,
  | 'activeStreams'
  | 'sessions'
  | 'slabsInUse'
  | 'slabsHighWater'
  | 'bytesPerSec'
  | 'requestsPerSec'
  | 'resetsPerSec'
  | 'bytesSent'
  | 'requests'
  | 'resetsReceived'
  | 'refusedStreams'
>;

/** Every instance's figures summed (slabsHighWater: the sum of each one's mark), TTFB merged. */
export interface ClusterStats extends Summed {
  readonly instances: number;
  readonly ttfbMs: Percentiles | null;
}

export interface Board {
  readonly instances: readonly InstanceStats[];
  /** False when the figures could not be shared (Redis down): only this instance's are here. */
  readonly isShared: boolean;
}

export interface StatsBoard {
  publish(stats: InstanceStats): Promise<void>;
  read(): Promise<Board>;
}

export class MemoryStatsBoard implements StatsBoard {
  #own: InstanceStats | undefined;

  async publish(stats: InstanceStats): Promise<void> {
    this.#own = stats;
  }

  async read(): Promise<Board> {
    return { instances: this.#own ? [this.#own] : [], isShared: true };
  }
}

export class RedisStatsBoard implements StatsBoard {
  readonly #link: RedisLink;
  readonly #ttlMs: number;
  #own: InstanceStats | undefined;

  constructor(link: RedisLink, ttlMs: number) {
    this.#link = link;
    this.#ttlMs = ttlMs;
  }

  /** Key prefix of the heartbeat keys (the quota script checks them). */
  get heartbeatPrefix(): string {
    return this.#link.key('instance:');
  }

  async publish(stats: InstanceStats): Promise<void> {
    this.#own = stats;
    if (!this.#link.isReady) return;
    const nowMs = Date.now();
    await this.#link.commands
      .multi()
      .set(`${this.heartbeatPrefix}${stats.id}`, JSON.stringify(stats), 'PX', this.#ttlMs)
      .zadd(this.#link.key('instances'), nowMs, stats.id)
      .zremrangebyscore(this.#link.key('instances'), '-inf', nowMs - this.#ttlMs)
      .exec();
  }

  /** A clean stop: drop out of everyone's stats at once rather than after the TTL. */
  async withdraw(id: string): Promise<void> {
    if (!this.#link.isReady) return;
    await this.#link.commands
      .multi()
      .del(`${this.heartbeatPrefix}${id}`)
      .zrem(this.#link.key('instances'), id)
      .exec();
  }

  async read(): Promise<Board> {
    const own = this.#own ? [this.#own] : [];
    if (!this.#link.isReady) return { instances: own, isShared: false };
    try {
      const redis = this.#link.commands;
      const ids = await redis.zrangebyscore(this.#link.key('instances'), Date.now() - this.#ttlMs, '+inf');
      if (ids.length === 0) return { instances: own, isShared: true };
      const texts = await redis.mget(ids.map((id) => `${this.heartbeatPrefix}${id}`));
      const instances: InstanceStats[] = [];
      for (const text of texts) if (text) instances.push(JSON.parse(text) as InstanceStats);
      instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { instances, isShared: true };
    } catch (err) {
      this.#link.noteFailure(err);
      return { instances: own, isShared: false };
    }
  }
}

export function clusterTotals(instances: readonly InstanceStats[]): ClusterStats {
  const total = (pick: (s: InstanceStats) => number): number => instances.reduce((acc, s) => acc + pick(s), 0);
  const ttfbCounts = TTFB_BOUNDS_MS.map((_, i) => total((s) => s.ttfbCounts[i] ?? 0));
  return {
    instances: instances.length,
    activeStreams: total((s) => s.activeStreams),
    sessions: total((s) => s.sessions),
    slabsInUse: total((s) => s.slabsInUse),
    slabsHighWater: total((s) => s.slabsHighWater),
    bytesPerSec: total((s) => s.bytesPerSec),
    requestsPerSec: Math.round(total((s) => s.requestsPerSec) * 10) / 10,
    resetsPerSec: Math.round(total((s) => s.resetsPerSec) * 10) / 10,
    bytesSent: total((s) => s.bytesSent),
    requests: total((s) => s.requests),
    resetsReceived: total((s) => s.resetsReceived),
    refusedStreams: total((s) => s.refusedStreams),
    ttfbMs: percentilesOf(ttfbCounts),
  };
}
