// HTTP/1.1 over TLS for integration tests: node:https through one keep-alive Agent that trusts
// the test server's certificate, so the assertions written for HTTP/2 run unchanged over h1.
// The request path is sent exactly as given (node:https does not normalise "..").

import https from 'node:https';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { FetchResult, TestServer } from './server-harness.ts';

export interface Http1Client {
  request(method: string, path: string, headers?: OutgoingHttpHeaders): Promise<FetchResult>;
  /** TLS connections opened so far; with keep-alive, far fewer than requests. */
  readonly connectionsOpened: number;
  close(): void;
}

export function connectHttp1(server: TestServer): Http1Client {
  // One socket, reused: sequential requests must all ride the same connection.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: server.tlsCert, servername: 'localhost' });
  const seen = new WeakSet<Socket>();
  let connectionsOpened = 0;
  return {
    request(method, path, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: server.port, method, path, headers, agent });
        req.on('socket', (socket: Socket) => {
          if (seen.has(socket)) return;
          seen.add(socket);
          connectionsOpened++;
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    },
    get connectionsOpened() {
      return connectionsOpened;
    },
    close() {
      agent.destroy();
    },
  };
}
