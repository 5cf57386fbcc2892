// Composition root: builds storage, pool, metrics, the Koa app and the listeners from one
// frozen Config, and takes them down in reverse order.

import http2 from 'node:http2';
import type { Http2SecureServer, Http2Server, ServerHttp2Stream } from 'node:http2';
import { ConnectionRegistry, streamRecordOf } from './connection/connection-registry.ts';
import type { SessionHooks } from './connection/connection-registry.ts';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { createApp } from './app.ts';
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
import { mediaStreamDispatch } from './http2/media-stream.ts';
import { ConnectionActivity } from './lifecycle/connection-activity.ts';
import { ConnectionTimeouts } from './lifecycle/timeouts.ts';
import { Drain } from './lifecycle/drain.ts';
import type { DrainReport } from './lifecycle/drain.ts';
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
  readonly poisonOnRelease?: boolean;
  readonly disableSessionGuard?: boolean;
  readonly logDestination?: NodeJS.WritableStream;
  /** Wraps the storage (a slow open() is a slow handler: test/support/slow-storage.ts). */
  readonly decorateStorage?: (storage: Storage) => Storage;
  /** Negative control: abandoned stalled streams release their slabs on Node's early callbacks. */
  readonly releaseAbandonedEarly?: boolean;
  /** Negative control: Node's own session.destroy() on a body longer than its Content-Length. */
  readonly disableBodyOverflowGuard?: boolean;
  /** Negative control: Node answers Expect: 100-continue itself, before the upload route has checked anything. */
  readonly nodeAnswersContinue?: boolean;
  /** Negative control: a pool with another sharing policy (test/support/global-fifo-pool.ts). */
  readonly createPool?: (options: BufferPoolOptions) => BufferPool;
}

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
  /** HTTP/2 media streams bypass Koa on every listener (http2/media-stream.ts). */
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

export async function startServer(config: Config, overrides: TestOverrides = {}): Promise<RunningServer> {
  const log = createLogger(config.logLevel, overrides.logDestination);
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
    poisonOnRelease: overrides.poisonOnRelease ?? false,
  };
  const pool = overrides.createPool?.(poolOptions) ?? new BufferPool(poolOptions);
  const metrics = createMetrics(pool, storage);
  const activity = new ConnectionActivity();
  const timeouts = new ConnectionTimeouts(config, {
    activity,
    registry: metrics.registry,
    log,
    isQuarantineOff: overrides.releaseAbandonedEarly,
    isPoolUnderPressure: () => pool.stats().waiting > 0,
    onWindowHoarding: (session) => floodDefence.penalise(session, 'window-hoarding'),
  });
  const drain = new Drain(activity, log);
  const shared = new SharedState({ config, storage, metrics, pool, log, isDraining: () => drain.isShuttingDown });
  await shared.start();
  const appDeps = {
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
    isDraining: () => drain.isShuttingDown,
    stalledWrites: timeouts.stalledWrites,
    shared,
    quota: shared.quota,
    onMediaChanged: (relPath: string) => shared.catalog.noteChanged(relPath),
    demoAssets: await loadDemoAssets(log),
  };
  const app = createApp(appDeps);

  const sessionOptions = {
    settings: { maxConcurrentStreams: config.maxConcurrentStreams, maxHeaderListSize: config.maxHeaderListBytes },
    // Node reads maxSessionMemory in units of 10^6 bytes (docs/http2-lifecycle.md): MiB converted.
    maxSessionMemory: Math.ceil((config.sessionMemoryMiB * 2 ** 20) / 1e6),
    streamResetBurst: config.streamResetBurst,
    streamResetRate: config.streamResetRatePerSec,
    ...HTTP2_FLOOD_LIMITS,
  };
  // Per-client connection limits and flood guards (Rapid Reset, MadeYouReset, nghttp2's own).
  const floodDefence = createFloodDefence({
    earlyResetBurst: config.earlyResetBurst,
    earlyResetRatePerSec: config.earlyResetRatePerSec,
    maxConnectionsPerClient: config.maxConnectionsPerClient,
    clientPenaltyMs: config.clientPenaltyMs,
    metrics,
    log,
  });
  const sessionCount: SessionHooks = {
    sessionClosed: () => metrics.sessions.dec(),
    // A session error (peer vanished, protocol error) ends that connection only.
    sessionError: (err) => log.debug({ err: err.message }, 'http2 session error'),
  };
  // Every HTTP/2 session and stream listener of ours, in one place; the hooks run in this order
  // for each stream (after the stream's response sink when it closes). Activity first, so a
  // rotation decided when a stream opens already counts that stream as open.
  const registry = new ConnectionRegistry([
    (record) => activity.sessionHooks(record),
    (record) => (overrides.disableBodyOverflowGuard ? undefined : keepSessionOnBodyOverflow(record.session)),
    (record) =>
      overrides.disableSessionGuard
        ? undefined
        : new SessionGuard(record, {
            leakRotateBytes: config.sessionLeakRotateBytes,
            resetBurst: config.streamResetBurst,
            resetRatePerSec: config.streamResetRatePerSec,
            lifetime: { maxAgeMs: config.sessionMaxAgeMs, maxStreams: config.sessionMaxStreams },
            onRotate: (s, reason) => {
              if (!drain.closeSession(s)) return; // already closing (a drain, the client's GOAWAY)
              metrics.sessionRotations.inc({ reason });
              log.info({ reason }, 'rotating http2 connection gracefully (GOAWAY NO_ERROR)');
            },
          }),
    (record) => floodDefence.sessionHooks(record),
    () => {
      metrics.sessions.inc();
      return sessionCount;
    },
  ]);
  const dispatchMedia = mediaStreamDispatch(appDeps);
  let isFastPathEverywhere = true;
  /** Sessions and streams to the registry, media streams to the fast path. */
  const followSessions = (server: Http2SecureServer | Http2Server): void => {
    if (registry.track(server, dispatchMedia)) return;
    isFastPathEverywhere = false;
    log.warn('HTTP/2 media fast path not installed: media goes through Koa');
  };

  // PROXY_PROTOCOL: a gate listens in front of each server and hands it connections once their
  // header is read (net/proxy-listener.ts); the drain closes the gate.
  const proxyGate = config.proxyProtocol ? new ProxyProtocolGate({ headerTimeoutMs: config.headerTimeoutMs, registry: metrics.registry, log }) : undefined;
  const listenerFor = (server: Http2SecureServer | Http2Server): NetServer => proxyGate?.wrap(server) ?? server;

  const tls = await loadTlsMaterial({ certPath: config.tlsCertPath, keyPath: config.tlsKeyPath, dataDir: config.dataDir }, log);
  const secure = http2.createSecureServer({ ...sessionOptions, allowHTTP1: true, key: tls.key, cert: tls.cert, handshakeTimeout: config.headerTimeoutMs }, app.callback());
  const secureListener = listenerFor(secure);
  if (!overrides.nodeAnswersContinue) deferContinue(secure);
  activity.track(secure, true);
  timeouts.track(secure, true);
  drain.track(secure, secureListener);
  floodDefence.watch(secure);
  followSessions(secure);
  const port = await listen(secureListener, config.port, config.host);
  let h2cPort: number | undefined;
  if (config.h2cPort !== undefined) {
    const h2c = http2.createServer(sessionOptions, app.callback());
    const h2cListener = listenerFor(h2c);
    if (!overrides.nodeAnswersContinue) deferContinue(h2c);
    activity.track(h2c, false);
    timeouts.track(h2c, false);
    drain.track(h2c, h2cListener);
    floodDefence.watch(h2c);
    followSessions(h2c);
    h2cPort = await listen(h2cListener, config.h2cPort, config.host);
  }
  log.info({ url: `https://${hostForUrl(config.host)}:${port}/`, h2cPort, mediaRoot: config.mediaRoot, proxyProtocol: config.proxyProtocol }, 'listening');

  return {
    config,
    port,
    h2cPort,
    pool,
    storage,
    metrics,
    log,
    shared,
    tlsCert: tls.cert,
    isMediaFastPath: isFastPathEverywhere,
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
