// Configuration is read here and nowhere else: environment variables, with command-line flags
// mirroring them (`PORT` <-> `--port`, `CHUNK_BYTES` <-> `--chunk-bytes`; a flag wins).
// Everything is validated at once; the first problem becomes one ConfigError line.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type ReadMode = 'async' | 'sync';

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
  readonly maxConcurrentStreams: number;
  readonly sessionMemoryMiB: number;
  readonly sessionLeakRotateBytes: number;
  readonly streamResetBurst: number;
  readonly streamResetRatePerSec: number;
  readonly rangeMaxParts: number;
  readonly fileCacheValidMs: number;
  readonly fileCacheMaxFiles: number;
  readonly readMode: ReadMode;
}

type Kind = 'port' | 'optional-port' | 'int' | 'string' | 'optional-path' | 'path' | 'log-level' | 'read-mode';

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
  { env: 'MAX_CONCURRENT_STREAMS', key: 'maxConcurrentStreams', kind: 'int', fallback: '128', min: 1, max: 1000, doc: 'HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS' },
  { env: 'SESSION_MEMORY_MIB', key: 'sessionMemoryMiB', kind: 'int', fallback: '64', min: 4, max: 4096, doc: "Node's maxSessionMemory per HTTP/2 connection, in MiB" },
  { env: 'SESSION_LEAK_ROTATE_BYTES', key: 'sessionLeakRotateBytes', kind: 'int', fallback: String(16 * 1024 * 1024), min: 0, max: 4096 * 1024 * 1024, doc: 'Rotate a connection once peer resets left this many unflushed bytes' },
  { env: 'STREAM_RESET_BURST', key: 'streamResetBurst', kind: 'int', fallback: '1000', min: 10, max: 1_000_000, doc: "nghttp2's peer RST_STREAM budget per connection" },
  { env: 'STREAM_RESET_RATE_PER_SEC', key: 'streamResetRatePerSec', kind: 'int', fallback: '100', min: 1, max: 1_000_000, doc: 'Refill rate of that budget' },
  { env: 'FILE_CACHE_VALID_MS', key: 'fileCacheValidMs', kind: 'int', fallback: '1000', min: 0, max: 60_000, doc: 'How long an opened file is reused without a stat (0: off); changes made outside the server show within this' },
  { env: 'FILE_CACHE_MAX_FILES', key: 'fileCacheMaxFiles', kind: 'int', fallback: '1000', min: 1, max: 100_000, doc: 'Most files the open-file cache keeps open' },
  { env: 'READ_MODE', key: 'readMode', kind: 'read-mode', fallback: 'async', doc: 'async: file reads on the libuv pool; sync: on the event loop (faster when the library is in page cache, stalls every stream when a read hits a slow disk)' },
  { env: 'RANGE_MAX_PARTS', key: 'rangeMaxParts', kind: 'int', fallback: '16', min: 1, max: 1000, doc: 'Most ranges one request may name before it gets 200 full' },
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
    case 'int': {
      const n = Number(value);
      const ok = /^\d+$/.test(value ?? '') && n >= (s.min ?? 0) && n <= (s.max ?? Number.MAX_SAFE_INTEGER);
      return ok ? n : bad(`must be a whole number from ${s.min} to ${s.max}`);
    }
    case 'log-level':
      return ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value ?? '')
        ? value
        : bad('must be one of fatal, error, warn, info, debug, trace, silent');
    case 'read-mode':
      return value === 'async' || value === 'sync' ? value : bad('must be async or sync');
    case 'path':
    case 'optional-path':
      return value === undefined ? undefined : path.resolve(value);
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
