// One owner for every HTTP/2 session and stream of the server's listeners (STYLE.md 11).
//
// The registry attaches every session and stream listener of ours, once: on the server one
// 'session' and one 'stream' listener; per session one 'stream', one 'close' and one 'error';
// per stream one 'close' and one 'error' (and 'aborted' on a stream with a request body),
// shared functions that find the stream's record on the stream itself (no closure per stream). The guards are hooks it calls, in the order the
// composition root (server.ts) lists them, and each sees one record per session and per
// stream instead of keeping maps of its own.
//
// A stream, in order:
// 1. HEADERS read: the record is made, every hook's streamOpened() runs (the stream counts as
//    open before any handler sees it, so a rotation or a drain decided there counts it), then
//    the stream goes to its handler (`dispatch`: the media fast path, else Node's compat bridge
//    to Koa), unless a hook refused it (a connection being ended as a flood).
// 2. 'aborted', on a stream with a request body (an upload): the peer reset the stream while
//    its request or response was open. It comes synchronously with the reset, before Node's
//    compat request reports the body as cut off, so body-overflow.ts can mark the stream first.
//    A GET has no use for it: its early reset is counted at 'close', in the same event-loop turn.
// 3. 'close': the response sink first (it reports what a peer reset left in Node's session
//    memory and stops its stalled-write watch), then every hook's streamClosed().
//
// Node makes a server session's streams emit on the server ('stream') through one listener of
// its own, the compat bridge that builds Koa's request and response. The registry takes that
// listener's place and hands it the streams `dispatch` does not take.

import type { Http2SecureServer, Http2Server, Http2Session, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

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
  /** The response sink writing to the stream: told first when it closes. */
  sink: StreamCloseListener | undefined;
  /** A hook refused the stream (its connection is being ended as a flood): no handler gets it. */
  isRefused = false;

  constructor(stream: ServerHttp2Stream, session: SessionRecord) {
    this.stream = stream;
    this.session = session;
    this.openedInTurn = eventLoopTurn();
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

/** What the registry keeps per session. */
export class SessionRecord {
  readonly session: ServerHttp2Session;
  readonly hooks: SessionHooks[] = [];
  /** Streams from HEADERS to 'close'. */
  readonly openStreams = new Set<ServerHttp2Stream>();
  /** Streams the client opened, ever. */
  streamsOpened = 0;
  isClosed = false;

  constructor(session: ServerHttp2Session) {
    this.session = session;
  }

  /** The hooks of this session made by a class of guard (SessionGuard, FloodGuard...). */
  hookOf<T extends SessionHooks>(kind: abstract new (...args: never[]) => T): T | undefined {
    for (const hooks of this.hooks) if (hooks instanceof kind) return hooks;
    return undefined;
  }
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

/** The registry's record of a session (undefined also for a destroyed stream's missing session). */
export function sessionRecordOf(session: Http2Session | undefined): SessionRecord | undefined {
  return (session as WithRecord<Http2Session, SessionRecord> | undefined)?.[kRecord];
}

export class ConnectionRegistry {
  readonly #factories: readonly SessionHookFactory[];

  /** `factories`: the guards, in the order their hooks run. */
  constructor(factories: readonly SessionHookFactory[]) {
    this.#factories = factories;
  }

  /**
   * Follows every session and stream of `server`: call before listen(), after the application
   * ('request' handler) is set. `dispatch` serves the streams it takes; Node's compat bridge
   * gets the rest. False when Node's 'stream' listeners are not laid out as expected: then
   * every stream goes to them unchanged (after the hooks), and `dispatch` is not used.
   */
  track(server: Http2SecureServer | Http2Server, dispatch?: StreamDispatch): boolean {
    server.on('session', (session: ServerHttp2Session) => this.#sessionOpened(session));
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

  #sessionOpened(session: ServerHttp2Session): void {
    const record = new SessionRecord(session);
    (session as WithRecord<ServerHttp2Session, SessionRecord>)[kRecord] = record;
    for (const factory of this.#factories) {
      const hooks = factory(record);
      if (hooks) record.hooks.push(hooks);
    }
    // Ahead of Node's own listener, which hands the stream to the server ('stream') and so to
    // its handler. The session is the emitter: a stream the client reset in the same read as
    // its HEADERS arrives here destroyed already, without a stream.session.
    session.prependListener('stream', onSessionStream);
    session.on('error', onSessionError);
    session.once('close', onSessionClose);
  }
}

/** Makes the stream's record and runs the hooks; a hook may refuse the stream. */
function onSessionStream(this: ServerHttp2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const session = sessionRecordOf(this);
  if (!session) return;
  const record = new StreamRecord(stream, session);
  (stream as WithRecord<ServerHttp2Stream, StreamRecord>)[kRecord] = record;
  session.openStreams.add(stream);
  session.streamsOpened++;
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
  record.session.openStreams.delete(this);
  for (const hooks of record.session.hooks) hooks.streamClosed?.(record);
}

function onSessionError(this: ServerHttp2Session, err: Error): void {
  const record = sessionRecordOf(this);
  if (record) for (const hooks of record.hooks) hooks.sessionError?.(err);
}

function onSessionClose(this: ServerHttp2Session): void {
  const record = sessionRecordOf(this);
  if (!record) return;
  record.isClosed = true;
  for (const hooks of record.hooks) hooks.sessionClosed?.();
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
