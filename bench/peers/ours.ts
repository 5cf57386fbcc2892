// Peer `ours`: this server as a separate process, so its RSS is its own, started as `npm start`
// starts it: its prestart's compile-cache fill, then the start script's command (package.json)
// with the project's Node. The bench measures what users run.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SETTINGS } from '../../server/config.ts';
import { commandOutputLine, freeLoopbackPort, makePeerDir, startChild } from './child-process.ts';
import type { Peer, PeerAvailability, PeerContext, PeerHandle } from './peer.ts';
import { projectNodeBinary, projectRoot } from './project-node.ts';

/** This server with extra settings, e.g. READ_MODE=sync, as its own bench row. */
function oursWith(name: string, settings: Readonly<Record<string, string>>): Peer {
  return {
    ...oursPeer,
    name,
    async start(ctx: PeerContext): Promise<PeerHandle> {
      return startOurs(ctx, name, settings);
    },
  };
}

export const oursPeer: Peer = {
  name: 'ours',
  kind: 'ours',
  async available(): Promise<PeerAvailability> {
    const version = await commandOutputLine(projectNodeBinary(), ['--version'], /^v\d/);
    return { ok: true, version: `seekable on node ${version ?? 'unknown'}` };
  },
  start(ctx: PeerContext): Promise<PeerHandle> {
    return startOurs(ctx, 'ours', {});
  },
};

export const oursSyncReadPeer: Peer = oursWith('ours-sync-read', { READ_MODE: 'sync' });
export const oursAsyncReadPeer: Peer = oursWith('ours-async-read', { READ_MODE: 'async' });

/** `npm start`'s arguments to node: ['server/start.js']. */
function startArgs(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [command, ...args] = pkg.scripts.start!.split(' ');
  if (command !== 'node') throw new Error(`npm start runs ${command}, not node: bench/peers/ours.ts cannot start it`);
  return args;
}

async function startOurs(ctx: PeerContext, name: string, settings: Readonly<Record<string, string>>): Promise<PeerHandle> {
  const dir = await makePeerDir(ctx.workDir, name);
  const port = await freeLoopbackPort();
  // Only the bench's settings: a PORT or CHUNK_BYTES in the caller's environment must not leak in.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.env];
  const args = startArgs();
  // As prestart does: every module loaded once (--help prints the usage and exits), so Node's
  // compile cache holds them and the server does not load the TypeScript stripper (server/start.js).
  await promisify(execFile)(projectNodeBinary(), [...args, '--help'], { cwd: projectRoot, env }).catch(() => {});
  return startChild({
    name,
    command: projectNodeBinary(),
    args,
    cwd: projectRoot,
    port,
    dir,
    env: {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      MEDIA_ROOT: ctx.mediaRoot,
      TLS_CERT: ctx.certFile,
      TLS_KEY: ctx.keyFile,
      LOG_LEVEL: 'warn',
      DATA_DIR: dir,
      ...settings,
    },
  });
}
