// Which connections are busy, for the lifecycle code (timeouts, draining, rotation).
//
// A connection is busy while a request on it is being processed or its response is being
// produced: an HTTP/2 session with an open stream (a stream counts from its HEADERS until
// 'close', so a handler still working and a flow-control-stalled response both count), an
// HTTP/1.1 socket with a request whose response has not finished. Idle timers must only run
// on idle connections (Jetty 8 closed connections "idle" while a slow handler ran).
//
// HTTP/2 sessions and streams are followed through the connection registry
// (connection/connection-registry.ts: sessionHooks), which counts a stream as open before its
// handler sees it. HTTP/1.1 requests are counted from a 'request' listener placed before the application's, so
// a response that finishes at once cannot finish before it was counted.
//
// Nothing is reported for a connection after onClosed: when an HTTP/1.1 socket closes
// mid-response, our 'close' listener on it runs before the one Node adds per response, so the
// response's end came after onClosed as an onIdle, and a timer started then outlived the socket.
//
// tcpSocketOf() finds the TCP socket under a connection: session.destroy() does not close a
// socket whose write is stuck (a client that stopped reading; Node waits for that write to
// finish first, measured in bench/experiments/stuck-connection.ts), and Node's session.socket
// is a proxy that refuses destroy(). Sockets are matched by remote address and port, which are
// unique among one listener's open connections.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SessionHooks, SessionRecord, StreamRecord } from '../connection/connection-registry.ts';

export type Connection =
  | { readonly kind: 'h2'; readonly session: ServerHttp2Session }
  | { readonly kind: 'http/1.1'; readonly socket: Socket };

export interface ActivityListener {
  /** A connection has nothing in flight any more (also called once when it opens idle). */
  onIdle?(connection: Connection): void;
  /** A connection that was idle got a request or stream. */
  onBusy?(connection: Connection): void;
  /** The connection's socket closed. Nothing is reported for it afterwards. */
  onClosed?(connection: Connection): void;
}

interface Tracked {
  readonly connection: Connection;
  inFlight: number;
  isClosed: boolean;
  /** What is in flight: open streams (HTTP/2) or unfinished responses (HTTP/1.1). */
  readonly work: Set<ServerHttp2Stream | ServerResponse>;
}

export class ConnectionActivity {
  readonly #bySocket = new Map<Socket, Tracked>();
  readonly #bySession = new Map<ServerHttp2Session, Tracked>();
  readonly #listeners: ActivityListener[] = [];
  /** Accepted TCP sockets by remote address and port, until they close. */
  readonly #tcpByPeer = new Map<string, Socket>();

  /**
   * Follows every connection of `server`. `isSecure`: a TLS server with allowHTTP1, whose
   * sockets are HTTP/2 or HTTP/1.1 by ALPN; otherwise (h2c) every connection is HTTP/2.
   * Node's own connection listener runs first and has already made the session of an h2
   * socket, so the TLS socket of a session is recognised by its ALPN protocol.
   */
  track(server: Http2SecureServer | Http2Server, isSecure: boolean): void {
    // Ahead of Node's listener, which makes an h2c session (and emits 'session') right away.
    server.prependListener('connection', (socket: Socket) => this.#accepted(socket));
    if (!isSecure) return;
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return;
      const tracked: Tracked = { connection: { kind: 'http/1.1', socket }, inFlight: 0, isClosed: false, work: new Set() };
      this.#bySocket.set(socket, tracked);
      socket.once('close', () => {
        this.#bySocket.delete(socket);
        tracked.isClosed = true;
        this.#emit('onClosed', tracked.connection);
      });
      this.#emit('onIdle', tracked.connection);
    });
    server.prependListener('request', (req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => {
      if ('stream' in req && req.stream) return; // HTTP/2: counted per stream
      const tracked = this.#bySocket.get(req.socket as Socket);
      if (!tracked) return;
      tracked.work.add(res);
      this.#change(tracked, +1);
      let isDone = false;
      const done = (): void => {
        if (isDone) return;
        isDone = true;
        tracked.work.delete(res);
        this.#change(tracked, -1);
      };
      res.once('finish', done);
      res.once('close', done);
    });
  }

  subscribe(listener: ActivityListener): void {
    this.#listeners.push(listener);
  }

  /** Every open connection, HTTP/2 sessions and HTTP/1.1 sockets alike. */
  connections(): Connection[] {
    const all: Connection[] = [];
    for (const tracked of this.#bySocket.values()) all.push(tracked.connection);
    for (const tracked of this.#bySession.values()) all.push(tracked.connection);
    return all;
  }

  /** Requests (HTTP/1.1) or streams (HTTP/2) in flight on a connection; 0 if unknown. */
  inFlight(connection: Connection): number {
    const tracked = connection.kind === 'h2' ? this.#bySession.get(connection.session) : this.#bySocket.get(connection.socket);
    return tracked?.inFlight ?? 0;
  }

  /** The TCP socket under a connection (a TLS socket's too); undefined once it has closed. */
  tcpSocketOf(connection: Connection): Socket | undefined {
    // session.socket is Node's proxy: reading the address through it is allowed.
    const socket = connection.kind === 'h2' ? connection.session.socket : connection.socket;
    if (!socket) return undefined;
    return this.#tcpByPeer.get(peerKey(socket));
  }

  /** The open streams of an HTTP/2 session (for cancelling them at a drain deadline). */
  openStreams(session: ServerHttp2Session): ServerHttp2Stream[] {
    return [...(this.#bySession.get(session)?.work ?? [])] as ServerHttp2Stream[];
  }

  /** The unfinished responses on an HTTP/1.1 socket, pipelined ones included. */
  openResponses(socket: Socket): ServerResponse[] {
    return [...(this.#bySocket.get(socket)?.work ?? [])] as ServerResponse[];
  }

  /** Follows an HTTP/2 session: the connection registry calls these hooks. */
  sessionHooks(record: SessionRecord): SessionHooks {
    const session = record.session;
    const tracked: Tracked = { connection: { kind: 'h2', session }, inFlight: 0, isClosed: false, work: record.openStreams };
    this.#bySession.set(session, tracked);
    this.#emit('onIdle', tracked.connection);
    return {
      // The registry keeps record.openStreams (this tracked's work); only the counts are ours.
      streamOpened: () => this.#change(tracked, +1),
      streamClosed: (_stream: StreamRecord) => this.#change(tracked, -1),
      sessionClosed: () => {
        this.#bySession.delete(session);
        tracked.isClosed = true;
        this.#emit('onClosed', tracked.connection);
      },
    };
  }

  #accepted(socket: Socket): void {
    if (socket.remoteAddress === undefined) return; // already gone
    const key = peerKey(socket);
    this.#tcpByPeer.set(key, socket);
    socket.once('close', () => {
      if (this.#tcpByPeer.get(key) === socket) this.#tcpByPeer.delete(key);
    });
  }

  #change(tracked: Tracked, delta: 1 | -1): void {
    tracked.inFlight += delta;
    if (tracked.isClosed) return;
    if (delta === 1 && tracked.inFlight === 1) this.#emit('onBusy', tracked.connection);
    if (delta === -1 && tracked.inFlight === 0) this.#emit('onIdle', tracked.connection);
  }

  #emit(event: keyof ActivityListener, connection: Connection): void {
    for (const listener of this.#listeners) listener[event]?.(connection);
  }
}

function peerKey(socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
