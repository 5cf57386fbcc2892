// `npm run healthcheck` (server/healthcheck.ts), the containers' health check, run as the real
// command against a real server: 0 for a healthy instance, with and without PROXY_PROTOCOL; 1
// while it drains (its announce period: still listening, /healthz 503), when the PROXY setting
// does not match the server's (negative control: the header is what gets it in), and when
// nothing listens.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureLibrary } from '../support/fixtures.ts';
import type { FixtureLibrary } from '../support/fixtures.ts';
import { freePort } from '../support/ports.ts';
import { startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

const NODE = path.resolve('node_modules/.bin/node');
const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { scripts: Record<string, string> };

/** Runs the healthcheck script as `npm run healthcheck` does, with the given settings. */
function runHealthcheck(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const [command, ...args] = pkg.scripts.healthcheck!.split(' ');
  assert.equal(command, 'node');
  return new Promise((resolve) => {
    const child = spawn(NODE, args, { env: { PATH: process.env.PATH, HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => resolve({ code, output: output.trim() }));
  });
}

describe('npm run healthcheck', () => {
  let library: FixtureLibrary;
  const servers: TestServer[] = [];
  before(async () => {
    library = await makeFixtureLibrary({ seekBytes: 1024 * 1024 });
  });
  after(async () => {
    for (const s of servers) await s.close(0);
  });
  const start = async (env: Record<string, string>): Promise<TestServer> => {
    const server = await startTestServer(library.root, env);
    servers.push(server);
    return server;
  };

  for (const proxyProtocol of ['on', 'off'] as const) {
    it(`PROXY_PROTOCOL=${proxyProtocol}: a healthy instance exits 0`, async () => {
      const server = await start({ PROXY_PROTOCOL: proxyProtocol });
      const result = await runHealthcheck({ PORT: String(server.port), PROXY_PROTOCOL: proxyProtocol });
      assert.deepEqual(result, { code: 0, output: '/healthz: 200' });
    });
  }

  it('negative control: without the PROXY header an instance that wants one does not answer: exit 1', async () => {
    const server = await start({ PROXY_PROTOCOL: 'on' });
    const result = await runHealthcheck({ PORT: String(server.port), PROXY_PROTOCOL: 'off' });
    assert.equal(result.code, 1, result.output);
  });

  it('a draining instance, still listening during its announce period, exits 1 (503)', async () => {
    const server = await start({ PROXY_PROTOCOL: 'on', DRAIN_ANNOUNCE_MS: '2000' });
    const drained = server.drain(1000);
    const result = await runHealthcheck({ PORT: String(server.port), PROXY_PROTOCOL: 'on' });
    assert.deepEqual(result, { code: 1, output: '/healthz: 503' });
    await drained;
  });

  it('nothing listening: exit 1', async () => {
    const result = await runHealthcheck({ PORT: String(await freePort()) });
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /ECONNREFUSED/);
  });
});
