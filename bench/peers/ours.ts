// Peer `ours`: this server (server/main.ts) as a separate process, so its RSS is its own.

import path from 'node:path';
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
export const oursAutoReadPeer: Peer = oursWith('ours-auto-read', { READ_MODE: 'auto' });

async function startOurs(ctx: PeerContext, name: string, settings: Readonly<Record<string, string>>): Promise<PeerHandle> {
  const dir = await makePeerDir(ctx.workDir, name);
  const port = await freeLoopbackPort();
  // Only the bench's settings: a PORT or CHUNK_BYTES in the caller's environment must not leak in.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.env];
  return startChild({
    name,
    command: projectNodeBinary(),
    args: [path.join(projectRoot, 'server/main.ts')],
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
