// Who the client is: the address a request's connection came from. Behind a proxy that speaks
// the PROXY protocol (net/proxy-listener.ts), that is the address the proxy announced for the
// connection, not the proxy's own; otherwise the socket's remote address.
//
// The announcement is kept on the accepted TCP socket itself, so it lives and goes with it. The
// code asking holds other objects for the same connection, and each leads back to that socket:
// a TLS socket names the TCP socket it wraps as `_parent` (Node's tls module, unchanged since
// Node 0.x), and Node's proxy of an HTTP/2 session's socket forwards every property read,
// symbols included, to the socket it stands for.

import type { Socket } from 'node:net';

const kAnnounced = Symbol('announcedClientAddress');

interface Carrier {
  readonly remoteAddress?: string | undefined;
  [kAnnounced]?: string;
  /** A TLS socket's TCP socket. */
  readonly _parent?: Carrier | null;
}

/** No proxy announced anything yet: skip the lookups (PROXY_PROTOCOL off, the usual case). */
let isAnyAnnounced = false;

/** Records the client address a proxy announced for this (accepted, open) TCP connection. */
export function setAnnouncedAddress(socket: Socket, address: string): void {
  (socket as Carrier)[kAnnounced] = address;
  isAnyAnnounced = true;
}

/**
 * The client's address for this connection: the TCP socket, the TLS socket over it, or an
 * HTTP/2 session's socket proxy. Undefined once the socket is gone.
 */
export function clientAddressOf(socket: object | null | undefined): string | undefined {
  if (!socket) return undefined;
  const carrier = socket as Carrier;
  if (isAnyAnnounced) {
    const announced = carrier[kAnnounced] ?? carrier._parent?.[kAnnounced];
    if (announced !== undefined) return announced;
  }
  return carrier.remoteAddress;
}
