// Composition root: builds storage, pool, metrics, the Koa app and the listeners from one
// frozen Config, and takes them down in reverse order.

import http2 from 'node:http2';
import type { Http2SecureServer, Http2Server, ServerHttp2Stream } from 'node:http2';
import { ConnectionRegistry, streamRecordOf } from './connection/connection-registry.ts';
import type { SessionHooks, SessionRecord, StreamDispatch } from './connection/connection-registry.ts';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { createApp } from './app.ts';
import type { AppDeps } from './app.ts';
import type Koa from 'koa';
import type { Config } from './config.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import type { ServerMetrics } from './metrics.ts';
import { BufferPool } from './streaming/buffer-pool.ts';
import type { BufferPoolOptions } from './streaming/buffer-pool.ts';
import type { SinkDecorator } from './streaming/response-sink.ts';
import { RELEASE_ON_FLUSH } from './streaming/send-body.ts';
import type { ReleasePolicy } from './streaming/send-body.ts';
import { SessionGuard } from './http2/session-guard.ts';
import { keepSessionOnBodyOverflow } from './http2/body-overflow.ts';
import { createFloodDefence, HTTP2_FLOOD_LIMITS } from './http2/flood-guard.ts';
import { mediaStreamDispatch } from './routes/media-stream.ts';
import { ConnectionTimeouts } from './lifecycle/timeouts.ts';
import { Drain } from './lifecycle/drain.ts';
import type { DrainReport } from './lifecycle/drain.ts';
import type { AbandonedChunks } from './lifecycle/stalled-writes.ts';
import { loadTlsMaterial } from './tls/certificates.ts';
import { loadDemoAssets } from './demo-assets.ts';
import { ProxyProtocolGate } from './net/proxy-listener.ts';
import { SharedState } from './shared/shared-state.ts';
import { deferContinue } from './http/expect-continue.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { STALE_UPLOAD_TEMP_MS } from '../storage/upload-temp-sweep.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * Knobs that only tests set; nothing in Config can select them. Wrong strategies for negative
 * controls live in test/support/ (wrong-policies.ts) and are injected here.
 */
export interface TestOverrides {
  /** When slabs return to the pool (the server's own: RELEASE_ON_FLUSH). */
  readonly releasePolicy?: ReleasePolicy;
  /** Wraps every media response's sink (a sink that cancels after some bytes, say). */
  readonly decorateSink?: SinkDecorator;
  readonly logDestination?: NodeJS.WritableStream;
  /** Wraps the storage (a slow open() is a slow handler: test/support/slow-storage.ts). */
  readonly decorateStorage?: (storage: Storage) => Storage;
  /** Where abandoned stalled streams' chunks wait (the server's own: StalledWrites.hold). */
  readonly quarantine?: AbandonedChunks;
  /**
   * Guards left out, for negative controls: 'session-guard' (no rotation before Node's limits),
   * 'body-overflow' (Node's own session.destroy() on a body longer than its Content-Length),
   * 'deferred-continue' (Node answers Expect: 100-continue before the upload route checked it).
   */
  readonly omitGuards?: readonly OptionalGuard[];
  /** Negative control: a pool with another sharing policy (test/support/global-fifo-pool.ts). */
  readonly createPool?: (options: BufferPoolOptions) => BufferPool;
}

export type OptionalGuard = 'session-guard' | 'body-overflow' | 'deferred-continue';

export interface RunningServer {
  readonly config: Config;
  readonly port: number;
  readonly h2cPort: number | undefined;
  readonly pool: BufferPool;
  readonly storage: Storage;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  /** Catalog, live stats and per-client limits: in Redis with REDIS_URL, else in memory. */
  readonly shared: SharedState;
  readonly tlsCert: string;
  /** HTTP/2 media streams bypass Koa on every listener (routes/media-stream.ts). */
  readonly isMediaFastPath: boolean;
  /** True from the start of a drain (its announce period included): /healthz answers 503. */
  readonly isDraining: boolean;
  /**
   * Graceful shutdown (lifecycle/drain.ts): /healthz 503 for DRAIN_ANNOUNCE_MS while still
   * serving, then stop accepting, two-step GOAWAY, Connection: close;
   * at `deadlineMs` (default DRAIN_TIMEOUT_MS) cancel what is left. Resolves when every
   * connection has closed; called again, it returns the same drain. `context` goes into the
   * drain's first log line (main.ts: the signal).
   */
  drain(deadlineMs?: number, context?: Record<string, unknown>): Promise<DrainReport>;
  /** drain(deadlineMs), then the pool and storage are closed. */
  close(deadlineMs?: number): Promise<void>;
}

/** The server, in the order it is built: data path, guards, shared state, application, listeners. */
export async function startServer(config: Config, overrides: TestOverrides = {}): Promise<RunningServer> {
  const log = createLogger(config.logLevel, overrides.logDestination);
  const { storage, pool, metrics } = await openDataPath(config, overrides, log);
  const guards = createGuards(config, overrides, { log, pool, metrics });
  const shared = new SharedState({ config, storage, metrics, pool, log, isDraining: () => guards.drain.isShuttingDown });
  await shared.start();
  const appDeps = await applicationDeps(config, overrides, { log, storage, pool, metrics, shared, guards });
  const listening = await listenAll(config, overrides, { log, metrics, guards, app: createApp(appDeps), dispatchMedia: mediaStreamDispatch(appDeps) });
  log.info({ url: `https://${hostForUrl(config.host)}:${listening.port}/`, h2cPort: listening.h2cPort, mediaRoot: config.mediaRoot, proxyProtocol: config.proxyProtocol }, 'listening');
  const drain = guards.drain;
  return {
    config,
    port: listening.port,
    h2cPort: listening.h2cPort,
    pool,
    storage,
    metrics,
    log,
    shared,
    tlsCert: listening.tlsCert,
    isMediaFastPath: listening.isMediaFastPath,
    get isDraining() {
      return drain.isShuttingDown;
    },
    drain: (deadlineMs = config.drainTimeoutMs, context = {}) => drain.start(deadlineMs, context, config.drainAnnounceMs),
    async close(deadlineMs = config.drainTimeoutMs) {
      await drain.start(deadlineMs, {}, config.drainAnnounceMs);
      await shared.close();
      pool.close();
      await storage.close();
    },
  };
}

interface DataPath {
  readonly storage: Storage;
  readonly pool: BufferPool;
  readonly metrics: ServerMetrics;
}

/** Storage (file reads) and the slab pool the responses lease from, and the metrics over both. */
async function openDataPath(config: Config, overrides: TestOverrides, log: Logger): Promise<DataPath> {
  const fsStorage = await FsStorage.create(config.mediaRoot, {
    cacheValidMs: config.fileCacheValidMs,
    cacheMaxFiles: config.fileCacheMaxFiles,
    readMode: config.readMode,
    onStaleUploadTemps: (removed) => log.warn({ removed, untouchedForMs: STALE_UPLOAD_TEMP_MS }, 'removed temporary upload files a crash left behind'),
  });
  const storage = overrides.decorateStorage?.(fsStorage) ?? fsStorage;
  const poolOptions: BufferPoolOptions = {
    slabBytes: config.chunkBytes,
    maxBytes: config.poolMaxBytes,
    connectionMaxBytes: config.poolConnectionMaxBytes,
    clientMaxBytes: config.poolClientMaxBytes,
  };
  const pool = overrides.createPool?.(poolOptions) ?? new BufferPool(poolOptions);
  return { storage, pool, metrics: createMetrics(pool, storage) };
}

interface Guards {
  readonly registry: ConnectionRegistry;
  readonly timeouts: ConnectionTimeouts;
  readonly drain: Drain;
}

/**
 * The connection registry and the guards whose hooks it calls. Every connection, session and
 * stream listener of ours is attached by the registry; the hooks run in the order listed here
 * (a stream's after its response sink when it closes).
 */
function createGuards(config: Config, overrides: TestOverrides, deps: { log: Logger; pool: BufferPool; metrics: ServerMetrics }): Guards {
  const { log, pool, metrics } = deps;
  const isOmitted = (guard: OptionalGuard): boolean => overrides.omitGuards?.includes(guard) ?? false;
  // Per-client connection limits and flood guards (Rapid Reset, MadeYouReset, nghttp2's own).
  const floodDefence = createFloodDefence({
    earlyResetBurst: config.earlyResetBurst,
    earlyResetRatePerSec: config.earlyResetRatePerSec,
    maxConnectionsPerClient: config.maxConnectionsPerClient,
    clientPenaltyMs: config.clientPenaltyMs,
    metrics,
    log,
  });
  const timeouts = new ConnectionTimeouts(config, {
    registry: metrics.registry,
    log,
    isPoolUnderPressure: () => pool.stats().waiting > 0,
    onWindowHoarding: (session) => floodDefence.penalise(session, 'window-hoarding'),
  });
  const drain: Drain = new Drain(() => registry.connections(), log);
  const sessionGuard = (record: SessionRecord): SessionGuard =>
    new SessionGuard(record, {
      leakRotateBytes: config.sessionLeakRotateBytes,
      resetBurst: config.streamResetBurst,
      resetRatePerSec: config.streamResetRatePerSec,
      lifetime: { maxAgeMs: config.sessionMaxAgeMs, maxStreams: config.sessionMaxStreams },
      onRotate: (session, reason) => {
        if (!drain.closeSession(session)) return; // already closing (a drain, the client's GOAWAY)
        metrics.sessionRotations.inc({ reason });
        log.info({ reason }, 'rotating http2 connection gracefully (GOAWAY NO_ERROR)');
      },
    });
  const sessionCount: SessionHooks = {
    sessionClosed: () => metrics.sessions.dec(),
    // A session error (peer vanished, protocol error) ends that connection only.
    sessionError: (err) => log.debug({ err: err.message }, 'http2 session error'),
  };
  const registry: ConnectionRegistry = new ConnectionRegistry({
    connection: [
      (record) => floodDefence.admit(record), // first: a refused connection costs nothing more
      (record) => timeouts.connectionHooks(record),
      (record) => drain.connectionHooks(record),
    ],
    session: [
      (record) => (isOmitted('body-overflow') ? undefined : keepSessionOnBodyOverflow(record.session)),
      (record) => (isOmitted('session-guard') ? undefined : sessionGuard(record)),
      (record) => floodDefence.sessionHooks(record),
      () => {
        metrics.sessions.inc();
        return sessionCount;
      },
    ],
  });
  return { registry, timeouts, drain };
}

/** What the routes need: the data path, the guards they report to, the shared state. */
async function applicationDeps(
  config: Config,
  overrides: TestOverrides,
  deps: DataPath & { log: Logger; shared: SharedState; guards: Guards },
): Promise<AppDeps> {
  const { log, storage, pool, metrics, shared, guards } = deps;
  const stalledWrites = guards.timeouts.stalledWrites;
  return {
    log,
    storage,
    pool,
    metrics,
    limits: {
      chunkBytes: config.chunkBytes,
      inflightBytes: config.streamInflightBytes,
      releasePolicy: overrides.releasePolicy ?? RELEASE_ON_FLUSH,
    },
    decorateSink: overrides.decorateSink,
    maxRangeParts: config.rangeMaxParts,
    cacheControl: config.cacheControl,
    guardOf: (stream: ServerHttp2Stream) => streamRecordOf(stream)?.session.hookOf(SessionGuard),
    uploads: { token: config.uploadToken, maxBytes: config.uploadMaxBytes },
    isDraining: () => guards.drain.isShuttingDown,
    stalledWrites,
    quarantine: overrides.quarantine ?? ((session, bytes, release) => stalledWrites.hold(session, bytes, release)),
    shared,
    quota: shared.quota,
    onMediaChanged: (relPath: string) => shared.catalog.noteChanged(relPath),
    demoAssets: await loadDemoAssets(log),
  };
}

interface Listening {
  readonly port: number;
  readonly h2cPort: number | undefined;
  readonly tlsCert: string;
  readonly isMediaFastPath: boolean;
}

/** The TLS listener (HTTP/2 and HTTP/1.1) and the optional h2c one, each followed by the registry. */
async function listenAll(
  config: Config,
  overrides: TestOverrides,
  deps: { log: Logger; metrics: ServerMetrics; guards: Guards; app: Koa; dispatchMedia: StreamDispatch },
): Promise<Listening> {
  const { log, guards } = deps;
  const sessionOptions = {
    settings: { maxConcurrentStreams: config.maxConcurrentStreams, maxHeaderListSize: config.maxHeaderListBytes },
    // Node reads maxSessionMemory in units of 10^6 bytes (docs/http2-lifecycle.md): MiB converted.
    maxSessionMemory: Math.ceil((config.sessionMemoryMiB * 2 ** 20) / 1e6),
    streamResetBurst: config.streamResetBurst,
    streamResetRate: config.streamResetRatePerSec,
    ...HTTP2_FLOOD_LIMITS,
  };
  // PROXY_PROTOCOL: a gate listens in front of each server and hands it connections once their
  // header is read (net/proxy-listener.ts); the drain closes the gate.
  const proxyGate = config.proxyProtocol ? new ProxyProtocolGate({ headerTimeoutMs: config.headerTimeoutMs, registry: deps.metrics.registry, log }) : undefined;
  let isMediaFastPath = true;
  /** One listener: Node's own timers off, the drain told of it, its connections to the registry. */
  const follow = (server: Http2SecureServer | Http2Server, isSecure: boolean): NetServer => {
    const listener = proxyGate?.wrap(server) ?? server;
    if (!overrides.omitGuards?.includes('deferred-continue')) deferContinue(server);
    guards.timeouts.configure(server, isSecure);
    guards.drain.track(server, listener);
    if (!guards.registry.track(server, deps.dispatchMedia)) {
      isMediaFastPath = false;
      log.warn('HTTP/2 media fast path not installed: media goes through Koa');
    }
    return listener;
  };
  const tls = await loadTlsMaterial({ certPath: config.tlsCertPath, keyPath: config.tlsKeyPath, dataDir: config.dataDir }, log);
  const secure = http2.createSecureServer({ ...sessionOptions, allowHTTP1: true, key: tls.key, cert: tls.cert, handshakeTimeout: config.headerTimeoutMs }, deps.app.callback());
  const port = await listen(follow(secure, true), config.port, config.host);
  let h2cPort: number | undefined;
  if (config.h2cPort !== undefined) {
    const h2c = http2.createServer(sessionOptions, deps.app.callback());
    h2cPort = await listen(follow(h2c, false), config.h2cPort, config.host);
  }
  return { port, h2cPort, tlsCert: tls.cert, isMediaFastPath };
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
