// Composition root: builds storage, pool, metrics, the Koa app and the listeners from one
// frozen Config, and takes them down in reverse order.

import http2 from 'node:http2';
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import type { ServerMetrics } from './metrics.ts';
import { BufferPool } from './streaming/buffer-pool.ts';
import type { CancelPolicy } from './streaming/response-sink.ts';
import type { ReleasePolicy } from './streaming/send-body.ts';
import { SessionGuard } from './http2/session-guard.ts';
import { createFloodDefence, HTTP2_FLOOD_LIMITS } from './http2/flood-guard.ts';
import { installMediaFastPath } from './http2/media-stream.ts';
import { ConnectionActivity } from './lifecycle/connection-activity.ts';
import { ConnectionTimeouts } from './lifecycle/timeouts.ts';
import { Drain } from './lifecycle/drain.ts';
import type { DrainReport } from './lifecycle/drain.ts';
import { loadTlsMaterial } from './tls/certificates.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * Knobs that only tests set. The wrong policies exist so the byte verifiers can be shown to
 * catch them (negative controls); nothing in Config can select them.
 */
export interface TestOverrides {
  readonly releasePolicy?: ReleasePolicy;
  readonly cancelPolicy?: CancelPolicy;
  readonly cancelAfterBytes?: number;
  readonly poisonOnRelease?: boolean;
  readonly disableSessionGuard?: boolean;
  readonly logDestination?: NodeJS.WritableStream;
  /** Every media request waits this long before its response head (a slow handler). */
  readonly handlerDelayMs?: number;
  /** Negative control: abandoned stalled streams release their slabs on Node's early callbacks. */
  readonly releaseAbandonedEarly?: boolean;
}

export interface RunningServer {
  readonly config: Config;
  readonly port: number;
  readonly h2cPort: number | undefined;
  readonly pool: BufferPool;
  readonly storage: Storage;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  readonly tlsCert: string;
  /** HTTP/2 media streams bypass Koa on every listener (http2/media-stream.ts). */
  readonly isMediaFastPath: boolean;
  /** True from the start of a drain: /healthz answers 503. */
  readonly isDraining: boolean;
  /**
   * Graceful shutdown (lifecycle/drain.ts): stop accepting, two-step GOAWAY, Connection: close;
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
  const storage = await FsStorage.create(config.mediaRoot, {
    cacheValidMs: config.fileCacheValidMs,
    cacheMaxFiles: config.fileCacheMaxFiles,
    readMode: config.readMode,
  });
  const pool = new BufferPool({
    slabBytes: config.chunkBytes,
    maxBytes: config.poolMaxBytes,
    poisonOnRelease: overrides.poisonOnRelease ?? false,
  });
  const metrics = createMetrics(pool, storage);
  const guards = new WeakMap<ServerHttp2Session, SessionGuard>();
  const activity = new ConnectionActivity();
  const timeouts = new ConnectionTimeouts(config, { activity, registry: metrics.registry, log, isQuarantineOff: overrides.releaseAbandonedEarly });
  const drain = new Drain(activity, log);
  const appDeps = {
    log,
    storage,
    pool,
    metrics,
    limits: {
      chunkBytes: config.chunkBytes,
      inflightBytes: config.streamInflightBytes,
      releasePolicy: overrides.releasePolicy ?? 'on-flush',
      cancelAfterBytes: overrides.cancelAfterBytes,
    },
    cancelPolicy: overrides.cancelPolicy ?? 'close',
    maxRangeParts: config.rangeMaxParts,
    cacheControl: config.cacheControl,
    guardOf: (session: ServerHttp2Session) => guards.get(session),
    uploads: { token: config.uploadToken, maxBytes: config.uploadMaxBytes },
    isDraining: () => drain.isDraining,
    stalledWrites: timeouts.stalledWrites,
    handlerDelayMs: overrides.handlerDelayMs,
  };
  const app = createApp(appDeps);
  let isFastPathEverywhere = true;
  const useFastPath = (server: Http2SecureServer | Http2Server): void => {
    if (installMediaFastPath(server, appDeps)) return;
    isFastPathEverywhere = false;
    log.warn('HTTP/2 media fast path not installed: media goes through Koa');
  };

  const sessionOptions = {
    settings: { maxConcurrentStreams: config.maxConcurrentStreams, maxHeaderListSize: config.maxHeaderListBytes },
    maxSessionMemory: config.sessionMemoryMiB,
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
  const watchSession = (session: ServerHttp2Session): void => {
    metrics.sessions.inc();
    session.once('close', () => metrics.sessions.dec());
    // A session error (peer vanished, protocol error) ends that connection only.
    session.on('error', (err) => log.debug({ err: err.message }, 'http2 session error'));
    if (overrides.disableSessionGuard) return;
    guards.set(
      session,
      new SessionGuard(session, {
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
    );
  };

  const tls = await loadTlsMaterial({ certPath: config.tlsCertPath, keyPath: config.tlsKeyPath, dataDir: config.dataDir }, log);
  const secure = http2.createSecureServer({ ...sessionOptions, allowHTTP1: true, key: tls.key, cert: tls.cert, handshakeTimeout: config.headerTimeoutMs }, app.callback());
  // Activity first: its per-stream listener then runs before the guard's, so a rotation decided
  // on a session's 'stream' event already counts that stream as open.
  activity.track(secure, true);
  timeouts.track(secure, true);
  drain.track(secure);
  secure.on('session', watchSession);
  floodDefence.watch(secure);
  useFastPath(secure);
  const port = await listen(secure, config.port, config.host);
  let h2cPort: number | undefined;
  if (config.h2cPort !== undefined) {
    const h2c = http2.createServer(sessionOptions, app.callback());
    activity.track(h2c, false);
    timeouts.track(h2c, false);
    drain.track(h2c);
    h2c.on('session', watchSession);
    floodDefence.watch(h2c);
    useFastPath(h2c);
    h2cPort = await listen(h2c, config.h2cPort, config.host);
  }
  log.info({ url: `https://${hostForUrl(config.host)}:${port}/`, h2cPort, mediaRoot: config.mediaRoot }, 'listening');

  return {
    config,
    port,
    h2cPort,
    pool,
    storage,
    metrics,
    log,
    tlsCert: tls.cert,
    isMediaFastPath: isFastPathEverywhere,
    get isDraining() {
      return drain.isDraining;
    },
    drain: (deadlineMs = config.drainTimeoutMs, context = {}) => drain.start(deadlineMs, context),
    async close(deadlineMs = config.drainTimeoutMs) {
      await drain.start(deadlineMs);
      pool.close();
      await storage.close();
    },
  };
}

function listen(server: Http2SecureServer | Http2Server, port: number, host: string): Promise<number> {
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
