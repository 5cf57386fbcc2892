// docker-compose.yml, the Dockerfile and deploy/haproxy.cfg checked against the repository,
// since no Docker engine runs in CI: the services and ports; every command a container runs
// is a real npm script (and the Dockerfile's the same); every environment variable is a real
// setting with a valid value; the HAProxy config compose mounts is the one the scale-out test
// runs, and gets every variable it reads; the health check path is the one the healthcheck
// script asks; the drain announce period covers HAProxy's checks; the image holds everything
// the server imports at run time (dependencies only, no dev ones). `haproxy -c` validates the
// config with compose's values when haproxy is installed. The health check commands are run for
// real against a server in test/integration/healthcheck.test.ts.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, SETTINGS } from '../../server/config.ts';
import { HEALTH_CHECK_PATH } from '../../server/healthcheck.ts';
import { CANCEL_GRACE_MS } from '../../server/lifecycle/drain.ts';
import { HAPROXY_BINARY, HAPROXY_CONFIG, HAPROXY_CONFIG_VARIABLES } from '../support/haproxy.ts';
import { parseYamlSubset } from '../support/yaml-subset.ts';
import type { YamlValue } from '../support/yaml-subset.ts';

const root = path.resolve('.');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string>; engines: { node: string } };
const compose = parseYamlSubset(read('docker-compose.yml')) as Record<string, YamlValue>;
const services = compose.services as Record<string, Record<string, YamlValue>>;
const dockerfile = read('Dockerfile');
/** deploy/haproxy.cfg without its comment lines. */
const haproxyCfg = read('deploy/haproxy.cfg').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');

const MEDIA_SERVICES = ['media-1', 'media-2'] as const;
const env = (service: string): Record<string, string> => services[service]!.environment as Record<string, string>;
/** Compose's interpolation of `${VAR:-default}` with nothing set in the environment. */
const interpolated = (vars: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));
const seconds = (duration: string): number => {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  assert.ok(m, `duration ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
};
/** The npm script whose command is exactly `argv` (exec form), or undefined. */
const npmScriptOf = (argv: readonly string[]): string | undefined => Object.keys(pkg.scripts).find((name) => pkg.scripts[name] === argv.join(' '));
const dockerfileExecForm = (instruction: string): string[] => {
  const line = dockerfile.split('\n').find((l) => l.startsWith(`${instruction} `) || (instruction === 'HEALTHCHECK CMD' && l.startsWith('HEALTHCHECK ')));
  assert.ok(line, `Dockerfile has ${instruction}`);
  return JSON.parse(line.slice(line.indexOf('['))) as string[];
};

describe('docker-compose.yml against the repository', () => {
  it('has the cluster: redis, two media instances, haproxy; the shared volumes', () => {
    assert.deepEqual(Object.keys(services).sort(), ['haproxy', 'media-1', 'media-2', 'redis']);
    assert.deepEqual(Object.keys(compose.volumes as object).sort(), ['media', 'tls']);
  });

  for (const name of MEDIA_SERVICES) {
    describe(name, () => {
      const service = services[name]!;
      const config = loadConfig({ ...interpolated(env(name)) }, []);

      it('is built from the project Dockerfile on node:24-slim, and runs `npm start`', () => {
        assert.equal(service.build, '.');
        assert.ok(existsSync(path.join(root, 'Dockerfile')));
        const from = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
        assert.ok(from.length > 0 && from.every((l) => /^FROM node:24-slim( AS \w+)?$/.test(l)), from.join(' | '));
        assert.match(pkg.engines.node, /^>=24 /);
        assert.equal(npmScriptOf(service.command as string[]), 'start');
        assert.deepEqual(dockerfileExecForm('CMD'), service.command, 'the image runs the same command');
      });

      it('its health check is `npm run healthcheck`, as in the image', () => {
        const healthcheck = service.healthcheck as Record<string, YamlValue>;
        const [form, ...argv] = healthcheck.test as string[];
        assert.equal(form, 'CMD');
        assert.equal(npmScriptOf(argv), 'healthcheck');
        assert.deepEqual(dockerfileExecForm('HEALTHCHECK CMD'), argv);
      });

      it('sets only real settings, with valid values: PROXY_PROTOCOL on, a drain announce covering HAProxy\'s checks', () => {
        const known = new Set(SETTINGS.map((s) => s.env));
        for (const key of Object.keys(env(name))) assert.ok(known.has(key), `${key} is a setting (server/config.ts)`);
        assert.equal(config.proxyProtocol, true);
        const inter = Number(/ inter (\d+)s/.exec(haproxyCfg)![1]) * 1000;
        const fall = Number(/ fall (\d+)/.exec(haproxyCfg)![1]);
        assert.ok(config.drainAnnounceMs > inter * fall, `DRAIN_ANNOUNCE_MS ${config.drainAnnounceMs} > inter ${inter} x fall ${fall}`);
        const graceS = seconds(service.stop_grace_period as string);
        assert.ok(graceS * 1000 > config.drainAnnounceMs + config.drainTimeoutMs + CANCEL_GRACE_MS, `stop_grace_period ${graceS}s covers the whole drain`);
      });

      it('shares the media volume and the certificate volume, and reaches redis', () => {
        const config2 = loadConfig(interpolated(env(name)), []);
        assert.deepEqual(service.volumes, [`media:${config2.mediaRoot}`, `tls:${config2.dataDir}`]);
        const redisUrl = new URL(env(name).REDIS_URL!);
        assert.equal(redisUrl.hostname, 'redis');
        assert.equal(redisUrl.port, '6379');
        assert.ok(!(services.redis!.command as string[]).includes('--port'), 'redis listens on its default port');
        assert.deepEqual((service.depends_on as Record<string, Record<string, string>>).redis, { condition: 'service_healthy' });
      });
    });
  }

  it('the two instances are configured alike (media-2 waits for media-1, which makes the certificate)', () => {
    const { depends_on: one, ...first } = services['media-1']!;
    const { depends_on: two, ...second } = services['media-2']!;
    assert.deepEqual(first, second);
    assert.deepEqual({ ...(two as object), 'media-1': undefined }, { ...(one as object), 'media-1': undefined });
    assert.deepEqual((two as Record<string, unknown>)['media-1'], { condition: 'service_healthy' });
  });

  it('haproxy mounts the config the scale-out test runs, at the image\'s default path, with every variable it reads', () => {
    const haproxy = services.haproxy!;
    assert.match(haproxy.image as string, /^haproxy:2\.6$/);
    const [mount] = haproxy.volumes as string[];
    const [source, target, mode] = mount!.split(':');
    assert.equal(path.resolve(root, source!), HAPROXY_CONFIG);
    assert.equal(target, '/usr/local/etc/haproxy/haproxy.cfg');
    assert.equal(mode, 'ro');
    const used = [...new Set([...haproxyCfg.matchAll(/"\$\{([A-Z0-9_]+)\}"/g)].map((m) => m[1]!))].sort();
    assert.deepEqual(used, [...HAPROXY_CONFIG_VARIABLES].sort(), 'the test sets exactly what the config reads');
    assert.deepEqual(Object.keys(env('haproxy')).sort(), used, 'compose sets exactly what the config reads');
    for (const [i, name] of MEDIA_SERVICES.entries()) {
      assert.equal(env('haproxy')[`MEDIA_${i + 1}_ADDR`], `${name}:${env(name).PORT}`, `haproxy reaches ${name} on its PORT`);
    }
    const published = (haproxy.ports as string[]).map((p) => p.split(':').map(Number) as [number, number]);
    const bound = [env('haproxy').HAPROXY_BIND!, env('haproxy').HAPROXY_STATS_BIND!].map((b) => Number(b.split(':').pop()));
    assert.deepEqual(published.map(([, container]) => container), bound, 'every published port is one HAProxy binds');
    assert.equal(published[0]![0], 8443, 'the demo is on https://localhost:8443/');
  });

  it('haproxy checks /healthz (the healthcheck script\'s path) and sends the PROXY protocol the instances expect', () => {
    const send = /http-check send meth GET uri (\S+) ver HTTP\/1\.1/.exec(haproxyCfg);
    assert.equal(send?.[1], HEALTH_CHECK_PATH);
    const defaults = haproxyCfg.split('\n').find((l) => l.trim().startsWith('default-server '))!;
    for (const option of ['send-proxy-v2', 'check', 'check-ssl', 'check-send-proxy']) assert.ok(defaults.split(/\s+/).includes(option), option);
    assert.match(haproxyCfg, /^\s*mode tcp$/m);
    assert.match(haproxyCfg, /^\s*option redispatch/m);
    assert.match(haproxyCfg, /^\s*retries \d+/m);
  });

  it('`haproxy -c` accepts the config with compose\'s values', { skip: existsSync(HAPROXY_BINARY) ? false : `${HAPROXY_BINARY} not installed` }, () => {
    const output = execFileSync(HAPROXY_BINARY, ['-c', '-f', HAPROXY_CONFIG], {
      env: { PATH: process.env.PATH, ...env('haproxy'), HAPROXY_STATS_SOCKET: path.join(root, 'data', 'haproxy-check.sock') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.match(output, /Configuration file is valid/);
    assert.match(execFileSync(HAPROXY_BINARY, ['-v'], { encoding: 'utf8' }), /^HAProxy version 2\.6\./, 'the tested haproxy is the version compose runs');
  });
});

describe('README', () => {
  it('has "Running several instances": the command, the port, what is shared where', () => {
    const section = read('README.md').split('\n## Running several instances\n')[1]?.split('\n## ')[0] ?? '';
    assert.ok(section, 'the section exists');
    assert.match(section, /`docker compose up`/);
    assert.match(section, /https:\/\/localhost:8443\//);
    for (const shared of ['Redis', 'volume', 'PROXY protocol']) assert.ok(section.includes(shared), shared);
  });
});

describe('the image holds what the server needs at run time', () => {
  const copied = dockerfile
    .split('\n')
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    .flatMap((l) => l.replace(/--chown=\S+ /, '').split(/\s+/).slice(1, -1));

  it('every COPY source exists', () => {
    for (const source of copied) assert.ok(existsSync(path.join(root, source)), source);
  });

  it('every module the server and the healthcheck import is copied, and every package is a runtime dependency', () => {
    const inImage = (file: string): boolean => ['server/', 'storage/', 'player-demo/'].some((dir) => path.relative(root, file).startsWith(dir));
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      assert.ok(inImage(file), `${path.relative(root, file)} is imported at run time but not copied into the image`);
      for (const specifier of valueImports(readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('.')) visit(path.resolve(path.dirname(file), specifier));
        else if (!specifier.startsWith('node:')) packages.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
      }
    };
    const [node, entry] = pkg.scripts.start!.split(' '); // `node server/start.js`, which imports server/main.ts
    assert.equal(node, 'node');
    visit(path.join(root, entry!));
    visit(path.join(root, 'server/healthcheck.ts'));
    assert.ok(seen.has(path.join(root, 'server/main.ts')), 'the start script runs server/main.ts');
    for (const name of packages) assert.ok(pkg.dependencies[name], `${name} is imported at run time: it must be in "dependencies" (the image omits dev ones)`);
    assert.ok(seen.size > 20 && packages.has('koa'), `walked ${seen.size} modules`);
  });

  it('the compile cache is filled as by `npm start`\'s prestart, by the user the server runs as (server/start.js)', () => {
    const warm = `${pkg.scripts.start} --help`;
    assert.ok(pkg.scripts.prestart!.includes(warm), `prestart runs ${warm}`);
    const lines = dockerfile.split('\n');
    const run = lines.findIndex((l) => l.startsWith(`RUN ${warm}`));
    assert.ok(run > lines.indexOf('USER node') && lines.indexOf('USER node') > 0, `Dockerfile runs ${warm} after USER node`);
  });

  it('the demo is built in the image by the build:demo command; .dockerignore keeps local state out', () => {
    assert.ok(dockerfile.includes(pkg.scripts['build:demo']!.replace(/^tsc /, 'node node_modules/typescript/bin/tsc ')), 'Dockerfile builds the demo as `npm run build:demo` does');
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', 'data']) assert.ok(ignored.includes(entry), entry);
  });
});

/** Module specifiers a file imports at run time (type-only imports are erased by type stripping). */
function valueImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;'"]*?\sfrom\s+)?'([^']+)'/gm)) if (!m[1]) out.push(m[2]!);
  for (const m of source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out;
}
