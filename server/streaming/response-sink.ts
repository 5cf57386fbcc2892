// Where response bytes go: one interface over an HTTP/2 stream and an HTTP/1.1 response.
//
// The contract the sender relies on: `write(chunk, onFlushed)` either returns false at once
// (refused: the chunk was not taken and onFlushed will never run) or returns true and calls
// onFlushed exactly once, when nothing references the chunk any more.
// - HTTP/2: Http2Stream.write always calls back (with null or ERR_STREAM_DESTROYED when the
//   stream died), after the socket write that carried the chunk completed. We write to the
//   raw stream, never through the compat Http2ServerResponse, whose write() after destroy()
//   returns false and drops the callback (NODE-HTTP2-NOTES.md).
// - HTTP/1.1: OutgoingMessage.write silently drops the callback when the socket is already
//   destroyed but 'close' has not been emitted yet, and parks chunk and callback in its
//   outputData (never to be flushed) when the socket is open but no longer writable, e.g.
//   ended after the client's FIN. We check the socket synchronously first, so both cases are
//   reported as a refusal instead (test/unit/response-sink.test.ts).
// The sink also counts bytes written but not yet flushed; when a peer resets an HTTP/2 stream,
// that count is what Node's session memory accounting leaks (see session-guard.ts).
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

export type CancelPolicy = 'close' | 'destroy';

/** What the stalled-write watch (lifecycle/stalled-writes.ts) sees of a sink with writes out. */
export interface WatchedWrites {
  /** The HTTP/2 session the response is on; undefined for HTTP/1.1 (no flow-control windows). */
  readonly session: Http2Session | undefined;
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
  /** Called once when the peer reset the stream, with the bytes that were still unflushed. */
  onPeerReset?(unflushedBytes: number): void;
  cancelPolicy?: CancelPolicy;
  writeWatch?: WriteWatch | undefined;
  /** Without it, an abandoned stream's chunks are released when its session has closed. */
  quarantine?: QuarantineHook | undefined;
  /** Negative control only: release an abandoned stream's chunks on Node's early callbacks. */
  isQuarantineOff?: boolean | undefined;
}

export interface Http1SinkHooks {
  writeWatch?: WriteWatch | undefined;
}

/**
 * Streams this server reset itself (a cancel, an abandon). A server cancel can happen in the
 * same event-loop turn as the stream's HEADERS when reads are synchronous, so the flood guard
 * (http2/flood-guard.ts) must not take it for a client's early reset.
 */
const serverCancelled = new WeakSet<ServerHttp2Stream>();

export function isCancelledByServer(stream: ServerHttp2Stream): boolean {
  return serverCancelled.has(stream);
}

/** Write callbacks Node never called, settled when their connection's socket closed. */
let reclaimedWriteCallbacks = 0;

export function reclaimedWriteCallbackCount(): number {
  return reclaimedWriteCallbacks;
}

/** Per HTTP/2 session: the write callbacks still owed, settled at the socket's 'close'. */
const owedBySession = new WeakMap<Http2Session, Set<() => void>>();

/**
 * A safety net under the write contract. In rare runs of a Rapid Reset flood over h2c (HEADERS
 * and RST_STREAM in one socket read, the stream answered in between), a few write callbacks
 * never came, even after the connection closed, and their slabs stayed leased for good. Once
 * the socket has closed (libuv has cancelled its pending writes; TLS copied the bytes into
 * records long before), nothing can read those chunks any more, so their callbacks are
 * settled then: late, never early.
 */
function owedCallbacksOf(session: Http2Session): Set<() => void> | undefined {
  let owed = owedBySession.get(session);
  if (owed) return owed;
  let socket: Http2Session['socket'];
  try {
    socket = session.socket; // Node's proxy: once() reaches the real socket
    if (socket.destroyed) return undefined;
  } catch {
    return undefined; // ERR_HTTP2_SOCKET_UNBOUND: the session has let go of its socket
  }
  const settled = new Set<() => void>();
  owedBySession.set(session, settled);
  socket.once('close', () => {
    for (const settle of [...settled]) {
      reclaimedWriteCallbacks++;
      settle();
    }
  });
  return settled;
}

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
 */
class Http2Sink implements ResponseSink, WatchedWrites {
  readonly protocol = 'h2';
  readonly ready = RESOLVED;
  readonly #stream: ServerHttp2Stream;
  readonly #hooks: Http2SinkHooks;
  /** stream.session is gone once the stream is destroyed; the quarantine fallback needs it. */
  readonly #session: Http2Session | undefined;
  #unflushed = 0;
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
    if (stream.closed || stream.destroyed) queueMicrotask(() => this.#onClose());
    else stream.on('close', () => this.#onClose()); // 'close' comes once: no once() wrapper
    // Errors of a stream are reported by how it closed; an 'error' listener keeps a peer's
    // non-CANCEL reset from becoming an uncaught exception.
    stream.on('error', ignoreError);
  }

  #onClose(): void {
    const stream = this.#stream;
    if (!this.#cancelledLocally && stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
      this.#hooks.onPeerReset?.(this.#unflushed);
    }
    this.#unwatch?.();
    this.#isClosed = true;
    this.#resolveClosed?.();
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

  get session(): Http2Session | undefined {
    return this.#session;
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
    this.#stream.respond({ ...headers, ':status': status }, { endStream });
  }

  write(chunk: Buffer, onFlushed: () => void): boolean {
    if (!this.isOpen()) return false;
    const watch = this.#hooks.writeWatch;
    if (watch && !this.#unwatch) this.#unwatch = watch.watch(this);
    this.#unflushed += chunk.length;
    const owed = this.#session ? owedCallbacksOf(this.#session) : undefined;
    let isSettled = false;
    const settle = (): void => {
      if (isSettled) return;
      isSettled = true;
      owed?.delete(settle);
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
    this.#cancelledLocally = true;
    serverCancelled.add(stream);
    // close(code) sends RST_STREAM only after in-flight writes finished; destroy() does not
    // wait and, on h2c, lets the socket read slabs that were already given back.
    if ((this.#hooks.cancelPolicy ?? 'close') === 'destroy') stream.destroy();
    else stream.close(h2.NGHTTP2_CANCEL);
  }

  abandon(): void {
    const stream = this.#stream;
    if (stream.destroyed) return;
    this.#cancelledLocally = true;
    serverCancelled.add(stream);
    if (this.#unflushed > 0 && !this.#hooks.isQuarantineOff && !this.#quarantined) {
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
  let unflushed = 0;
  let flushedWrites = 0;
  let cancelledLocally = false;
  let unwatch: (() => void) | undefined;
  const closed = new Promise<void>((resolve) => {
    const onClose = (): void => {
      unwatch?.();
      resolve();
    };
    if (res.closed) queueMicrotask(onClose);
    else res.once('close', onClose);
  });
  // A pipelined response gets its socket only when the responses before it are done; a write
  // before that would be parked where a later socket error could drop its callback.
  const ready =
    res.socket !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          res.once('socket', () => resolve());
          res.once('close', () => resolve());
        });
  const isGone = (): boolean => res.destroyed || (res.socket !== null && res.socket.destroyed);
  const isOpen = (): boolean => !isGone() && !res.writableEnded && res.socket !== null && res.socket.writable;
  const cancel = (): void => {
    if (res.destroyed) return;
    cancelledLocally = true;
    res.destroy();
  };
  // Destroying the socket always closes the response: there is no second step to take.
  const watchedWrites = (): WatchedWrites => ({
    session: undefined,
    get unflushedBytes() {
      return unflushed;
    },
    get flushedWrites() {
      return flushedWrites;
    },
    cancel,
    abandon: cancel,
  });
  return {
    protocol: 'http/1.1',
    isOpen,
    isGone,
    respond(status, headers, endStream) {
      res.writeHead(status, headers as Record<string, string | number | string[]>);
      if (endStream) res.end();
    },
    write(chunk, onFlushed) {
      if (!isOpen()) return false;
      if (hooks.writeWatch && !unwatch) unwatch = hooks.writeWatch.watch(watchedWrites());
      unflushed += chunk.length;
      res.write(chunk, () => {
        unflushed -= chunk.length;
        flushedWrites++;
        onFlushed();
      });
      return true;
    },
    end() {
      if (isOpen()) res.end();
    },
    cancel,
    ready,
    closed,
    get unflushedBytes() {
      return unflushed;
    },
    peerWindowBytes: Infinity,
    isClientReset: () => !cancelledLocally && !res.writableFinished,
  };
}
