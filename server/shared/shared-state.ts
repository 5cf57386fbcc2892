// What instances share, built from the Config: with REDIS_URL, the catalog, live stats and
// per-client limits live in Redis; without it, the same interfaces in memory, so a single
// instance needs nothing else. Redis down never stops media: the catalog reads the folder,
// limits hold per instance, and /api/stats and /healthz say "degraded".
//
// The Redis client (ioredis, through shared/redis-link.ts) is imported only with REDIS_URL, in
// start(): loaded, it keeps about 10 MiB resident that an instance without Redis never uses.

import crypto from 'node:crypto';
import os from 'node:os';
import { Catalog, MemoryRecordStore } from './catalog.ts';
import { MemoryQuota, hasQuota } from './client-quota.ts';
import type { ClientQuota } from './client-quota.ts';
import { InstanceSampler } from './instance-stats.ts';
import type { InstanceStats } from './instance-stats.ts';
import type { LinkState, RedisLink } from './redis-link.ts';
import { RedisQuota } from './redis-quota.ts';
import { RedisRecordStore } from './redis-catalog.ts';
import { MemoryStatsBoard, RedisStatsBoard, clusterTotals } from './stats-board.ts';
import type { ClusterStats, StatsBoard } from './stats-board.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { BufferPool } from '../streaming/buffer-pool.ts';
import type { Storage } from '../../storage/storage.ts';

const PUBLISH_INTERVAL_MS = 1_000;
/** How long start() waits for Redis before the instance starts degraded (and keeps trying). */
const CONNECT_WAIT_MS = 2_000;

export type SharedKind = 'memory' | 'redis';

export interface SharedHealth {
  readonly kind: SharedKind;
  readonly status: 'ok' | 'degraded';
  readonly redis?: LinkState;
}

export interface StatsAnswer {
  readonly status: 'ok' | 'degraded';
  readonly shared: SharedKind;
  readonly instance: string;
  readonly at: string;
  readonly instances: readonly Omit<InstanceStats, 'ttfbCounts'>[];
  readonly cluster: ClusterStats;
}

export interface SharedStateDeps {
  readonly config: Config;
  readonly storage: Storage;
  readonly metrics: ServerMetrics;
  readonly pool: BufferPool;
  readonly log: Logger;
  readonly isDraining: () => boolean;
}

/** What depends on where the state lives. */
interface SharedParts {
  readonly catalog: Catalog;
  readonly quota: ClientQuota | undefined;
  readonly board: StatsBoard;
  readonly link: RedisLink | undefined;
}

export class SharedState {
  readonly instanceId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  readonly kind: SharedKind;
  readonly #deps: SharedStateDeps;
  readonly #sampler: InstanceSampler;
  readonly #log: Logger;
  /** Made in the constructor without Redis; with REDIS_URL in start(), after ioredis is loaded. */
  #parts: SharedParts | undefined;
  #timer: NodeJS.Timeout | undefined;
  #publishing: Promise<void> | undefined;

  constructor(deps: SharedStateDeps) {
    const { config, log } = deps;
    this.#deps = deps;
    this.#log = log;
    this.#sampler = new InstanceSampler({ id: this.instanceId, metrics: deps.metrics, pool: deps.pool, isDraining: deps.isDraining });
    this.kind = config.redisUrl === undefined ? 'memory' : 'redis';
    if (this.kind === 'redis') return;
    const limits = this.#limits();
    this.#parts = {
      catalog: new Catalog({ storage: deps.storage, store: new MemoryRecordStore(), rescanMs: config.catalogRescanMs, isProbing: config.mediaProbe, log }),
      quota: hasQuota(limits) ? new MemoryQuota(limits) : undefined,
      board: new MemoryStatsBoard(),
      link: undefined,
    };
  }

  /** The catalog; with REDIS_URL only from start() on. */
  get catalog(): Catalog {
    return this.#started().catalog;
  }

  /** undefined when no per-client limit is configured: the media path then skips admission. With REDIS_URL only from start() on. */
  get quota(): ClientQuota | undefined {
    return this.#started().quota;
  }

  async start(): Promise<void> {
    const parts = (this.#parts ??= await this.#redisParts());
    if (parts.link && !(await parts.link.waitUntilReady(CONNECT_WAIT_MS))) {
      this.#log.warn('redis not reachable at start: starting degraded, retrying in the background');
    }
    await this.#publish();
    await parts.catalog.start();
    this.#timer = setInterval(() => void this.#publish(), PUBLISH_INTERVAL_MS).unref();
  }

  health(): SharedHealth {
    if (this.kind === 'memory') return { kind: this.kind, status: 'ok' };
    const link = this.#parts?.link;
    return { kind: this.kind, status: link?.isReady ? 'ok' : 'degraded', redis: link?.state ?? 'connecting' };
  }

  async stats(): Promise<StatsAnswer> {
    const board = await this.#started().board.read();
    const isDegraded = !board.isShared || this.health().status === 'degraded';
    const instances = board.instances.map(({ ttfbCounts: _, ...rest }) => rest);
    return {
      status: isDegraded ? 'degraded' : 'ok',
      shared: this.kind,
      instance: this.instanceId,
      at: new Date().toISOString(),
      instances,
      cluster: clusterTotals(board.instances),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const parts = this.#parts;
    if (!parts) return;
    await parts.catalog.stop();
    await this.#publishing;
    if (parts.board instanceof RedisStatsBoard) await parts.board.withdraw(this.instanceId).catch(() => {});
    await parts.link?.close();
  }

  #limits(): { maxStreamsPerClient: number; maxRequestsPerSec: number } {
    const { config } = this.#deps;
    return { maxStreamsPerClient: config.clientMaxStreams, maxRequestsPerSec: config.clientMaxRequestsPerSec };
  }

  #started(): SharedParts {
    if (!this.#parts) throw new Error('SharedState.start() has not run: with REDIS_URL the catalog and limits are made there');
    return this.#parts;
  }

  /** The Redis link and what lives in Redis; ioredis is loaded here, never without REDIS_URL. */
  async #redisParts(): Promise<SharedParts> {
    const { config, storage, log } = this.#deps;
    const { RedisLink } = await import('./redis-link.ts');
    const link = new RedisLink({ url: config.redisUrl!, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.redisTimeoutMs, log });
    const board = new RedisStatsBoard(link, config.statsTtlMs);
    const catalog = new Catalog({
      storage,
      store: new RedisRecordStore(link, this.instanceId),
      rescanMs: config.catalogRescanMs,
      isProbing: config.mediaProbe,
      log,
    });
    const limits = this.#limits();
    const quota = hasQuota(limits) ? new RedisQuota({ link, instanceId: this.instanceId, heartbeatPrefix: board.heartbeatPrefix, limits, log }) : undefined;
    // Back from an outage: publish at once (the heartbeat key) and re-index what changed meanwhile.
    link.onStateChange((state) => {
      if (state !== 'ready') return;
      void this.#publish();
      void catalog.rescan();
    });
    return { catalog, quota, board, link };
  }

  /** Samples and publishes this instance's figures; one publish at a time. */
  #publish(): Promise<void> {
    const parts = this.#parts;
    if (!parts) return Promise.resolve();
    this.#publishing ??= (async () => {
      try {
        await parts.board.publish(await this.#sampler.sample());
        if (parts.quota instanceof RedisQuota) await parts.quota.reassert();
      } catch (err) {
        parts.link?.noteFailure(err);
        this.#log.debug({ err: (err as Error).message }, 'stats not published');
      }
    })().finally(() => {
      this.#publishing = undefined;
    });
    return this.#publishing;
  }
}
