// The load tool must work as an installed CLI. Node refuses to strip types from files under
// node_modules, so the build emits plain JavaScript; this builds it into a fake node_modules
// and runs it from there.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

it('the CLI built by `npm run build:cli` runs from inside node_modules', async () => {
  const installed = path.join(await mkdtemp(path.join(os.tmpdir(), 'cli-')), 'node_modules/seekable/dist');
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', installed]);
  const cli = path.join(installed, 'loadtest/cli.js');
  const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout + help.stderr, /Usage: /);
  const usage = spawnSync(process.execPath, [cli, 'https://localhost:1/x', '--viewers', 'abc'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(usage.status, 2, 'a usage error exits 2 from the installed build too');
});
