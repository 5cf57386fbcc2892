// Where response bytes go: one interface over an HTTP/2 stream and an HTTP/1.1 response.
//
// The contract the sender relies on: `write(chunk, onFlushed)` either returns false at once
// (refused: the chunk was not taken and onFlushed will never run) or returns true and calls
// onFlushed exactly once, when nothing references the chunk any more.
// - HTTP/2: Http2Stream.write always calls back (with null or ERR_STREAM_DESTROYED when the
//   stream died), after the socket write that carried the chunk completed. We write to the
//   raw stream, never through the compat Http2ServerResponse, whose write() after destroy()
//   returns false and drops the callback (docs/node-http2-facts.md, "Dropped writes and their
//   callbacks").
// - HTTP/1.1: OutgoingMessage.write silently drops the callback when the socket is already
//   destroyed but 'close' has not been emitted yet, and parks chunk and callback in its
//   outputData (never to be flushed) when the socket is open but no longer writable, e.g.
//   ended after the client's FIN. We check the socket synchronously first, so both cases are
//   reported as a refusal instead (test/unit/response-sink.test.ts).
// The sink also counts bytes written but not yet flushed, and for HTTP/2 which of them Node's
// session memory accounting holds: when a peer resets a stream, those are never given back
// (see "What a peer reset leaks" below and session-guard.ts).
//
// Stalled writes (lifecycle/stalled-writes.ts): from its first write a sink is watched; a sink
// whose writes made no progress for STALLED_WRITE_TIMEOUT_MS is cancelled, and if that cancel
// has not closed the stream shortly after, abandoned. Abandoning an HTTP/2 stream means
// destroy(), and then Node calls back writes whose bytes may still sit in the session's
// pending socket write (h2c, a chunk split by flow control: bench/experiments/
// stuck-connection.ts put 3.7 MB of "released" bytes on the wire). So an abandoned stream's
// chunks are quarantined: their callbacks no longer reach onFlushed until the quarantine says
// no socket write can reference them any more (a PING acknowledged, or the socket closed).

import { constants as h2 } from 'node:http2';
import type { Http2Session, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { SessionState, followResponseClose, streamRecordOf } from '../connection/connection-registry.ts';
import type { SessionRecord, StreamCloseListener, StreamRecord } from '../connection/connection-registry.ts';

/** Tests only: wraps a response's sink (TestOverrides.decorateSink; `stream` for HTTP/2). */
export type SinkDecorator = (sink: ResponseSink, stream: ServerHttp2Stream | undefined) => ResponseSink;

/** What the stalled-write watch (lifecycle/stalled-writes.ts) sees of a sink with writes out. */
export interface WatchedWrites {
  /**
   * The registry's record of the HTTP/2 session the response is on; undefined for HTTP/1.1 (no
   * flow-control windows) and for a stream of a server the registry does not track.
   */
  readonly sessionRecord: SessionRecord | undefined;
  readonly unflushedBytes: number;
  /** Writes called back so far: unchanged while bytes are unflushed means no progress. */
  readonly flushedWrites: number;
  /** Step 1: cancel() (RST_STREAM(CANCEL) after in-flight writes, or closing the socket). */
  cancel(): void;
  /** Step 2, when step 1 did not close the stream: destroy it, its unflushed chunks quarantined. */
  abandon(): void;
}

export interface WriteWatch {
  /** Watches a sink from its first write; the returned function ends the watch (sink closed). */
  watch(writes: WatchedWrites): () => void;
}

/**
 * Takes an abandoned stream's quarantined bytes; calls `release` once no socket write can
 * reference them any more (at the latest when the connection's socket has closed).
 */
export type QuarantineHook = (unflushedBytes: number, release: () => void) => void;

export interface ResponseSink {
  readonly protocol: 'h2' | 'http/1.1';
  /** Body bytes may still be written. */
  isOpen(): boolean;
  /**
   * The client went away (stream closed or reset, socket gone). Not the same as !isOpen():
   * Node ends the writable side of an HTTP/2 HEAD stream on arrival, yet it still wants a head.
   */
  isGone(): boolean;
  /** Sends the response head; with `endStream` nothing follows (HEAD, 304, 416...). */
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void;
  write(chunk: Buffer, onFlushed: () => void): boolean;
  end(): void;
  /** Cancels from the server side: RST_STREAM(CANCEL) after in-flight writes, or closing the socket. */
  cancel(): void;
  /** Resolves when writes may start (HTTP/1.1: a pipelined response waits for its socket). */
  readonly ready: Promise<void>;
  /** Resolves once the sink is closed for good (stream closed, socket gone). */
  readonly closed: Promise<void>;
  readonly unflushedBytes: number;
  /**
   * Bytes the client lets a new response send before it must grant more: an HTTP/2 peer's
   * SETTINGS_INITIAL_WINDOW_SIZE; Infinity for HTTP/1.1, where TCP alone holds writes back.
   */
  readonly peerWindowBytes: number;
  /** True when the client cancelled (RST_STREAM from the peer, or the socket went away). */
  isClientReset(): boolean;
}

export interface Http2SinkHooks {
  /**
   * Called once when the peer reset the stream, with the most Node's session memory accounting
   * can have kept of it: the write Node's C++ stream still held, less what the session's socket
   * provably wrote of it (see Http2Sink).
   */
  onPeerReset?(leakedBytes: number): void;
  writeWatch?: WriteWatch | undefined;
  /** Without it, an abandoned stream's chunks are released when its session has closed. */
  quarantine?: QuarantineHook | undefined;
}

export interface Http1SinkHooks {
  writeWatch?: WriteWatch | undefined;
}

/** Write callbacks Node never called, settled when their connection's socket closed. */
let reclaimedWriteCallbacks = 0;

export function reclaimedWriteCallbackCount(): number {
  return reclaimedWriteCallbacks;
}

/**
 * A safety net under the write contract. In rare runs of a Rapid Reset flood over h2c (HEADERS
 * and RST_STREAM in one socket read, the stream answered in between), a few write callbacks
 * never came, even after the connection closed, and their slabs stayed leased for good. Once
 * the socket has closed (libuv has cancelled its pending writes; TLS copied the bytes into
 * records long before), nothing can read those chunks any more, so their callbacks are
 * settled then: late, never early.
 */
const OWED_CALLBACKS = new SessionState<Set<() => void>>(
  // None once the socket is gone (its 'close' has been reported): nothing is written any more.
  (record) => (record.connection && !record.connection.socket.destroyed ? new Set() : undefined),
  {
    socketClosed: (owed) => {
      for (const settle of [...owed]) {
        reclaimedWriteCallbacks++;
        settle();
      }
    },
  },
);

/**
 * Per HTTP/2 session, what its sinks handed to Node's C++ streams and what became of it: the
 * bound on what other streams wrote while one stream's batch was held (Http2Sink).
 */
interface SessionWrites {
  /** Streams of the session that got a sink. */
  sinkStreams: number;
  /** Bytes sinks handed over to Node's C++ streams. */
  handedOver: number;
  /** Of those, bytes that can no longer be written: their write completed, or was dropped. */
  settled: number;
  /** At least the size of the HEADERS and RST_STREAM frames sinks made the session send. */
  frameBytes: number;
  /** Of those, frames that may not have been written yet (their stream's first write or close is still to come). */
  pendingFrameBytes: number;
}

/** A session's SessionWrites, kept on its registry record. */
const SINK_WRITES = new SessionState(newSessionWrites);

function newSessionWrites(): SessionWrites {
  return { sinkStreams: 0, handedOver: 0, settled: 0, frameBytes: 0, pendingFrameBytes: 0 };
}

/** The session's writes; a stream of a server the registry does not track counts on its own. */
function writesOf(record: StreamRecord | undefined): SessionWrites {
  return record?.session.stateOf(SINK_WRITES) ?? newSessionWrites();
}


/** Every frame the session has handed its socket, in bytes; undefined once it has no socket. */
function socketBytesWritten(session: Http2Session): number | undefined {
  try {
    const bytes = session.socket.bytesWritten;
    return typeof bytes === 'number' ? bytes : undefined;
  } catch {
    return undefined; // ERR_HTTP2_SOCKET_UNBOUND
  }
}

/**
 * True while every stream the client opened on the session has a sink. Client stream ids are
 * odd and rise (RFC 9113 5.1.1); ids a client skipped, or a stream refused before it reached
 * JS, only make this false, which credits nothing.
 */
function isSinkOnly(session: Http2Session, writes: SessionWrites): boolean {
  const lastId = session.state.lastProcStreamID;
  return typeof lastId === 'number' && (lastId + 1) / 2 === writes.sinkStreams;
}

/** RFC 9113 4.1: every frame starts with 9 bytes; RST_STREAM carries 4 more. */
const FRAME_HEADER_BYTES = 9;
const RST_STREAM_FRAME_BYTES = 13;
/**
 * Per held batch: control frames nobody counts (PING and SETTINGS acknowledgements, WINDOW_UPDATE,
 * GOAWAY: 9 to 17 bytes each) and the last, short DATA frames of each stream's batch.
 */
const UNCOUNTED_FRAME_BYTES = 1024;
/** The allowance for DATA frame headers: one per this many bytes written. */
const MIN_AVERAGE_DATA_FRAME = 4096;

/**
 * For the whole session: its SETTINGS, and per stream the odd control frame (a PING or SETTINGS
 * acknowledgement) or an error answer written past the sink (routes/media-stream.ts: ~250 bytes).
 * A peer that makes the server send more of these only undercounts its own leak.
 */
const SESSION_UNCOUNTED_FRAME_BYTES = 4096;
const STREAM_UNCOUNTED_FRAME_BYTES = 256;

/**
 * An upper bound of Node's maxSessionMemory counter for the data of a session's streams (what
 * reset streams left behind plus what live streams' C++ queues hold), or undefined when it
 * cannot be had: a stream without a sink wrote bytes no sink counted, or the socket is gone.
 *
 * Node charges what sinks hand over and gives back what nghttp2 takes into DATA frames, and
 * every byte nghttp2 takes is written to the session's socket. So the counter is at most what
 * sinks handed over, less the socket bytes that are not provably something else (frame headers,
 * HEADERS, RST_STREAM, control frames). Per reset, the held batch less the credit (Http2Sink)
 * is tight one stream at a time; with several streams in flight the others' unsettled bytes eat
 * the credit, while this whole-session bound stays within the live streams' queues of the truth
 * (session-guard.ts takes the smaller). The allowances grow with the bytes and streams served,
 * so over a long session this bound drifts up by ~0.3% of the bytes served: never below.
 */
export function sinkSessionDataBound(record: SessionRecord): number | undefined {
  const session = record.session;
  const writes = record.stateOf(SINK_WRITES);
  if (!writes || session.destroyed || !isSinkOnly(session, writes)) return undefined;
  const written = socketBytesWritten(session);
  if (written === undefined) return undefined;
  const frames =
    writes.frameBytes +
    FRAME_HEADER_BYTES * Math.ceil(written / MIN_AVERAGE_DATA_FRAME) +
    SESSION_UNCOUNTED_FRAME_BYTES +
    STREAM_UNCOUNTED_FRAME_BYTES * writes.sinkStreams;
  return Math.max(0, writes.handedOver - written + frames);
}

/**
 * The response head as a raw header list (`name, value, ...`), and at least the size of the
 * HEADERS frame carrying it (HPACK never grows a literal by more than the allowance per field).
 * Node 24 encodes a raw list as it is; a headers object it first copies, field by field, into
 * a dictionary-mode object (prepareResponseHeadersObject: ~1.5% of the CPU of a 64 KiB range).
 */
function rawHead(status: number, headers: OutgoingHttpHeaders): { readonly fields: string[]; readonly frameBytes: number } {
  const fields = [':status', String(status)];
  let frameBytes = FRAME_HEADER_BYTES + 64; // :status and the date header Node adds when absent
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value) {
        fields.push(name, item);
        frameBytes += name.length + item.length + 16;
      }
    } else {
      const text = String(value);
      fields.push(name, text);
      frameBytes += name.length + text.length + 16;
    }
  }
  return { fields, frameBytes };
}

const END_STREAM = { endStream: true } as const;
const MORE_TO_COME = { endStream: false } as const;

export function createHttp2Sink(stream: ServerHttp2Stream, hooks: Http2SinkHooks = {}): ResponseSink {
  return new Http2Sink(stream, hooks);
}

const RESOLVED = Promise.resolve();
/** RFC 9113 6.5.2: SETTINGS_INITIAL_WINDOW_SIZE until the peer says otherwise. */
const DEFAULT_INITIAL_WINDOW = 65_535;
const ignoreError = (): void => {};

/**
 * A class, not an object of closures: one is made per HTTP/2 response, and its methods then
 * exist once, on the prototype. It is also what the stalled-write watch sees of the response.
 *
 * What a peer reset leaks (Node 24.21, src/node_http2.cc; docs/http2-lifecycle.md, "Session
 * memory"): Node charges a chunk to the session's maxSessionMemory when the JS Writable hands it
 * to the C++ stream (Http2Stream::DoWrite), and gives it back as nghttp2 copies it into DATA
 * frames (Provider::Stream::OnRead), whether or not the socket has written those yet. When the
 * stream is destroyed, the C++ queue is dropped without giving back what nghttp2 had not taken
 * yet. So of the unflushed bytes at a reset:
 * - chunks still in the JS Writable buffer were never charged: nothing leaks;
 * - chunks nghttp2 had fully taken were given back, even if their socket write is still out;
 * - only the write the C++ stream held leaks, less what nghttp2 had already taken of it. How
 *   much that is depends on the WINDOW_UPDATEs the peer sent meanwhile, which JS never sees.
 * A Writable has one write out at a time; chunks written meanwhile are buffered and handed over
 * together (one _writev batch) when it completes, before its callbacks run. The sink mirrors
 * that: `#heldBatch` is the batch the C++ stream holds, `#heldBytes` its size.
 *
 * What nghttp2 took of the held batch is bounded from what the session's socket wrote since the
 * batch was handed over (`socket.bytesWritten` counts every frame the session hands its socket,
 * at the moment nghttp2 takes the data): those bytes are this stream's DATA, unless some other
 * stream or frame wrote them. Other sink streams can have written at most what they had handed
 * over and not yet settled (SessionWrites); HEADERS and RST_STREAM of sinks are counted, DATA frame
 * headers and stray control frames (PING and SETTINGS acknowledgements...) get an allowance. A
 * response that is not a sink's (the Koa routes) is not counted at all, so as soon as a session
 * carried one stream without a sink, nothing is credited and the whole held batch counts.
 * Without a credit the figure is exact when nghttp2 had taken none of the batch (no window
 * left: a paused viewer; or the reset came before the session's next send), and otherwise an
 * upper bound. With several streams in flight the others' unsettled bytes use up the credit;
 * the guard then relies on the whole-session bound (sinkSessionDataBound). The allowance
 * assumes DATA frames of 4 KiB or more on average: a peer that makes the server send smaller
 * ones (1-byte window updates) can make the credit too large, and then Node refuses that
 * peer's own streams before the guard rotates its connection.
 */
class Http2Sink implements ResponseSink, WatchedWrites, StreamCloseListener {
  readonly protocol = 'h2';
  readonly ready = RESOLVED;
  readonly #stream: ServerHttp2Stream;
  /** The connection registry's record of the stream (undefined on a server it does not track). */
  readonly #record: StreamRecord | undefined;
  readonly #hooks: Http2SinkHooks;
  /** stream.session is gone once the stream is destroyed; the quarantine fallback needs it. */
  readonly #session: Http2Session | undefined;
  #unflushed = 0;
  /** Number of the write batch Node's C++ stream holds (0: none yet). */
  #heldBatch = 0;
  /** Bytes of that batch; 0 once it completed with nothing buffered behind it. */
  #heldBytes = 0;
  #isBatchHeld = false;
  /** Chunks written while a batch was held: buffered in the JS Writable, handed over next. */
  #bufferedWrites = 0;
  #bufferedBytes = 0;
  /** The session's tally (undefined without a session), and its figures when the held batch was handed over. */
  readonly #writes: SessionWrites | undefined;
  #heldSinceSocketBytes: number | undefined;
  #heldSinceSettled = 0;
  #heldSinceFrameBytes = 0;
  /** This stream's HEADERS and RST_STREAM frames not known to be written yet. */
  #pendingFrameBytes = 0;
  #flushedWrites = 0;
  #cancelledLocally = false;
  #isClosed = false;
  /** Made when first asked for: most responses finish without anyone waiting on it. */
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #unwatch: (() => void) | undefined;
  /** Set when the stream is abandoned: callbacks park their onFlushed here until release. */
  #quarantined: (() => void)[] | undefined;

  constructor(stream: ServerHttp2Stream, hooks: Http2SinkHooks) {
    this.#stream = stream;
    this.#hooks = hooks;
    this.#session = stream.session;
    this.#record = streamRecordOf(stream);
    if (this.#session) {
      this.#writes = writesOf(this.#record);
      this.#writes.sinkStreams++;
    }
    if (stream.closed || stream.destroyed) {
      queueMicrotask(() => this.streamClosed());
    } else if (this.#record) {
      this.#record.sink = this; // the registry tells the sink first when the stream closes
    } else {
      stream.on('close', () => this.streamClosed()); // 'close' comes once: no once() wrapper
      // Errors of a stream are reported by how it closed; an 'error' listener keeps a peer's
      // non-CANCEL reset from becoming an uncaught exception.
      stream.on('error', ignoreError);
    }
  }

  /** The stream closed (called once, by the connection registry or our own listener). */
  streamClosed(): void {
    const stream = this.#stream;
    if (!this.#cancelledLocally && stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
      this.#hooks.onPeerReset?.(this.#peerResetLeak());
    }
    this.#settleFrames();
    this.#unwatch?.();
    this.#isClosed = true;
    this.#resolveClosed?.();
  }

  /** The held batch, less what the session's socket provably wrote of it (see the class comment). */
  #peerResetLeak(): number {
    const held = this.#heldBytes;
    const session = this.#session;
    const writes = this.#writes;
    const since = this.#heldSinceSocketBytes;
    if (held === 0 || !session || !writes || since === undefined || !isSinkOnly(session, writes)) return held;
    const now = socketBytesWritten(session);
    if (now === undefined) return held;
    const written = now - since;
    // Other sink streams' bytes that may have gone out since: handed over by now, unsettled then.
    const others = writes.handedOver - this.#heldSinceSettled - held;
    const frames =
      writes.frameBytes - this.#heldSinceFrameBytes + UNCOUNTED_FRAME_BYTES + FRAME_HEADER_BYTES * Math.ceil(written / MIN_AVERAGE_DATA_FRAME);
    const taken = Math.min(held, Math.max(0, written - others - frames));
    return held - taken;
  }

  /** A batch was handed over to Node's C++ stream now. */
  #handOver(bytes: number): void {
    const writes = this.#writes;
    if (!writes) return;
    writes.handedOver += bytes;
    this.#heldSinceSocketBytes = socketBytesWritten(this.#session!);
    this.#heldSinceSettled = writes.settled;
    // Frames submitted earlier but perhaps not written yet count as written after this point.
    this.#heldSinceFrameBytes = writes.frameBytes - writes.pendingFrameBytes;
  }

  /** Counts a HEADERS or RST_STREAM frame this stream submitted. */
  #addFrame(bytes: number): void {
    const writes = this.#writes;
    if (!writes) return;
    writes.frameBytes += bytes;
    writes.pendingFrameBytes += bytes;
    this.#pendingFrameBytes += bytes;
  }

  /** This stream's submitted frames are written (a write completed after them) or never will be (closed). */
  #settleFrames(): void {
    if (this.#writes) this.#writes.pendingFrameBytes -= this.#pendingFrameBytes;
    this.#pendingFrameBytes = 0;
  }

  get closed(): Promise<void> {
    if (this.#closed) return this.#closed;
    if (this.#isClosed) return (this.#closed = RESOLVED);
    return (this.#closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve)));
  }

  get unflushedBytes(): number {
    return this.#unflushed;
  }

  get flushedWrites(): number {
    return this.#flushedWrites;
  }

  get sessionRecord(): SessionRecord | undefined {
    return this.#record?.session;
  }

  get peerWindowBytes(): number {
    // Node keeps the peer's settings on the JS side: reading them costs ~15 ns.
    return this.#session?.remoteSettings.initialWindowSize ?? DEFAULT_INITIAL_WINDOW;
  }

  isGone(): boolean {
    return this.#stream.destroyed || this.#stream.closed;
  }

  isOpen(): boolean {
    return !this.isGone() && !this.#stream.writableEnded;
  }

  isClientReset(): boolean {
    const code = this.#stream.rstCode;
    return !this.#cancelledLocally && code !== undefined && code !== h2.NGHTTP2_NO_ERROR;
  }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    const head = rawHead(status, headers);
    this.#addFrame(head.frameBytes);
    this.#stream.respond(head.fields, endStream ? END_STREAM : MORE_TO_COME);
  }

  write(chunk: Buffer, onFlushed: () => void): boolean {
    if (!this.isOpen()) return false;
    const watch = this.#hooks.writeWatch;
    if (watch && !this.#unwatch) this.#unwatch = watch.watch(this);
    this.#unflushed += chunk.length;
    let batch: number;
    if (this.#isBatchHeld) {
      batch = this.#heldBatch + 1;
      this.#bufferedWrites++;
      this.#bufferedBytes += chunk.length;
    } else {
      batch = ++this.#heldBatch;
      this.#isBatchHeld = true;
      this.#heldBytes = chunk.length;
      this.#handOver(chunk.length);
    }
    const owed = this.#record?.session.stateOf(OWED_CALLBACKS);
    let isSettled = false;
    const settle = (): void => {
      if (isSettled) return;
      isSettled = true;
      owed?.delete(settle);
      // The first callback of the held batch: it has completed (or was dropped), and unless the
      // stream has closed, the Writable has just handed the buffered chunks over.
      if (batch === this.#heldBatch && this.#isBatchHeld) {
        if (this.#writes) this.#writes.settled += this.#heldBytes;
        // nghttp2 sends a stream's HEADERS before its DATA; a pending RST_STREAM waits for close.
        if (!this.#cancelledLocally) this.#settleFrames();
        if (this.#bufferedWrites > 0 && !this.#isClosed) {
          this.#heldBatch++;
          this.#heldBytes = this.#bufferedBytes;
          this.#handOver(this.#bufferedBytes);
        } else {
          this.#isBatchHeld = false;
          this.#heldBytes = 0;
        }
        this.#bufferedWrites = 0;
        this.#bufferedBytes = 0;
      }
      this.#unflushed -= chunk.length;
      this.#flushedWrites++;
      if (this.#quarantined) this.#quarantined.push(onFlushed);
      else onFlushed();
    };
    owed?.add(settle);
    this.#stream.write(chunk, settle);
    return true;
  }

  end(): void {
    if (this.isOpen()) this.#stream.end();
  }

  cancel(): void {
    const stream = this.#stream;
    if (stream.closed || stream.destroyed) return;
    this.#markCancelledByServer();
    this.#addFrame(RST_STREAM_FRAME_BYTES);
    // close(code) sends RST_STREAM only after in-flight writes finished; destroy() does not
    // wait and, on h2c, lets the socket read slabs that were already given back.
    stream.close(h2.NGHTTP2_CANCEL);
  }

  /**
   * A server cancel can happen in the same event-loop turn as the stream's HEADERS when reads
   * are synchronous: the flood guard (http2/flood-guard.ts) must not take it for a client's
   * early reset.
   */
  #markCancelledByServer(): void {
    this.#cancelledLocally = true;
    if (this.#record) this.#record.isCancelledByServer = true;
  }

  abandon(): void {
    const stream = this.#stream;
    if (stream.destroyed) return;
    this.#markCancelledByServer();
    this.#addFrame(RST_STREAM_FRAME_BYTES);
    if (this.#unflushed > 0 && !this.#quarantined) {
      const held: (() => void)[] = [];
      this.#quarantined = held;
      const release = (): void => {
        if (this.#quarantined !== held) return;
        this.#quarantined = undefined;
        for (const onFlushed of held.splice(0)) onFlushed();
      };
      const session = this.#session;
      if (this.#hooks.quarantine) this.#hooks.quarantine(this.#unflushed, release);
      else if (!session || session.destroyed) release();
      else session.once('close', release);
    }
    stream.destroy();
  }
}

export function createHttp1Sink(res: ServerResponse, hooks: Http1SinkHooks = {}): ResponseSink {
  return new Http1Sink(res, hooks);
}

/**
 * An HTTP/1.1 response's sink. Its own stalled-write watch (WatchedWrites): destroying the
 * socket always closes the response, so the second step is the first one again.
 */
class Http1Sink implements ResponseSink, WatchedWrites, StreamCloseListener {
  readonly protocol = 'http/1.1';
  readonly peerWindowBytes = Infinity;
  readonly sessionRecord = undefined;
  readonly closed: Promise<void>;
  /** A pipelined response gets its socket only when the responses before it are done; a write
   * before that would be parked where a later socket error could drop its callback. */
  readonly ready: Promise<void>;
  #resolveClosed: (() => void) | undefined;
  readonly #res: ServerResponse;
  readonly #hooks: Http1SinkHooks;
  #unflushed = 0;
  #flushedWrites = 0;
  #cancelledLocally = false;
  #unwatch: (() => void) | undefined;

  constructor(res: ServerResponse, hooks: Http1SinkHooks) {
    this.#res = res;
    this.#hooks = hooks;
    this.closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));
    if (res.closed) queueMicrotask(() => this.streamClosed());
    else if (!followResponseClose(res, this)) res.once('close', () => this.streamClosed()); // a server the registry does not track
    this.ready =
      res.socket !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            res.once('socket', () => resolve());
            res.once('close', () => resolve());
          });
  }

  get unflushedBytes(): number {
    return this.#unflushed;
  }

  get flushedWrites(): number {
    return this.#flushedWrites;
  }

  /** The response closed (called once, by the connection registry or our own listener). */
  streamClosed(): void {
    this.#unwatch?.();
    this.#resolveClosed?.();
    this.#resolveClosed = undefined;
  }

  isGone(): boolean {
    const res = this.#res;
    return res.destroyed || (res.socket !== null && res.socket.destroyed);
  }

  isOpen(): boolean {
    const res = this.#res;
    return !this.isGone() && !res.writableEnded && res.socket !== null && res.socket.writable;
  }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    this.#res.writeHead(status, headers as Record<string, string | number | string[]>);
    if (endStream) this.#res.end();
  }

  write(chunk: Buffer, onFlushed: () => void): boolean {
    if (!this.isOpen()) return false;
    if (this.#hooks.writeWatch && !this.#unwatch) this.#unwatch = this.#hooks.writeWatch.watch(this);
    this.#unflushed += chunk.length;
    this.#res.write(chunk, () => {
      this.#unflushed -= chunk.length;
      this.#flushedWrites++;
      onFlushed();
    });
    return true;
  }

  end(): void {
    if (this.isOpen()) this.#res.end();
  }

  cancel(): void {
    if (this.#res.destroyed) return;
    this.#cancelledLocally = true;
    this.#res.destroy();
  }

  abandon(): void {
    this.cancel();
  }

  isClientReset(): boolean {
    return !this.#cancelledLocally && !this.#res.writableFinished;
  }
}
