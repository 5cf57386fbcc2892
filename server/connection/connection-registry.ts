// One owner for every connection of the server's listeners: TCP sockets, the HTTP/2 sessions
// and streams on them, and the HTTP/1.1 responses (STYLE.md 11).
//
// The registry attaches every connection listener of ours, once. On each server: 'connection'
// (ahead of Node's), 'secureConnection' (TLS: which protocol ALPN chose), 'session', 'stream'
// and 'request' (ahead of the application's). Per TCP socket one 'close'; per session one
// 'stream', one 'remoteSettings', one 'close' and one 'error'; per stream one 'close' and one
// 'error' (and 'aborted' on a stream with a request body); per HTTP/1.1 response one 'finish'
// and one 'close'. They are shared functions that find their record on the emitter (no closure
// per stream). What other modules keep per session (SessionState) is told when the session and
// its socket close, and a response sink when its stream or response closes, so none of them
// listens on a connection itself. Each connection has one ConnectionRecord, each session one SessionRecord, each
// stream one StreamRecord; the guards are hooks the registry calls in the order the composition
// root (server.ts) lists them, and they keep their state on those records or in hook objects
// made per connection, not in maps of their own.
//
// A connection, in order:
// 1. accepted: its record is made and every connection hook factory runs (the client limits
//    first: a refused socket is destroyed and nothing else follows it);
// 2. its protocol is known (an HTTP/2 session was made, or TLS chose HTTP/1.1): idle();
// 3. the client's first SETTINGS or HTTP/1.1 request head: headReceived();
// 4. busy() when its first stream or response opens, idle() when its last one is done (a
//    stream counts from its HEADERS until 'close', an HTTP/1.1 response from its request head
//    until it finished or closed), so a slow handler or a stalled response is never idle;
// 5. closed(): its HTTP/2 session closed or its socket did, whichever came first.
//
// A stream, in order:
// 1. HEADERS read: the record is made, the connection turns busy if it was idle, every hook's
//    streamOpened() runs (the stream counts as open before any handler sees it, so a rotation
//    or a drain decided there counts it), then the stream goes to its handler (`dispatch`: the
//    media fast path, else Node's compat bridge to Koa), unless a hook refused it.
// 2. 'aborted', on a stream with a request body (an upload): the peer reset the stream while
//    its request or response was open. It comes synchronously with the reset, before Node's
//    compat request reports the body as cut off, so body-overflow.ts can mark the stream first.
//    A GET has no use for it: its early reset is counted at 'close', in the same event-loop turn.
// 3. 'close': the response sink first (it reports what a peer reset left in Node's session
//    memory and stops its stalled-write watch), then the connection turns idle if that was its
//    last stream, then every hook's streamClosed().
//
// Node makes a server session's streams emit on the server ('stream') through one listener of
// its own, the compat bridge that builds Koa's request and response. The registry takes that
// listener's place and hands it the streams `dispatch` does not take.
//
// A session's socket is Node's proxy of the TLS or TCP socket, and a TLS socket names the TCP
// socket it wraps as `_parent` (Node's tls module): both lead back to the accepted socket,
// where the connection's record is kept.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, Http2Session, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** What the registry keeps per stream; hooks and the sink read and mark it. */
export class StreamRecord {
  readonly stream: ServerHttp2Stream;
  readonly session: SessionRecord;
  /** The event-loop turn its HEADERS were read in (flood-guard.ts: early resets). */
  readonly openedInTurn: number;
  /** The flood guard counted its reset as early. */
  isEarlyResetCounted = false;
  /** This server reset the stream (a cancel, an abandon), not the client. */
  isCancelledByServer = false;
  /** Reset for carrying more DATA than its Content-Length (http2/body-overflow.ts). */
  isBodyOverflow = false;
  /** Its request has a Content-Length and its body may still be arriving (http2/body-overflow.ts). */
  isBodyArriving = false;
  /** The response sink writing to the stream: told first when it closes. */
  sink: StreamCloseListener | undefined;
  /** A hook refused the stream (its connection is being ended as a flood): no handler gets it. */
  isRefused = false;

  /** Made as the stream's HEADERS are read; streamRecordOf(stream) finds it from then on. */
  constructor(stream: ServerHttp2Stream, session: SessionRecord) {
    this.stream = stream;
    this.session = session;
    this.openedInTurn = eventLoopTurn();
    (stream as WithRecord<ServerHttp2Stream, StreamRecord>)[kRecord] = this;
  }
}

export interface StreamCloseListener {
  streamClosed(): void;
}

/** A guard's view of one session: called by the registry, in the listed order. */
export interface SessionHooks {
  /** A stream's HEADERS were read. False: refuse it (it was closed; no handler gets it). */
  streamOpened?(record: StreamRecord, headers: IncomingHttpHeaders): boolean | void;
  /** The peer reset a stream with a request body while it was open (see the header, 2.). */
  streamAborted?(record: StreamRecord): void;
  streamClosed?(record: StreamRecord): void;
  sessionError?(err: Error): void;
  sessionClosed?(): void;
}

/** Makes a guard's hooks for a new session; undefined: this guard does not follow it. */
export type SessionHookFactory = (record: SessionRecord) => SessionHooks | undefined;

/** What the registry tells a kind of session state when its session or socket closes. */
export interface SessionStateEnds<T> {
  /** The session closed (its streams are closed; its socket may still be writing). */
  readonly sessionClosed?: (state: T) => void;
  /** The connection's TCP socket closed: nothing of the session is written any more. */
  readonly socketClosed?: (state: T) => void;
}

/**
 * A kind of state another module keeps per session (the sinks' write accounting and owed
 * callbacks, the stalled streams' quarantine), made on a session's first use
 * (SessionRecord.stateOf) and told by the registry when the session and its socket close, so
 * no module needs listeners of its own on them.
 */
export class SessionState<T> {
  readonly make: (record: SessionRecord) => T | undefined;
  readonly ends: SessionStateEnds<T>;

  constructor(make: (record: SessionRecord) => T | undefined, ends: SessionStateEnds<T> = {}) {
    this.make = make;
    this.ends = ends;
  }
}

/** What the registry keeps per session. */
export class SessionRecord {
  readonly session: ServerHttp2Session;
  /** The connection the session runs on (undefined for a server the registry does not track). */
  readonly connection: ConnectionRecord | undefined;
  readonly hooks: SessionHooks[] = [];
  /** Streams from HEADERS to 'close'. */
  readonly openStreams = new Set<ServerHttp2Stream>();
  /** Streams the client opened, ever. */
  streamsOpened = 0;
  isClosed = false;
  /**
   * Our graceful close (lifecycle/session-drain.ts): 'first-goaway' while the client's SETTINGS
   * ACK is awaited, 'closing' once the final GOAWAY is out.
   */
  closeStep: 'open' | 'first-goaway' | 'closing' = 'open';
  /** Sends the final GOAWAY if the client never acknowledges the first step's SETTINGS. */
  finalGoawayTimer: NodeJS.Timeout | undefined = undefined;
  /** Keyed by kind; each value is of its kind's type. */
  readonly #state = new Map<object, unknown>();

  constructor(session: ServerHttp2Session, connection: ConnectionRecord | undefined) {
    this.session = session;
    this.connection = connection;
  }

  /** This session's state of a kind, made on first use (undefined: its kind made none). */
  stateOf<T>(kind: SessionState<T>): T | undefined {
    let state = this.#state.get(kind) as T | undefined;
    if (state === undefined) {
      state = kind.make(this);
      if (state !== undefined) this.#state.set(kind, state);
    }
    return state;
  }

  /** For the registry: tells every state made of this session that its session or socket closed. */
  endStates(end: keyof SessionStateEnds<unknown>): void {
    for (const [kind, state] of this.#state) (kind as SessionState<unknown>).ends[end]?.(state);
  }

  /** The hooks of this session made by a class of guard (SessionGuard, FloodGuard...). */
  hookOf<T extends SessionHooks>(kind: abstract new (...args: never[]) => T): T | undefined {
    for (const hooks of this.hooks) if (hooks instanceof kind) return hooks;
    return undefined;
  }
}

/** A guard's view of one connection: called by the registry, in the listed order. */
export interface ConnectionHooks {
  /** The client's first HTTP/2 SETTINGS, or its first HTTP/1.1 request head. */
  headReceived?(): void;
  /** The first stream or response opened on a connection with none. */
  busy?(): void;
  /** The last stream or response is done; also once when the protocol became known. */
  idle?(): void;
  /** An HTTP/1.1 request head arrived; the application sees it next. */
  requestReceived?(res: ServerResponse): void;
  /** Its HTTP/2 session closed or its socket did, whichever came first. Nothing follows. */
  closed?(): void;
}

/**
 * Makes a guard's hooks for a new connection; undefined: this guard does not follow it; false:
 * the guard refused the connection (and destroyed its socket), no other guard sees it.
 */
export type ConnectionHookFactory = (record: ConnectionRecord) => ConnectionHooks | false | undefined;

/** What the registry keeps per accepted TCP connection. */
export class ConnectionRecord {
  /** The accepted TCP socket (under TLS, the socket the TLS socket wraps). */
  readonly socket: Socket;
  readonly hooks: ConnectionHooks[] = [];
  /** Known once TLS chose it (HTTP/1.1) or a session was made (HTTP/2). */
  protocol: 'pending' | 'h2' | 'http/1.1' = 'pending';
  /** HTTP/2: the session on it. */
  session: SessionRecord | undefined = undefined;
  /** HTTP/1.1: the socket requests arrive on (the TLS socket over `socket`). */
  http1Socket: Socket | undefined = undefined;
  /** HTTP/1.1: responses from their request head until they finished or closed. */
  readonly responses = new Set<ServerResponse>();
  isHeadReceived = false;
  isClosed = false;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Streams (HTTP/2) or responses (HTTP/1.1) in flight. */
  get inFlight(): number {
    return this.session ? this.session.openStreams.size : this.responses.size;
  }

  /** The hooks of this connection made by a class of guard. */
  hookOf<T extends ConnectionHooks>(kind: abstract new (...args: never[]) => T): T | undefined {
    for (const hooks of this.hooks) if (hooks instanceof kind) return hooks;
    return undefined;
  }
}

export interface RegistryHooks {
  /** The connection guards, in the order their hooks run. */
  readonly connection: readonly ConnectionHookFactory[];
  /** The session guards, in the order their hooks run. */
  readonly session: readonly SessionHookFactory[];
}

/** Serves a stream; false: not ours, Node's compat bridge (Koa) takes it. */
export type StreamDispatch = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => void;

const kRecord = Symbol('connectionRecord');

type WithRecord<T, R> = T & { [kRecord]?: R };

/** The registry's record of a stream (undefined for a stream of a server it does not track). */
export function streamRecordOf(stream: ServerHttp2Stream): StreamRecord | undefined {
  return (stream as WithRecord<ServerHttp2Stream, StreamRecord>)[kRecord];
}

/**
 * The connection record of a socket: the accepted TCP socket, the TLS socket over it, or Node's
 * proxy of a session's socket. Undefined for a socket of a server the registry does not track.
 */
export function connectionRecordOf(socket: object | null | undefined): ConnectionRecord | undefined {
  if (!socket) return undefined;
  const carrier = socket as WithRecord<{ readonly _parent?: object | null }, ConnectionRecord>;
  return carrier[kRecord] ?? (carrier._parent as WithRecord<object, ConnectionRecord> | null | undefined)?.[kRecord];
}

/** The registry's record of a session (undefined also for a destroyed stream's missing session). */
export function sessionRecordOf(session: Http2Session | undefined): SessionRecord | undefined {
  return (session as WithRecord<Http2Session, SessionRecord> | undefined)?.[kRecord];
}

export class ConnectionRegistry {
  readonly #hooks: RegistryHooks;
  readonly #connections = new Set<ConnectionRecord>();

  constructor(hooks: RegistryHooks) {
    this.#hooks = hooks;
  }

  /** Every open connection, those still in their TLS handshake included. */
  connections(): IterableIterator<ConnectionRecord> {
    return this.#connections.values();
  }

  /**
   * Follows every connection of `server`: call before listen(), after the application
   * ('request' handler) is set. `dispatch` serves the streams it takes; Node's compat bridge
   * gets the rest. False when Node's 'stream' listeners are not laid out as expected: then
   * every stream goes to them unchanged (after the hooks), and `dispatch` is not used.
   */
  track(server: Http2SecureServer | Http2Server, dispatch?: StreamDispatch): boolean {
    // Ahead of Node's listener, which makes an h2c session (and emits 'session') at once.
    server.prependListener('connection', (socket: Socket) => this.#accepted(socket));
    server.on('secureConnection', onSecureConnection);
    server.on('session', (session: ServerHttp2Session) => this.#sessionOpened(session));
    server.prependListener('request', onRequest);
    const listeners = server.listeners('stream') as StreamListener[];
    if (listeners.length !== 1) return false; // not the layout we know: the handlers stay as they are
    const compatBridge = listeners[0]!;
    server.removeListener('stream', compatBridge);
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      if (streamRecordOf(stream)?.isRefused) return;
      if (dispatch?.(stream, headers) !== true) compatBridge.call(server, stream, headers, ...rest);
    });
    return true;
  }

  #accepted(socket: Socket): void {
    if (socket.destroyed || socket.remoteAddress === undefined) return; // already gone
    const record = new ConnectionRecord(socket);
    for (const factory of this.#hooks.connection) {
      const hooks = factory(record);
      if (hooks === false) return; // refused: its socket is destroyed
      if (hooks) record.hooks.push(hooks);
    }
    (socket as WithRecord<Socket, ConnectionRecord>)[kRecord] = record;
    this.#connections.add(record);
    socket.once('close', () => {
      this.#connections.delete(record);
      connectionClosed(record);
      record.session?.endStates('socketClosed');
    });
  }

  #sessionOpened(session: ServerHttp2Session): void {
    const connection = connectionRecordOf(session.socket);
    const record = new SessionRecord(session, connection);
    (session as WithRecord<ServerHttp2Session, SessionRecord>)[kRecord] = record;
    for (const factory of this.#hooks.session) {
      const hooks = factory(record);
      if (hooks) record.hooks.push(hooks);
    }
    // Ahead of Node's own listener, which hands the stream to the server ('stream') and so to
    // its handler. The session is the emitter: a stream the client reset in the same read as
    // its HEADERS arrives here destroyed already, without a stream.session.
    session.prependListener('stream', onSessionStream);
    session.on('error', onSessionError);
    session.once('close', onSessionClose);
    if (!connection) return;
    connection.protocol = 'h2';
    connection.session = record;
    session.once('remoteSettings', onRemoteSettings);
    for (const hooks of connection.hooks) hooks.idle?.();
  }
}

/** TLS chose a protocol: HTTP/2 is followed from its session, HTTP/1.1 from here. */
function onSecureConnection(socket: TLSSocket): void {
  if (socket.alpnProtocol === 'h2') return;
  const record = connectionRecordOf(socket);
  if (!record || record.isClosed) return;
  record.protocol = 'http/1.1';
  record.http1Socket = socket;
  for (const hooks of record.hooks) hooks.idle?.();
}

/** An HTTP/1.1 request head (HTTP/2 streams are followed per session). */
function onRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse): void {
  if ('stream' in req && req.stream) return;
  const record = connectionRecordOf(req.socket);
  if (!record || record.isClosed) return;
  record.responses.add(res);
  (res as WithRecord<ServerResponse, ConnectionRecord>)[kRecord] = record;
  if (!record.isHeadReceived) headReceived(record);
  if (record.responses.size === 1) for (const hooks of record.hooks) hooks.busy?.();
  for (const hooks of record.hooks) hooks.requestReceived?.(res);
  res.once('finish', onResponseDone);
  res.once('close', onResponseClose);
}

function onResponseDone(this: ServerResponse): void {
  const record = (this as WithRecord<ServerResponse, ConnectionRecord>)[kRecord];
  if (!record?.responses.delete(this)) return; // counted down already ('finish', then 'close')
  if (record.responses.size === 0 && !record.isClosed) for (const hooks of record.hooks) hooks.idle?.();
}

function onResponseClose(this: ServerResponse): void {
  (this as WithSink)[kSink]?.streamClosed(); // the response sink first, as on a stream
  onResponseDone.call(this);
}

const kSink = Symbol('responseSink');

type WithSink = ServerResponse & { [kSink]?: StreamCloseListener };

/**
 * The registry tells `sink` when an HTTP/1.1 response it follows closes (before anyone else).
 * False for a response of a server it does not track: the caller listens itself.
 */
export function followResponseClose(res: ServerResponse, sink: StreamCloseListener): boolean {
  if (!(res as WithRecord<ServerResponse, ConnectionRecord>)[kRecord]) return false;
  (res as WithSink)[kSink] = sink;
  return true;
}

function onRemoteSettings(this: ServerHttp2Session): void {
  const connection = sessionRecordOf(this)?.connection;
  if (connection && !connection.isHeadReceived && !connection.isClosed) headReceived(connection);
}

function headReceived(record: ConnectionRecord): void {
  record.isHeadReceived = true;
  for (const hooks of record.hooks) hooks.headReceived?.();
}

function connectionClosed(record: ConnectionRecord): void {
  if (record.isClosed) return;
  record.isClosed = true;
  for (const hooks of record.hooks) hooks.closed?.();
}

/** Makes the stream's record and runs the hooks; a hook may refuse the stream. */
function onSessionStream(this: ServerHttp2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const session = sessionRecordOf(this);
  if (!session) return;
  const record = new StreamRecord(stream, session);
  session.openStreams.add(stream);
  session.streamsOpened++;
  const connection = session.connection;
  if (connection && session.openStreams.size === 1 && !connection.isClosed) for (const hooks of connection.hooks) hooks.busy?.();
  // Errors of a stream are reported by how it closed; an 'error' listener keeps a peer's
  // non-CANCEL reset from becoming an uncaught exception.
  stream.on('error', ignoreError);
  if (!stream.endAfterHeaders) stream.on('aborted', onStreamAborted);
  stream.on('close', onStreamClose);
  for (const hooks of session.hooks) if (hooks.streamOpened?.(record, headers) === false) record.isRefused = true;
}

function ignoreError(): void {}

function onStreamAborted(this: ServerHttp2Stream): void {
  const record = streamRecordOf(this);
  if (!record) return;
  for (const hooks of record.session.hooks) hooks.streamAborted?.(record);
}

function onStreamClose(this: ServerHttp2Stream): void {
  const record = streamRecordOf(this);
  if (!record) return;
  record.sink?.streamClosed();
  const session = record.session;
  session.openStreams.delete(this);
  const connection = session.connection;
  if (connection && session.openStreams.size === 0 && !connection.isClosed) for (const hooks of connection.hooks) hooks.idle?.();
  for (const hooks of session.hooks) hooks.streamClosed?.(record);
}

function onSessionError(this: ServerHttp2Session, err: Error): void {
  const record = sessionRecordOf(this);
  if (record) for (const hooks of record.hooks) hooks.sessionError?.(err);
}

function onSessionClose(this: ServerHttp2Session): void {
  const record = sessionRecordOf(this);
  if (!record) return;
  record.isClosed = true;
  clearTimeout(record.finalGoawayTimer); // lifecycle/session-drain.ts: nothing left to close
  for (const hooks of record.hooks) hooks.sessionClosed?.();
  record.endStates('sessionClosed');
  if (record.connection) connectionClosed(record.connection);
}

/**
 * Event-loop turns, counted only while streams open: a reset read in the same turn as its
 * stream's HEADERS was sent before the client could have seen any answer (the answer is
 * written in that turn at the earliest, and read by the client later). The process has one
 * event loop, so one counter serves every server.
 */
let turn = 0;
let isTurnEndScheduled = false;

/** The current event-loop turn, as StreamRecord.openedInTurn counts them. */
export function eventLoopTurn(): number {
  if (!isTurnEndScheduled) {
    isTurnEndScheduled = true;
    setImmediate(endTurn);
  }
  return turn;
}

function endTurn(): void {
  turn++;
  isTurnEndScheduled = false;
}
