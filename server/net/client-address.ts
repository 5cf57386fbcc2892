// Who the client is: the address a request's connection came from. Behind a proxy that speaks
// the PROXY protocol (net/proxy-listener.ts), that is the address the proxy announced for the
// connection, not the proxy's own; otherwise the socket's remote address.
//
// The announcement is made on the accepted TCP socket, but the code asking holds other objects
// for the same connection: the TLS socket wrapped around it, or Node's proxy of an HTTP/2
// session's socket (a Proxy is never the WeakMap key of its target). What they all share is
// the connection's four-tuple, unique among open TCP connections, so that is the key. An entry
// lives as long as its TCP socket.

import type { Socket } from 'node:net';

interface Endpoints {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

const announced = new Map<string, { readonly socket: Socket; readonly address: string }>();

function connectionKey(socket: Endpoints): string | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined; // gone
  return `${remoteAddress}|${remotePort}|${localAddress}|${localPort}`;
}

/** Records the client address a proxy announced for this (accepted, open) TCP connection. */
export function setAnnouncedAddress(socket: Socket, address: string): void {
  const key = connectionKey(socket);
  if (key === undefined) return;
  const isFirst = !announced.has(key);
  announced.set(key, { socket, address });
  if (!isFirst) return;
  socket.once('close', () => {
    if (announced.get(key)?.socket === socket) announced.delete(key);
  });
}

/**
 * The client's address for this connection: the TCP socket, the TLS socket over it, or an
 * HTTP/2 session's socket proxy. Undefined once the socket is gone.
 */
export function clientAddressOf(socket: Endpoints | null | undefined): string | undefined {
  if (!socket) return undefined;
  if (announced.size > 0) {
    const key = connectionKey(socket);
    const entry = key === undefined ? undefined : announced.get(key);
    if (entry) return entry.address;
  }
  return socket.remoteAddress;
}

/** Connections with an announced address (for tests: entries go with their sockets). */
export function announcedConnections(): number {
  return announced.size;
}
