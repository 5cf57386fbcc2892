// A client standing in for a PROXY-protocol proxy (HAProxy's send-proxy-v2): it opens the TCP
// connection, writes the header, then speaks TLS (h2 by ALPN) or h2c over the same socket.

import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

/** How the header reaches the server: its own segment, in one with what follows, or a byte at a time. */
export type HeaderDelivery = 'separate' | 'coalesced' | 'trickled';

export interface ProxiedConnectOptions {
  readonly port: number;
  readonly transport: 'tls' | 'h2c';
  readonly header: Buffer;
  readonly delivery?: HeaderDelivery;
  /** The server's certificate to trust; without it any certificate is accepted. */
  readonly ca?: string;
}

/** An HTTP/2 session over a TCP connection that starts with `header`. */
export async function connectProxied(options: ProxiedConnectOptions): Promise<http2.ClientHttp2Session> {
  const { port, transport, header, delivery = 'separate' } = options;
  const raw = net.connect(port, '127.0.0.1');
  raw.on('error', () => {});
  // Written while connecting, the header leaves in one segment with the ClientHello or preface.
  if (delivery === 'coalesced') raw.write(header);
  else {
    await once(raw, 'connect');
    const pieces = delivery === 'trickled' ? [...header].map((b) => Buffer.from([b])) : [header];
    for (const piece of pieces) {
      await new Promise((resolve) => raw.write(piece, resolve));
      if (delivery === 'trickled') await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  const trust = options.ca ? { ca: options.ca } : { rejectUnauthorized: false };
  const socket = transport === 'tls' ? tls.connect({ socket: raw, ALPNProtocols: ['h2'], servername: 'localhost', ...trust }) : raw;
  socket.on('error', () => {});
  const authority = transport === 'tls' ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  const session = http2.connect(authority, { createConnection: () => socket });
  session.on('error', () => {});
  return session;
}
