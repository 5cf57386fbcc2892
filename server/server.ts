// Composition root: builds storage, pool, metrics, the Koa app and the listeners from one
// frozen Config, and takes them down in reverse order.

import http2 from 'node:http2';
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
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
import { closeSessionGracefully } from './http2/session-drain.ts';
import { installMediaFastPath } from './http2/media-stream.ts';
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
  /** Closes sessions gracefully, then destroys what is still open after `graceMs`. */
  close(graceMs?: number): Promise<void>;
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
  };
  const app = createApp(appDeps);
  let isFastPathEverywhere = true;
  const useFastPath = (server: Http2SecureServer | Http2Server): void => {
    if (installMediaFastPath(server, appDeps)) return;
    isFastPathEverywhere = false;
    log.warn('HTTP/2 media fast path not installed: media goes through Koa');
  };

  const sessionOptions = {
    settings: { maxConcurrentStreams: config.maxConcurrentStreams },
    maxSessionMemory: config.sessionMemoryMiB,
    streamResetBurst: config.streamResetBurst,
    streamResetRate: config.streamResetRatePerSec,
  };
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
        onRotate: (s, reason) => {
          metrics.sessionRotations.inc({ reason });
          log.info({ reason }, 'rotating http2 connection gracefully (GOAWAY NO_ERROR)');
          closeSessionGracefully(s);
        },
      }),
    );
  };

  const tls = await loadTlsMaterial({ certPath: config.tlsCertPath, keyPath: config.tlsKeyPath, dataDir: config.dataDir }, log);
  const secure = http2.createSecureServer({ ...sessionOptions, allowHTTP1: true, key: tls.key, cert: tls.cert }, app.callback());
  secure.on('session', watchSession);
  useFastPath(secure);
  const secureConnections = trackConnections(secure);
  const port = await listen(secure, config.port, config.host);
  let h2c: Http2Server | undefined;
  let h2cPort: number | undefined;
  let h2cConnections: ReturnType<typeof trackConnections> | undefined;
  if (config.h2cPort !== undefined) {
    h2c = http2.createServer(sessionOptions, app.callback());
    h2c.on('session', watchSession);
    useFastPath(h2c);
    h2cConnections = trackConnections(h2c);
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
    async close(graceMs = 2000) {
      await Promise.all([
        closeServer(secure, secureConnections, graceMs),
        h2c && h2cConnections ? closeServer(h2c, h2cConnections, graceMs) : undefined,
      ]);
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

/**
 * Stops listening, closes HTTP/2 sessions gracefully and, after a short grace period, every
 * socket still open. Signal-driven draining with deadlines belongs to the lifecycle issue.
 */
function closeServer(
  server: Http2SecureServer | Http2Server,
  connections: { sockets: Set<Socket>; sessions: Set<ServerHttp2Session> },
  graceMs: number,
): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const session of connections.sessions) session.close();
    const deadline = setTimeout(() => {
      for (const socket of connections.sockets) socket.destroy();
    }, graceMs);
    deadline.unref();
  });
}

/** Every socket and HTTP/2 session of a server, so close() can reach them. */
function trackConnections(server: Http2SecureServer | Http2Server): { sockets: Set<Socket>; sessions: Set<ServerHttp2Session> } {
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return { sockets, sessions };
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
