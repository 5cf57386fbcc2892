// Peer `caddy`: Debian's Caddy (2.6) from a generated JSON config: no admin endpoint, no
// automatic HTTPS (no certificate management, no :80 redirect listener), the bench's
// certificate, `file_server` over the media root under /media/ (the prefix stripped, as
// Caddyfile's `handle_path` does), h1+h2 only (no UDP listener for h3). GOMAXPROCS=1 so it
// gets one core like nginx's single worker and h2o's single thread; its data and config
// folders (XDG_DATA_HOME, XDG_CONFIG_HOME) are in the peer's own folder.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { commandOutputLine, freeLoopbackPort, isExecutable, makePeerDir, startChild } from './child-process.ts';
import type { Peer, PeerAvailability, PeerContext, PeerHandle } from './peer.ts';

const CADDY = '/usr/bin/caddy';

export const caddyPeer: Peer = {
  name: 'caddy',
  kind: 'native',
  async available(): Promise<PeerAvailability> {
    if (!(await isExecutable(CADDY))) return { ok: false, reason: `caddy not installed (${CADDY}): bash bench/install-peers.sh, or apt-get install caddy` };
    const version = await commandOutputLine(CADDY, ['version'], /^v?\d/);
    return { ok: true, version: version && `caddy ${version}` };
  },
  async start(ctx: PeerContext): Promise<PeerHandle> {
    const dir = await makePeerDir(ctx.workDir, 'caddy');
    const port = await freeLoopbackPort();
    const dataHome = path.join(dir, 'data');
    const configHome = path.join(dir, 'config');
    await Promise.all([mkdir(dataHome), mkdir(configHome)]);
    const conf = path.join(dir, 'caddy.json');
    await writeFile(conf, `${JSON.stringify(caddyConfig({ ...ctx, port, dataHome }), null, 2)}\n`);
    return startChild({
      name: 'caddy',
      command: CADDY,
      args: ['run', '--config', conf],
      port,
      dir,
      env: { ...process.env, GOMAXPROCS: '1', XDG_DATA_HOME: dataHome, XDG_CONFIG_HOME: configHome },
    });
  },
};

export function caddyConfig(o: PeerContext & { port: number; dataHome: string }): unknown {
  return {
    admin: { disabled: true, config: { persist: false } },
    logging: { logs: { default: { level: 'WARN' } } },
    storage: { module: 'file_system', root: path.join(o.dataHome, 'caddy') },
    apps: {
      http: {
        grace_period: '1s', // SIGTERM waits at most this long for open connections (a stalled client)
        servers: {
          bench: {
            listen: [`127.0.0.1:${o.port}`],
            protocols: ['h1', 'h2'],
            automatic_https: { disable: true },
            // A client that sends no SNI (a bare IP) still gets the bench's certificate.
            tls_connection_policies: [{ default_sni: 'localhost' }],
            routes: [
              {
                match: [{ path: ['/media/*'] }],
                handle: [
                  { handler: 'rewrite', strip_path_prefix: '/media' },
                  { handler: 'file_server', root: o.mediaRoot },
                ],
                terminal: true,
              },
            ],
          },
        },
      },
      // Caddy logs one "stapling OCSP" warning at start: the certificate names no responder, so
      // nothing is fetched.
      tls: { certificates: { load_files: [{ certificate: o.certFile, key: o.keyFile }] } },
    },
  };
}
