// `npm run healthcheck`: a container's health check (docker-compose.yml; slim images have no
// curl). GET /healthz on this instance's own TLS port, after a PROXY v2 LOCAL header when
// PROXY_PROTOCOL is on, as HAProxy's checks arrive; exit 0 on 200, 1 otherwise (503 while
// draining, no answer within the timeout, refused). The settings are the server's own: the same
// environment, read by the same loadConfig().

import net from 'node:net';
import tls from 'node:tls';
import { loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { encodeProxyV2 } from './net/proxy-protocol.ts';

export const HEALTH_CHECK_PATH = '/healthz';
const TIMEOUT_MS = 3000;

/** The status /healthz answered, or an Error saying why there was none. */
export function checkHealth(config: Pick<Config, 'host' | 'port' | 'proxyProtocol'>, timeoutMs = TIMEOUT_MS): Promise<number | Error> {
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  return new Promise((resolve) => {
    const raw = net.connect(config.port, host);
    if (config.proxyProtocol) raw.write(encodeProxyV2({ command: 'local' }));
    // The certificate may be self-signed; this only asks the instance on this machine.
    const socket = tls.connect({ socket: raw, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let head = '';
    let isDone = false;
    const finish = (result: number | Error): void => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => socket.write(`GET ${HEALTH_CHECK_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      if (status) finish(Number(status[1]));
      else if (head.includes('\r\n')) finish(new Error(`not an HTTP/1.1 status line: ${JSON.stringify(head.split('\r\n')[0])}`));
    });
    raw.once('error', (err) => finish(err)); // a refused connect is reported here, not on the TLS socket
    socket.once('error', (err) => finish(err));
    // After any 'error' of either socket, which says more.
    socket.once('close', () => setImmediate(() => finish(new Error('closed before an answer'))));
  });
}

if (import.meta.main) {
  const result = await checkHealth(loadConfig());
  process.stdout.write(`${HEALTH_CHECK_PATH}: ${result instanceof Error ? result.message : result}\n`);
  process.exit(result === 200 ? 0 : 1);
}
