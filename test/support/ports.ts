// Free loopback TCP ports for child processes that need a fixed port up front (HAProxy's
// config, an instance restarted on the port it had, redis-server).

import net from 'node:net';

/** A port nothing listens on right now (the OS picks it; a race with other programs is possible but rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
