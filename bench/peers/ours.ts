// Peer `ours`: this server (server/main.ts) as a separate process, so its RSS is its own.

import path from 'node:path';
import { SETTINGS } from '../../server/config.ts';
import { commandOutputLine, freeLoopbackPort, makePeerDir, startChild } from './child-process.ts';
import type { Peer, PeerAvailability, PeerContext, PeerHandle } from './peer.ts';
import { projectNodeBinary, projectRoot } from './project-node.ts';

export const oursPeer: Peer = {
  name: 'ours',
  kind: 'ours',
  async available(): Promise<PeerAvailability> {
    const version = await commandOutputLine(projectNodeBinary(), ['--version'], /^v\d/);
    return { ok: true, version: `seekable on node ${version ?? 'unknown'}` };
  },
  async start(ctx: PeerContext): Promise<PeerHandle> {
    const dir = await makePeerDir(ctx.workDir, 'ours');
    const port = await freeLoopbackPort();
    // Only the bench's settings: a PORT or CHUNK_BYTES in the caller's environment must not leak in.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const setting of SETTINGS) delete env[setting.env];
    return startChild({
      name: 'ours',
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
      },
    });
  },
};
