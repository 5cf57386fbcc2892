// What instances share, built from the Config: with REDIS_URL, the catalog, live stats and
// per-client limits live in Redis; without it, the same interfaces in memory, so a single
// instance needs nothing else. Redis down never stops media: the catalog reads the folder,
// limits hold per instance, and /api/stats and /healthz say "degraded".

import crypto from 'node:crypto';
import os from 'node:os';
import { Catalog, MemoryRecordStore } from './catalog.ts';
import { MemoryQuota, hasQuota } from './client-quota.ts';
import type { ClientQuota } from './client-quota.ts';
import { InstanceSampler } from './instance-stats.ts';
import type { InstanceStats } from './instance-stats.ts';
import { RedisLink } from './redis-link.ts';
import type { LinkState } from './redis-link.ts';
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

export class SharedState {
  readonly instanceId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  readonly kind: SharedKind;
  readonly catalog: Catalog;
  /** undefined when no per-client limit is configured: the media path then skips admission. */
  readonly quota: ClientQuota | undefined;
  readonly #link: RedisLink | undefined;
  readonly #board: StatsBoard;
  readonly #sampler: InstanceSampler;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #publishing: Promise<void> | undefined;

  constructor(deps: SharedStateDeps) {
    const { config, log } = deps;
    this.#log = log;
    this.#sampler = new InstanceSampler({ id: this.instanceId, metrics: deps.metrics, pool: deps.pool, isDraining: deps.isDraining });
    const limits = { maxStreamsPerClient: config.clientMaxStreams, maxRequestsPerSec: config.clientMaxRequestsPerSec };
    if (config.redisUrl === undefined) {
      this.kind = 'memory';
      this.#board = new MemoryStatsBoard();
      this.catalog = new Catalog({ storage: deps.storage, store: new MemoryRecordStore(), rescanMs: config.catalogRescanMs, isProbing: config.mediaProbe, log });
      this.quota = hasQuota(limits) ? new MemoryQuota(limits) : undefined;
      return;
    }
    this.kind = 'redis';
    const link = new RedisLink({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.redisTimeoutMs, log });
    this.#link = link;
    const board = new RedisStatsBoard(link, config.statsTtlMs);
    this.#board = board;
    this.catalog = new Catalog({
      storage: deps.storage,
      store: new RedisRecordStore(link, this.instanceId),
      rescanMs: config.catalogRescanMs,
      isProbing: config.mediaProbe,
      log,
    });
    this.quota = hasQuota(limits) ? new RedisQuota({ link, instanceId: this.instanceId, heartbeatPrefix: board.heartbeatPrefix, limits, log }) : undefined;
    // Back from an outage: publish at once (the heartbeat key) and re-index what changed meanwhile.
    link.onStateChange((state) => {
      if (state !== 'ready') return;
      void this.#publish();
      void this.catalog.rescan();
    });
  }

  async start(): Promise<void> {
    if (this.#link && !(await this.#link.waitUntilReady(CONNECT_WAIT_MS))) {
      this.#log.warn('redis not reachable at start: starting degraded, retrying in the background');
    }
    await this.#publish();
    await this.catalog.start();
    this.#timer = setInterval(() => void this.#publish(), PUBLISH_INTERVAL_MS).unref();
  }

  health(): SharedHealth {
    if (!this.#link) return { kind: this.kind, status: 'ok' };
    return { kind: this.kind, status: this.#link.isReady ? 'ok' : 'degraded', redis: this.#link.state };
  }

  async stats(): Promise<StatsAnswer> {
    const board = await this.#board.read();
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
    await this.catalog.stop();
    await this.#publishing;
    if (this.#board instanceof RedisStatsBoard) await this.#board.withdraw(this.instanceId).catch(() => {});
    await this.#link?.close();
  }

  /** Samples and publishes this instance's figures; one publish at a time. */
  #publish(): Promise<void> {
    this.#publishing ??= (async () => {
      try {
        await this.#board.publish(await this.#sampler.sample());
        if (this.quota instanceof RedisQuota) await this.quota.reassert();
      } catch (err) {
        this.#link?.noteFailure(err);
        this.#log.debug({ err: (err as Error).message }, 'stats not published');
      }
    })().finally(() => {
      this.#publishing = undefined;
    });
    return this.#publishing;
  }
}
