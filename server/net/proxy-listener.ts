// PROXY_PROTOCOL=on: the listening socket is a plain net.Server in front of the TLS (or h2c)
// server. Each connection must start with a PROXY v1 or v2 header (net/proxy-protocol.ts)
// within HEADER_TIMEOUT_MS; the announced client address is recorded for the connection
// (net/client-address.ts), the bytes after the header are put back, and the socket is handed
// to the real server with `emit('connection')`, exactly as if that server had accepted it.
// So every 'connection' listener of the real server (connection activity, the header timeout
// for TLS and HTTP/2, per-client limits, the drain's socket list) runs after the header, and
// per-client limits see the client the proxy announced. A connection without a valid header
// is destroyed, counted and logged (at most one line a second).
//
// The outer server is the one that listens, so it is the one a drain closes: net.Server's
// close() waits for the connections it accepted, which are the same sockets the inner server
// serves. Its 'listening' is passed on, so Node's HTTP/1.1 connection tracking (used by
// closeIdleConnections() during a drain) starts on the inner server as it would have.
// Buffered bytes are safe to hand over: TLS and HTTP/2 sessions read what is already queued
// on the socket before they take its handle (checked in test/integration/proxy-protocol.test.ts).

import net from 'node:net';
import type { Server, Socket } from 'node:net';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { setAnnouncedAddress } from './client-address.ts';
import { parseProxyHeader, PROXY_HEADER_MAX_BYTES } from './proxy-protocol.ts';
import type { ProxyRefusal } from './proxy-protocol.ts';

export type ProxyGateRefusal = ProxyRefusal | 'timeout' | 'closed';

export interface ProxyProtocolGateOptions {
  readonly headerTimeoutMs: number;
  readonly registry: Registry;
  readonly log: Logger;
}

const LOG_INTERVAL_MS = 1000;

/** One per process: wraps each listener; counts refusals for all of them. */
export class ProxyProtocolGate {
  readonly #options: ProxyProtocolGateOptions;
  readonly #refused: Counter<'reason'>;
  #lastLogAt = -Infinity;
  #suppressed = 0;

  constructor(options: ProxyProtocolGateOptions) {
    this.#options = options;
    this.#refused = new Counter({
      name: 'media_proxy_protocol_refused_total',
      help: 'Connections closed for a missing or invalid PROXY protocol header (PROXY_PROTOCOL=on), by reason',
      labelNames: ['reason'] as const,
      registers: [options.registry],
    });
  }

  /** A net.Server to listen on instead of `inner`; `inner` gets each connection once its header is read. */
  wrap(inner: Server): Server {
    const outer = net.createServer((socket) => this.#readHeader(socket, inner));
    outer.on('listening', () => inner.emit('listening'));
    return outer;
  }

  #readHeader(socket: Socket, inner: Server): void {
    let received: Buffer = Buffer.alloc(0);
    let isDone = false;
    const finish = (): void => {
      isDone = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const refuse = (reason: ProxyGateRefusal, detail: string): void => {
      finish();
      socket.destroy();
      this.#refuse(reason, detail, socket, received.length);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received.subarray(0, PROXY_HEADER_MAX_BYTES));
      if (parsed.status === 'incomplete') {
        if (received.length >= PROXY_HEADER_MAX_BYTES) refuse('oversized', 'no complete header');
        return;
      }
      if (parsed.status === 'invalid') return refuse(parsed.reason, parsed.detail);
      finish();
      socket.pause(); // the inner server's reader takes over from here
      if (parsed.header.command === 'proxy') setAnnouncedAddress(socket, parsed.header.sourceAddress);
      if (received.length > parsed.length) socket.unshift(received.subarray(parsed.length));
      inner.emit('connection', socket);
    };
    const onError = (): void => {}; // 'close' follows; nothing was handed over yet
    const onClose = (): void => {
      if (!isDone) refuse('closed', 'closed before a complete header');
    };
    const timer = setTimeout(() => refuse('timeout', `no complete header within ${this.#options.headerTimeoutMs} ms`), this.#options.headerTimeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  #refuse(reason: ProxyGateRefusal, detail: string, socket: Socket, bytes: number): void {
    this.#refused.inc({ reason });
    // A port scan must not flood the log: one line a second, the next says how many were left out.
    const now = performance.now();
    if (now - this.#lastLogAt < LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#lastLogAt = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#options.log.warn(
      { reason, detail, peer: socket.remoteAddress, bytes, ...(suppressed > 0 ? { suppressed } : {}) },
      'connection refused: no valid PROXY protocol header',
    );
  }
}
