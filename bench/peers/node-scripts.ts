// The three Node peers that are small scripts beside this file (respondwithfd, fastify-static,
// koa-send): each runs as its own child on the project's Node, settings in the environment.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandOutputLine, freeLoopbackPort, makePeerDir, startChild } from './child-process.ts';
import type { Peer, PeerAvailability, PeerContext, PeerHandle } from './peer.ts';
import type { WorkloadName } from '../results-table.ts';
import { projectNodeBinary, projectRoot } from './project-node.ts';

const peersDir = path.dirname(fileURLToPath(import.meta.url));

interface ScriptPeerSpec {
  readonly name: string;
  readonly script: string;
  /** Packages the script imports beyond Node's own, checked by available(). */
  readonly packages: readonly string[];
  readonly workloads?: readonly WorkloadName[];
  readonly note?: string;
}

function scriptPeer(spec: ScriptPeerSpec): Peer {
  return {
    name: spec.name,
    kind: 'node',
    ...(spec.workloads ? { workloads: spec.workloads } : {}),
    ...(spec.note ? { note: spec.note } : {}),
    async available(): Promise<PeerAvailability> {
      const missing = spec.packages.filter((p) => !existsSync(path.join(projectRoot, 'node_modules', p, 'package.json')));
      if (missing.length > 0) return { ok: false, reason: `${missing.join(', ')} not installed: npm install` };
      const node = await commandOutputLine(projectNodeBinary(), ['--version'], /^v\d/);
      return { ok: true, version: `node ${node ?? 'unknown'}${spec.packages.map((p) => `, ${p} ${packageVersion(p)}`).join('')}` };
    },
    async start(ctx: PeerContext): Promise<PeerHandle> {
      const dir = await makePeerDir(ctx.workDir, spec.name);
      const port = await freeLoopbackPort();
      return startChild({
        name: spec.name,
        command: projectNodeBinary(),
        args: [path.join(peersDir, spec.script)],
        cwd: projectRoot,
        port,
        dir,
        env: {
          ...process.env,
          NODE_ENV: 'production',
          PORT: String(port),
          HOST: '127.0.0.1',
          MEDIA_ROOT: ctx.mediaRoot,
          TLS_CERT: ctx.certFile,
          TLS_KEY: ctx.keyFile,
        },
      });
    },
  };
}

function packageVersion(name: string): string {
  try {
    const manifest = JSON.parse(readFileSync(path.join(projectRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return manifest.version ?? '?';
  } catch {
    return '?';
  }
}

export const respondWithFdPeer = scriptPeer({ name: 'node-respondwithfd', script: 'respondwithfd-server.ts', packages: ['range-parser', 'mime-types'] });
export const fastifyStaticPeer = scriptPeer({ name: 'fastify-static', script: 'fastify-static-server.ts', packages: ['fastify', '@fastify/static'] });
export const koaSendPeer = scriptPeer({ name: 'koa-send', script: 'koa-send-server.ts', packages: ['koa', 'koa-send', 'range-parser'] });
/** The floor under any node:http2 file server (node-floor-server.ts), on the range workloads only. */
export const nodeFloorPeer = scriptPeer({
  name: 'node-h2-floor',
  script: 'node-floor-server.ts',
  packages: [],
  workloads: ['a-driver-1MiB', 'a-h2load-1MiB', 'a-node-1MiB', 'b-driver-64KiB', 'b-h2load-64KiB', 'b-node-64KiB'],
  note: '`node-h2-floor` is no server but the floor under every node:http2 file server: one fs.read per range into a reused buffer, respond, write, nothing else (bench/peers/node-floor-server.ts). It runs the range workloads only.',
});
