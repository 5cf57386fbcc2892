// loadConfig as a table: environment and argv in, a frozen Config or one ConfigError line out.
// Plus the real entry point: a bad flag exits 1 with exactly one line on stderr.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ConfigError, loadConfig, SETTINGS } from '../../server/config.ts';
import type { Config } from '../../server/config.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function configError(env: NodeJS.ProcessEnv, argv: readonly string[]): ConfigError {
  try {
    loadConfig(env, argv);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('loadConfig accepted it');
}

describe('loadConfig defaults', () => {
  const config = loadConfig({}, []);

  const cases: readonly { key: keyof Config; expected: unknown }[] = [
    { key: 'port', expected: 8443 },
    { key: 'host', expected: '127.0.0.1' },
    { key: 'h2cPort', expected: undefined },
    { key: 'tlsCertPath', expected: undefined },
    { key: 'tlsKeyPath', expected: undefined },
    { key: 'logLevel', expected: 'info' },
    { key: 'chunkBytes', expected: 128 * 1024 },
    { key: 'rangeMaxParts', expected: 16 },
    { key: 'uploadToken', expected: undefined },
    { key: 'uploadMaxBytes', expected: 8 * 1024 ** 3 },
  ];
  for (const c of cases) {
    it(`${c.key} = ${JSON.stringify(c.expected)}`, () => {
      assert.equal(config[c.key], c.expected);
    });
  }

  it('MEDIA_ROOT is the sample library in the project', () => {
    assert.ok(path.isAbsolute(config.mediaRoot));
    assert.ok(config.mediaRoot.endsWith(path.join('storage', 'sample-library')), config.mediaRoot);
    assert.equal(config.mediaRoot, path.join(projectRoot, 'storage/sample-library'));
  });

  it('every whole-number setting is its documented fallback', () => {
    for (const s of SETTINGS.filter((s) => s.kind === 'int')) {
      assert.equal(config[s.key], Number(s.fallback), s.env);
    }
  });

  it('an empty environment variable counts as unset', () => {
    assert.deepEqual(loadConfig({ PORT: '', HOST: '', LOG_LEVEL: '' }, []), config);
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(config));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });
});

describe('loadConfig parses', () => {
  const cases: readonly { name: string; env: NodeJS.ProcessEnv; argv: readonly string[]; expected: Partial<Config> }[] = [
    {
      name: 'environment values',
      env: {
        PORT: '9443',
        HOST: '0.0.0.0',
        H2C_PORT: '8080',
        LOG_LEVEL: 'debug',
        CACHE_CONTROL: 'no-store',
        CHUNK_BYTES: '65536',
        STREAM_INFLIGHT_BYTES: '524288',
        POOL_MAX_BYTES: '1048576',
        MAX_CONCURRENT_STREAMS: '10',
        SESSION_MEMORY_MIB: '48',
        SESSION_LEAK_ROTATE_BYTES: '8388608',
        STREAM_RESET_BURST: '50',
        STREAM_RESET_RATE_PER_SEC: '5',
        RANGE_MAX_PARTS: '3',
      },
      argv: [],
      expected: {
        port: 9443,
        host: '0.0.0.0',
        h2cPort: 8080,
        logLevel: 'debug',
        cacheControl: 'no-store',
        chunkBytes: 65536,
        streamInflightBytes: 524288,
        poolMaxBytes: 1048576,
        maxConcurrentStreams: 10,
        sessionMemoryMiB: 48,
        sessionLeakRotateBytes: 8388608,
        streamResetBurst: 50,
        streamResetRatePerSec: 5,
        rangeMaxParts: 3,
      },
    },
    { name: 'port 0 (any free port)', env: { PORT: '0' }, argv: [], expected: { port: 0 } },
    { name: 'port 65535', env: { PORT: '65535' }, argv: [], expected: { port: 65535 } },
    { name: '--port 9000', env: {}, argv: ['--port', '9000'], expected: { port: 9000 } },
    { name: '--port=9000', env: {}, argv: ['--port=9000'], expected: { port: 9000 } },
    { name: 'flag wins over env', env: { PORT: '8000' }, argv: ['--port', '9000'], expected: { port: 9000 } },
    { name: 'flag=value wins over env', env: { PORT: '8000' }, argv: ['--port=9000'], expected: { port: 9000 } },
    { name: 'last flag wins', env: {}, argv: ['--port', '1', '--port', '2'], expected: { port: 2 } },
    { name: '--chunk-bytes 65536', env: {}, argv: ['--chunk-bytes', '65536'], expected: { chunkBytes: 65536 } },
    { name: 'multi-word flags', env: {}, argv: ['--log-level=warn', '--range-max-parts', '1'], expected: { logLevel: 'warn', rangeMaxParts: 1 } },
    { name: '--h2c-port', env: {}, argv: ['--h2c-port', '8080'], expected: { h2cPort: 8080 } },
    { name: 'UPLOAD_TOKEN (token68)', env: { UPLOAD_TOKEN: 'aB3-._~+/aB3-._~+/==' }, argv: [], expected: { uploadToken: 'aB3-._~+/aB3-._~+/==' } },
    { name: '--upload-max-bytes', env: {}, argv: ['--upload-max-bytes', '1048576'], expected: { uploadMaxBytes: 1048576 } },
    { name: '--host with a colon', env: {}, argv: ['--host=::'], expected: { host: '::' } },
    { name: 'relative MEDIA_ROOT resolved', env: { MEDIA_ROOT: 'media' }, argv: [], expected: { mediaRoot: path.resolve('media') } },
    { name: '--data-dir resolved', env: {}, argv: ['--data-dir', '/tmp/x/../y'], expected: { dataDir: '/tmp/y' } },
    {
      name: 'TLS_CERT with TLS_KEY',
      env: { TLS_CERT: '/etc/cert.pem', TLS_KEY: '/etc/key.pem' },
      argv: [],
      expected: { tlsCertPath: '/etc/cert.pem', tlsKeyPath: '/etc/key.pem' },
    },
    { name: 'H2C_PORT and PORT both 0', env: { PORT: '0', H2C_PORT: '0' }, argv: [], expected: { port: 0, h2cPort: 0 } },
    {
      name: 'STREAM_INFLIGHT_BYTES equal to CHUNK_BYTES',
      env: { CHUNK_BYTES: '262144', STREAM_INFLIGHT_BYTES: '262144' },
      argv: [],
      expected: { chunkBytes: 262144, streamInflightBytes: 262144 },
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${JSON.stringify(c.env)} ${JSON.stringify(c.argv)}`, () => {
      const config = loadConfig(c.env, c.argv);
      for (const [key, value] of Object.entries(c.expected)) {
        assert.equal(config[key as keyof Config], value, key);
      }
    });
  }
});

describe('loadConfig refuses', () => {
  const cases: readonly { name: string; env: NodeJS.ProcessEnv; argv: readonly string[]; mentions: RegExp }[] = [
    { name: 'PORT=abc', env: { PORT: 'abc' }, argv: [], mentions: /^PORT .*"abc"/ },
    { name: 'PORT=70000', env: { PORT: '70000' }, argv: [], mentions: /^PORT .*"70000"/ },
    { name: 'PORT=-1', env: { PORT: '-1' }, argv: [], mentions: /^PORT / },
    { name: 'PORT=80.5', env: { PORT: '80.5' }, argv: [], mentions: /^PORT / },
    // Regression: Number() read these as ports 80 and 0 instead of refusing them.
    { name: 'PORT=0x50', env: { PORT: '0x50' }, argv: [], mentions: /^PORT / },
    { name: 'PORT=" "', env: { PORT: ' ' }, argv: [], mentions: /^PORT / },
    { name: 'flag without value', env: {}, argv: ['--port'], mentions: /^--port needs a value/ },
    { name: 'flag value swallowed from the next flag', env: {}, argv: ['--port', '--host=x'], mentions: /^PORT / },
    // Regression: an empty flag value was taken as given: `--media-root=` served the cwd.
    { name: '--port= (empty)', env: {}, argv: ['--port='], mentions: /^--port needs a value/ },
    { name: '--media-root= (empty)', env: {}, argv: ['--media-root='], mentions: /^--media-root needs a value/ },
    { name: '--media-root "" (empty)', env: {}, argv: ['--media-root', ''], mentions: /^--media-root needs a value/ },
    { name: '--port abc', env: {}, argv: ['--port', 'abc'], mentions: /^PORT \(--port\) .*"abc"/ },
    { name: 'H2C_PORT=abc', env: { H2C_PORT: 'abc' }, argv: [], mentions: /^H2C_PORT / },
    { name: 'CHUNK_BYTES=10', env: { CHUNK_BYTES: '10' }, argv: [], mentions: /^CHUNK_BYTES .*"10"/ },
    { name: 'CHUNK_BYTES above max', env: { CHUNK_BYTES: String(8 * 1024 * 1024) }, argv: [], mentions: /^CHUNK_BYTES / },
    { name: 'CHUNK_BYTES=64k', env: { CHUNK_BYTES: '64k' }, argv: [], mentions: /^CHUNK_BYTES / },
    { name: '--chunk-bytes=-65536', env: {}, argv: ['--chunk-bytes=-65536'], mentions: /^CHUNK_BYTES / },
    { name: 'RANGE_MAX_PARTS=0', env: { RANGE_MAX_PARTS: '0' }, argv: [], mentions: /^RANGE_MAX_PARTS / },
    { name: 'LOG_LEVEL=loud', env: { LOG_LEVEL: 'loud' }, argv: [], mentions: /^LOG_LEVEL .*"loud"/ },
    { name: 'UPLOAD_TOKEN too short', env: { UPLOAD_TOKEN: 'short-secret' }, argv: [], mentions: /^UPLOAD_TOKEN .*value not shown/ },
    { name: 'UPLOAD_TOKEN with a space', env: {}, argv: ['--upload-token', 'secret with spaces inside'], mentions: /^UPLOAD_TOKEN / },
    { name: 'UPLOAD_MAX_BYTES=0', env: { UPLOAD_MAX_BYTES: '0' }, argv: [], mentions: /^UPLOAD_MAX_BYTES .*"0"/ },
    { name: 'UPLOAD_MAX_BYTES=8G', env: { UPLOAD_MAX_BYTES: '8G' }, argv: [], mentions: /^UPLOAD_MAX_BYTES / },
    { name: 'unknown flag', env: {}, argv: ['--nope', '1'], mentions: /--nope/ },
    { name: 'flag in capitals', env: {}, argv: ['--PORT', '1'], mentions: /--PORT/ },
    { name: 'positional argument', env: {}, argv: ['serve'], mentions: /serve/ },
    { name: 'TLS_CERT without TLS_KEY', env: { TLS_CERT: '/etc/cert.pem' }, argv: [], mentions: /TLS_CERT.*TLS_KEY/ },
    { name: 'TLS_KEY without TLS_CERT', env: { TLS_KEY: '/etc/key.pem' }, argv: [], mentions: /TLS_CERT.*TLS_KEY/ },
    { name: 'H2C_PORT equal to PORT', env: { PORT: '9000', H2C_PORT: '9000' }, argv: [], mentions: /H2C_PORT/ },
    {
      name: 'STREAM_INFLIGHT_BYTES below CHUNK_BYTES',
      env: { CHUNK_BYTES: '262144', STREAM_INFLIGHT_BYTES: '131072' },
      argv: [],
      mentions: /STREAM_INFLIGHT_BYTES.*CHUNK_BYTES/,
    },
    {
      name: 'POOL_MAX_BYTES below CHUNK_BYTES',
      env: { CHUNK_BYTES: '1048576', STREAM_INFLIGHT_BYTES: '1048576', POOL_MAX_BYTES: '524288', MAX_CONCURRENT_STREAMS: '1' },
      argv: [],
      mentions: /POOL_MAX_BYTES/,
    },
    {
      name: 'SESSION_LEAK_ROTATE_BYTES equal to SESSION_MEMORY_MIB',
      env: { SESSION_MEMORY_MIB: '32', SESSION_LEAK_ROTATE_BYTES: String(32 * 1024 * 1024) },
      argv: [],
      mentions: /SESSION_LEAK_ROTATE_BYTES/,
    },
    {
      name: 'SESSION_LEAK_ROTATE_BYTES above SESSION_MEMORY_MIB',
      env: { SESSION_MEMORY_MIB: '4', SESSION_LEAK_ROTATE_BYTES: String(5 * 1024 * 1024), MAX_CONCURRENT_STREAMS: '1' },
      argv: [],
      mentions: /SESSION_LEAK_ROTATE_BYTES/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${JSON.stringify(c.env)} ${JSON.stringify(c.argv)}`, () => {
      const err = configError(c.env, c.argv);
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, c.mentions);
      assert.doesNotMatch(err.message, /\n/, 'one line');
    });
  }

  it('a refused UPLOAD_TOKEN is never echoed', () => {
    for (const token of ['short-secret', 'secret with spaces inside', 'ünïcödé-sëcret-tökën']) {
      assert.doesNotMatch(configError({ UPLOAD_TOKEN: token }, []).message, new RegExp(token.split(' ')[0]!));
    }
  });

  for (const flag of ['--help', '-h']) {
    it(`${flag} throws the usage text`, () => {
      const err = configError({}, ['--port', '1', flag]);
      assert.match(err.message, /^usage:/);
      for (const s of SETTINGS) assert.match(err.message, new RegExp(`\\b${s.env}\\b`), s.env);
    });
  }
});

describe('server/main.ts', () => {
  // A clean environment, so a PORT or TLS_CERT of the machine running the tests cannot interfere.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  const run = (args: readonly string[]) =>
    spawnSync(process.execPath, [path.join(projectRoot, 'server/main.ts'), ...args], {
      cwd: projectRoot,
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('--port abc: exit 1, one line on stderr', () => {
    const child = run(['--port', 'abc']);
    assert.equal(child.error, undefined);
    assert.equal(child.signal, null, 'not killed by the timeout');
    assert.equal(child.status, 1);
    assert.equal(child.stdout, '');
    assert.match(child.stderr, /^PORT \(--port\) [^\n]*"abc"\n$/);
  });

  it('--help: exit 0, the usage text', () => {
    const child = run(['--help']);
    assert.equal(child.signal, null, 'not killed by the timeout');
    assert.equal(child.status, 0);
    assert.match(child.stderr, /^usage:/);
  });
});
