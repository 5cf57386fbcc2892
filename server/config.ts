// Configuration is read here and nowhere else: environment variables, with command-line flags
// mirroring them (`PORT` <-> `--port`, `CHUNK_BYTES` <-> `--chunk-bytes`; a flag wins).
// Everything is validated at once; the first problem becomes one ConfigError line.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type ReadMode = 'async' | 'sync' | 'auto';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly h2cPort: number | undefined;
  readonly mediaRoot: string;
  readonly dataDir: string;
  readonly tlsCertPath: string | undefined;
  readonly tlsKeyPath: string | undefined;
  readonly logLevel: LogLevel;
  readonly cacheControl: string;
  readonly chunkBytes: number;
  readonly streamInflightBytes: number;
  readonly poolMaxBytes: number;
  /** Most pooled bytes the responses of one connection may hold. */
  readonly poolConnectionMaxBytes: number;
  /** Most pooled bytes the responses of one client address (IPv6: /64) may hold. */
  readonly poolClientMaxBytes: number;
  readonly maxConcurrentStreams: number;
  readonly sessionMemoryMiB: number;
  readonly sessionLeakRotateBytes: number;
  readonly streamResetBurst: number;
  readonly streamResetRatePerSec: number;
  /** Streams a connection may have reset before the client could see an answer (Rapid Reset, MadeYouReset). */
  readonly earlyResetBurst: number;
  readonly earlyResetRatePerSec: number;
  /** Most open connections per client address (IPv6: per /64); 0: no limit. */
  readonly maxConnectionsPerClient: number;
  /** How long a client whose connection was ended as a flood is refused new ones; 0: never. */
  readonly clientPenaltyMs: number;
  /** Largest request header list (SETTINGS_MAX_HEADER_LIST_SIZE); larger: that stream is reset. */
  readonly maxHeaderListBytes: number;
  /** Rotate an HTTP/2 connection this old (GOAWAY NO_ERROR); 0: never. */
  readonly sessionMaxAgeMs: number;
  /** Rotate an HTTP/2 connection after this many streams; 0: never. */
  readonly sessionMaxStreams: number;
  /** On SIGTERM/SIGINT, what is still open after this long is cancelled. */
  readonly drainTimeoutMs: number;
  /** On SIGTERM/SIGINT, /healthz answers 503 this long while everything is still served, before the drain. */
  readonly drainAnnounceMs: number;
  /** Every connection must start with a PROXY protocol v1/v2 header (behind HAProxy's send-proxy-v2). */
  readonly proxyProtocol: boolean;
  readonly rangeMaxParts: number;
  readonly fileCacheValidMs: number;
  readonly fileCacheMaxFiles: number;
  readonly readMode: ReadMode;
  /** Bearer token for PUT and DELETE on /media/; undefined: uploads are off. Never logged. */
  readonly uploadToken: string | undefined;
  readonly uploadMaxBytes: number;
  /** TLS handshake plus HTTP/2 preface and first SETTINGS, or the first HTTP/1.1 request head. */
  readonly headerTimeoutMs: number;
  /** An HTTP/2 connection with no open stream is closed gracefully after this long. */
  readonly idleTimeoutMs: number;
  /** An HTTP/1.1 connection between requests is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** A response with unsent bytes whose writes made no progress for this long is cancelled. */
  readonly stalledWriteTimeoutMs: number;
  /** Shared state (catalog, live stats, per-client limits) in this Redis; undefined: in memory, this instance only. */
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly redisTimeoutMs: number;
  readonly statsTtlMs: number;
  readonly catalogRescanMs: number;
  /** Media responses in progress per client address (across instances with Redis); 0: no limit. */
  readonly clientMaxStreams: number;
  readonly clientMaxRequestsPerSec: number;
  /** Learn duration and codecs of new and changed files with ffprobe, when installed. */
  readonly mediaProbe: boolean;
}

type Kind = 'port' | 'optional-port' | 'int' | 'optional-int' | 'string' | 'optional-path' | 'path' | 'log-level' | 'read-mode' | 'optional-secret' | 'on-off' | 'optional-redis-url';

interface Setting {
  readonly env: string;
  readonly key: keyof Config;
  readonly kind: Kind;
  readonly fallback?: string;
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
}

/** The table the README's configuration section is written from. */
export const SETTINGS: readonly Setting[] = [
  { env: 'PORT', key: 'port', kind: 'port', fallback: '8443', doc: 'HTTPS port: HTTP/2 over TLS, HTTP/1.1 fallback' },
  { env: 'HOST', key: 'host', kind: 'string', fallback: '127.0.0.1', doc: 'Address to listen on (0.0.0.0 or :: for all)' },
  { env: 'H2C_PORT', key: 'h2cPort', kind: 'optional-port', doc: 'Cleartext HTTP/2 (prior knowledge) port; off unless set' },
  { env: 'MEDIA_ROOT', key: 'mediaRoot', kind: 'path', fallback: path.join(projectRoot, 'storage/sample-library'), doc: 'Folder of media files to serve' },
  { env: 'DATA_DIR', key: 'dataDir', kind: 'path', fallback: path.join(projectRoot, 'data'), doc: 'Where the generated self-signed certificate is kept' },
  { env: 'TLS_CERT', key: 'tlsCertPath', kind: 'optional-path', doc: 'PEM certificate (chain); with TLS_KEY. Unset: self-signed localhost cert' },
  { env: 'TLS_KEY', key: 'tlsKeyPath', kind: 'optional-path', doc: 'PEM private key for TLS_CERT' },
  { env: 'LOG_LEVEL', key: 'logLevel', kind: 'log-level', fallback: 'info', doc: 'fatal, error, warn, info, debug, trace or silent' },
  { env: 'CACHE_CONTROL', key: 'cacheControl', kind: 'string', fallback: 'public, max-age=300', doc: 'Cache-Control sent with media' },
  { env: 'CHUNK_BYTES', key: 'chunkBytes', kind: 'int', fallback: String(128 * 1024), min: 16 * 1024, max: 4 * 1024 * 1024, doc: 'Bytes read per chunk; also the pool slab size' },
  { env: 'STREAM_INFLIGHT_BYTES', key: 'streamInflightBytes', kind: 'int', fallback: String(256 * 1024), min: 16 * 1024, max: 64 * 1024 * 1024, doc: 'Bytes a stream may have written but not yet flushed' },
  { env: 'POOL_MAX_BYTES', key: 'poolMaxBytes', kind: 'int', fallback: String(64 * 1024 * 1024), min: 64 * 1024, max: 16 * 1024 * 1024 * 1024, doc: 'Hard cap on pooled buffer memory' },
  { env: 'POOL_CONNECTION_MAX_BYTES', key: 'poolConnectionMaxBytes', kind: 'optional-int', min: 16 * 1024, max: 16 * 1024 * 1024 * 1024, doc: "Most pooled bytes one connection's responses may hold; past it they wait for their own writes to complete (unset: POOL_MAX_BYTES / 16, at least STREAM_INFLIGHT_BYTES)" },
  { env: 'POOL_CLIENT_MAX_BYTES', key: 'poolClientMaxBytes', kind: 'optional-int', min: 16 * 1024, max: 16 * 1024 * 1024 * 1024, doc: "Most pooled bytes one client address's (IPv6: one /64's) responses may hold across its connections, at most half of POOL_MAX_BYTES: paused or hostile streams of one client never take the slabs others need (unset: POOL_MAX_BYTES / 4, at least the connection share)" },
  { env: 'MAX_CONCURRENT_STREAMS', key: 'maxConcurrentStreams', kind: 'int', fallback: '128', min: 1, max: 1000, doc: 'HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS' },
  { env: 'SESSION_MEMORY_MIB', key: 'sessionMemoryMiB', kind: 'int', fallback: '320', min: 4, max: 4096, doc: "Node's maxSessionMemory per HTTP/2 connection, in MiB: an accounting limit (Node counts queued bytes against it and never subtracts what a peer reset left queued), not memory held" },
  { env: 'SESSION_LEAK_ROTATE_BYTES', key: 'sessionLeakRotateBytes', kind: 'int', fallback: String(256 * 1024 * 1024), min: 0, max: 4096 * 1024 * 1024, doc: "Rotate an HTTP/2 connection gracefully once peer resets have left this many bytes on Node's session-memory accounting (an upper bound; the buffers themselves are freed)" },
  { env: 'STREAM_RESET_BURST', key: 'streamResetBurst', kind: 'int', fallback: '10000', min: 10, max: 1_000_000, doc: "nghttp2's peer RST_STREAM budget per connection (its Rapid Reset limit; the flood guard's EARLY_RESET_BURST catches Rapid Reset long before); the connection is rotated gracefully when a quarter is left" },
  { env: 'STREAM_RESET_RATE_PER_SEC', key: 'streamResetRatePerSec', kind: 'int', fallback: '1000', min: 1, max: 1_000_000, doc: 'Refill rate of that budget: a viewer seeking faster than this on one connection, for long, gets a new connection' },
  { env: 'EARLY_RESET_BURST', key: 'earlyResetBurst', kind: 'int', fallback: '50', min: 10, max: 10_000, doc: 'Streams an HTTP/2 connection may have reset before the client could see an answer (in the event-loop turn that opened them) or for its protocol error, before GOAWAY(ENHANCE_YOUR_CALM): a seek never does that, Rapid Reset and MadeYouReset do' },
  { env: 'EARLY_RESET_RATE_PER_SEC', key: 'earlyResetRatePerSec', kind: 'int', fallback: '10', min: 1, max: 100_000, doc: 'Refill rate of that budget' },
  { env: 'MAX_CONNECTIONS_PER_CLIENT', key: 'maxConnectionsPerClient', kind: 'int', fallback: '64', min: 0, max: 1_000_000, doc: 'Open connections one client address (IPv6: one /64) may hold; more are closed at once (0: no limit; use 0 behind a proxy that does not send the PROXY protocol, or raise it for load tests from one machine)' },
  { env: 'CLIENT_PENALTY_MS', key: 'clientPenaltyMs', kind: 'int', fallback: '10000', min: 0, max: 3_600_000, doc: 'After one of its connections was ended as a flood, a client address is refused new connections this long, doubling per repeat up to 16x (0: off)' },
  { env: 'MAX_HEADER_LIST_BYTES', key: 'maxHeaderListBytes', kind: 'int', fallback: '32768', min: 4096, max: 1024 * 1024, doc: 'Largest request header list (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE); a larger one gets RST_STREAM(ENHANCE_YOUR_CALM) on that stream' },
  { env: 'SESSION_MAX_AGE_MS', key: 'sessionMaxAgeMs', kind: 'int', fallback: '600000', min: 0, max: 7 * 24 * 3600 * 1000, doc: 'Rotate an HTTP/2 connection this old with a graceful GOAWAY (0: never)' },
  { env: 'SESSION_MAX_STREAMS', key: 'sessionMaxStreams', kind: 'int', fallback: '10000', min: 0, max: 1_000_000_000, doc: 'Rotate an HTTP/2 connection after this many streams (0: never)' },
  { env: 'DRAIN_TIMEOUT_MS', key: 'drainTimeoutMs', kind: 'int', fallback: '10000', min: 0, max: 3_600_000, doc: 'On SIGTERM/SIGINT, how long open streams may finish before they are cancelled and the process exits' },
  { env: 'DRAIN_ANNOUNCE_MS', key: 'drainAnnounceMs', kind: 'int', fallback: '0', min: 0, max: 600_000, doc: "On SIGTERM/SIGINT, how long /healthz answers 503 while connections are still accepted and served, before the drain (GOAWAY, listeners closed) starts: behind a load balancer, at least its health-check interval x fall count, so it stops sending first" },
  { env: 'PROXY_PROTOCOL', key: 'proxyProtocol', kind: 'on-off', fallback: 'off', doc: "on: every connection (TLS and h2c ports) must start with a PROXY protocol v1 or v2 header within HEADER_TIMEOUT_MS (HAProxy's send-proxy-v2); the client address it announces is the one limits and logs use. Connections without one are closed. Only behind such a proxy" },
  { env: 'FILE_CACHE_VALID_MS', key: 'fileCacheValidMs', kind: 'int', fallback: '1000', min: 0, max: 60_000, doc: 'How long an opened file is reused without a stat (0: off); changes made outside the server show within this' },
  { env: 'FILE_CACHE_MAX_FILES', key: 'fileCacheMaxFiles', kind: 'int', fallback: '1000', min: 1, max: 100_000, doc: 'Most files the open-file cache keeps open' },
  { env: 'READ_MODE', key: 'readMode', kind: 'read-mode', fallback: 'auto', doc: 'auto: on the event loop for blocks read in the last 30 s (in page cache) while no read of ours is on the libuv pool, on the pool otherwise; loop reads off for 5 s when slow ones (over 2 ms) spend more than 20 ms in a second; async: every file read on the pool; sync: every read on the loop (stalls every stream when a read waits for a disk)' },
  { env: 'RANGE_MAX_PARTS', key: 'rangeMaxParts', kind: 'int', fallback: '16', min: 1, max: 1000, doc: 'Most ranges one request may name before it gets 200 full' },
  { env: 'UPLOAD_TOKEN', key: 'uploadToken', kind: 'optional-secret', doc: 'Bearer token PUT and DELETE on /media/ must present (16+ characters); unset: uploads are off (403). Never logged; prefer the variable to the flag, which ps shows' },
  { env: 'UPLOAD_MAX_BYTES', key: 'uploadMaxBytes', kind: 'int', fallback: String(8 * 1024 ** 3), min: 1, max: 2 ** 44, doc: 'Largest upload body; a longer one is refused with 413 and nothing is kept' },
  { env: 'HEADER_TIMEOUT_MS', key: 'headerTimeoutMs', kind: 'int', fallback: '10000', min: 100, max: 600_000, doc: 'A new connection must finish the TLS handshake and send the HTTP/2 preface, or its first HTTP/1.1 request head, within this' },
  { env: 'IDLE_TIMEOUT_MS', key: 'idleTimeoutMs', kind: 'int', fallback: '120000', min: 100, max: 86_400_000, doc: 'An HTTP/2 connection with no open stream for this long is closed gracefully (GOAWAY NO_ERROR); never while a request is being handled or answered' },
  { env: 'KEEP_ALIVE_TIMEOUT_MS', key: 'keepAliveTimeoutMs', kind: 'int', fallback: '5000', min: 100, max: 86_400_000, doc: 'An HTTP/1.1 connection with no request in progress for this long is closed' },
  { env: 'STALLED_WRITE_TIMEOUT_MS', key: 'stalledWriteTimeoutMs', kind: 'int', fallback: '60000', min: 100, max: 86_400_000, doc: 'A response whose client took none of its unsent bytes for this long is cancelled (HTTP/2: RST_STREAM CANCEL; HTTP/1.1: connection closed); a paused video holds its stream (and one small slab) until then; while streams wait for a pool slab, a quarter of this' },
  { env: 'REDIS_URL', key: 'redisUrl', kind: 'optional-redis-url', doc: 'redis:// or rediss:// URL of the Redis that instances share the catalog, live stats and per-client limits through; unset: all in memory, for one instance. Never logged' },
  { env: 'REDIS_KEY_PREFIX', key: 'redisKeyPrefix', kind: 'string', fallback: 'seekable:', doc: 'Every Redis key and channel starts with this; one per deployment' },
  { env: 'REDIS_TIMEOUT_MS', key: 'redisTimeoutMs', kind: 'int', fallback: '250', min: 10, max: 10_000, doc: 'A Redis command not answered within this fails, and the request goes on with what this instance knows; while Redis is unreachable commands fail at once' },
  { env: 'STATS_TTL_MS', key: 'statsTtlMs', kind: 'int', fallback: '5000', min: 2000, max: 600_000, doc: 'Instances publish their live figures every second; one that stopped publishing drops out of /api/stats (and its per-client stream counts stop counting) after this' },
  { env: 'CATALOG_RESCAN_MS', key: 'catalogRescanMs', kind: 'int', fallback: '30000', min: 0, max: 86_400_000, doc: 'How often the catalog is brought in line with the media folder, for files changed outside the server (0: only at start); uploads and deletes through any instance show everywhere at once' },
  { env: 'MEDIA_PROBE', key: 'mediaProbe', kind: 'on-off', fallback: 'on', doc: 'on: the catalog learns duration and codecs of new and changed files with ffprobe (when installed; one short process per file, in the background) and /api/media lists them' },
  { env: 'CLIENT_MAX_STREAMS', key: 'clientMaxStreams', kind: 'int', fallback: '0', min: 0, max: 1_000_000, doc: 'Media responses one client address may have in progress, across all instances when REDIS_URL is set; more get 429 with Retry-After (0: no limit)' },
  { env: 'CLIENT_MAX_REQUESTS_PER_SEC', key: 'clientMaxRequestsPerSec', kind: 'int', fallback: '0', min: 0, max: 1_000_000, doc: 'New media requests per second one client address may make (a burst of one second), across all instances when REDIS_URL is set; more get 429 with Retry-After (0: no limit)' },
];

/** Room in maxSessionMemory for headers, settings and nghttp2's own allocations. */
const SESSION_MEMORY_HEADROOM_MIB = 8;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2)): Config {
  const raw = new Map<string, string>();
  for (const s of SETTINGS) {
    const value = env[s.env];
    if (value !== undefined && value !== '') raw.set(s.env, value);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new ConfigError(usage());
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const setting = m && SETTINGS.find((s) => flagOf(s) === m[1]);
    if (!m || !setting) throw new ConfigError(`unknown argument ${JSON.stringify(arg)} (try --help)`);
    const value = m[2] ?? argv[++i];
    // Empty counts as missing, as it does for env: `--media-root=` would otherwise serve the cwd.
    if (value === undefined || value === '') throw new ConfigError(`--${m[1]} needs a value`);
    raw.set(setting.env, value);
  }
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = parseSetting(s, raw.get(s.env) ?? s.fallback);
  // Unset shares follow the pool: a sixteenth per connection, a quarter per client.
  const poolBytes = out.poolMaxBytes as number;
  out.poolConnectionMaxBytes ??= Math.max(Math.floor(poolBytes / 16), out.streamInflightBytes as number);
  out.poolClientMaxBytes ??= Math.max(Math.floor(poolBytes / 4), out.poolConnectionMaxBytes as number);
  const config = out as unknown as Config;
  if ((config.tlsCertPath === undefined) !== (config.tlsKeyPath === undefined)) {
    throw new ConfigError('TLS_CERT and TLS_KEY must be given together');
  }
  if (config.h2cPort !== undefined && config.h2cPort === config.port && config.port !== 0) {
    throw new ConfigError('H2C_PORT must differ from PORT');
  }
  if (config.streamInflightBytes < config.chunkBytes) {
    throw new ConfigError('STREAM_INFLIGHT_BYTES must be at least CHUNK_BYTES');
  }
  if (config.poolMaxBytes < config.chunkBytes) throw new ConfigError('POOL_MAX_BYTES must hold at least one chunk');
  // The shares nest: a stream's in-flight bytes fit its connection's share, a connection's fit
  // its client's, and the pool holds two clients' shares, so one client never has all of it.
  if (config.poolConnectionMaxBytes < config.streamInflightBytes) {
    throw new ConfigError('POOL_CONNECTION_MAX_BYTES must be at least STREAM_INFLIGHT_BYTES');
  }
  if (config.poolClientMaxBytes < config.poolConnectionMaxBytes) {
    throw new ConfigError('POOL_CLIENT_MAX_BYTES must be at least POOL_CONNECTION_MAX_BYTES');
  }
  if (config.poolMaxBytes < 2 * config.poolClientMaxBytes) {
    throw new ConfigError(`POOL_MAX_BYTES must be at least twice POOL_CLIENT_MAX_BYTES (${2 * config.poolClientMaxBytes}), got ${config.poolMaxBytes}`);
  }
  // Node counts bytes queued on live streams against maxSessionMemory too: the budget must
  // hold every stream's in-flight bytes plus the leak we tolerate before rotating, or a busy
  // but healthy connection would start refusing streams.
  const neededMiB = Math.ceil(
    (config.maxConcurrentStreams * config.streamInflightBytes + config.sessionLeakRotateBytes) / 2 ** 20 + SESSION_MEMORY_HEADROOM_MIB,
  );
  if (config.sessionMemoryMiB < neededMiB) {
    throw new ConfigError(
      `SESSION_MEMORY_MIB must be at least ${neededMiB} (MAX_CONCURRENT_STREAMS x STREAM_INFLIGHT_BYTES + SESSION_LEAK_ROTATE_BYTES + ${SESSION_MEMORY_HEADROOM_MIB} MiB), got ${config.sessionMemoryMiB}`,
    );
  }
  return Object.freeze(config);
}

function parseSetting(s: Setting, value: string | undefined): unknown {
  const bad = (what: string): never => {
    throw new ConfigError(`${s.env} (--${flagOf(s)}) ${what}, got ${JSON.stringify(value)}`);
  };
  switch (s.kind) {
    case 'optional-port':
    case 'port': {
      if (value === undefined) return undefined;
      const n = Number(value);
      // Digits only: Number() would read " " as 0 (a random port) and "0x50" as 80.
      return /^\d+$/.test(value) && n <= 65535 ? n : bad('must be a port number 0-65535');
    }
    case 'optional-int':
    case 'int': {
      if (value === undefined && s.kind === 'optional-int') return undefined;
      const n = Number(value);
      const ok = /^\d+$/.test(value ?? '') && n >= (s.min ?? 0) && n <= (s.max ?? Number.MAX_SAFE_INTEGER);
      return ok ? n : bad(`must be a whole number from ${s.min} to ${s.max}`);
    }
    case 'log-level':
      return ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value ?? '')
        ? value
        : bad('must be one of fatal, error, warn, info, debug, trace, silent');
    case 'read-mode':
      return value === 'auto' || value === 'async' || value === 'sync' ? value : bad('must be auto, async or sync');
    case 'optional-secret':
      // token68 (RFC 9110 11.2), so it fits an Authorization header; the message never shows it.
      if (value === undefined || /^[A-Za-z0-9._~+/-]{16,}=*$/.test(value)) return value;
      throw new ConfigError(`${s.env} (--${flagOf(s)}) must be 16 or more of A-Z a-z 0-9 - . _ ~ + / (value not shown)`);
    case 'optional-redis-url': {
      if (value === undefined) return undefined;
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (url && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname) return value;
      // The URL may carry a password: the message never shows it.
      throw new ConfigError(`${s.env} (--${flagOf(s)}) must be a redis://host:port or rediss:// URL (value not shown)`);
    }
    case 'path':
    case 'optional-path':
      return value === undefined ? undefined : path.resolve(value);
    case 'on-off':
      if (value === 'on' || value === 'true' || value === '1') return true;
      if (value === 'off' || value === 'false' || value === '0') return false;
      return bad('must be on or off');
    case 'string':
      return value;
  }
}

function flagOf(s: Setting): string {
  return s.env.toLowerCase().replaceAll('_', '-');
}

export function usage(): string {
  const lines = SETTINGS.map((s) => `  --${flagOf(s).padEnd(28)} ${s.env.padEnd(26)} ${s.doc}`);
  return ['usage: npm start -- [flags]   (each flag mirrors an environment variable)', ...lines].join('\n');
}
