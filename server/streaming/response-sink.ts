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

import { constants as h2 } from 'node:http2';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ServerResponse } from 'node:http';

export type CancelPolicy = 'close' | 'destroy';

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
  /** True when the client cancelled (RST_STREAM from the peer, or the socket went away). */
  isClientReset(): boolean;
}

export interface Http2SinkHooks {
  /** Called once when the peer reset the stream, with the bytes that were still unflushed. */
  onPeerReset?(unflushedBytes: number): void;
  cancelPolicy?: CancelPolicy;
}

export function createHttp2Sink(stream: ServerHttp2Stream, hooks: Http2SinkHooks = {}): ResponseSink {
  let unflushed = 0;
  let cancelledLocally = false;
  const closed = new Promise<void>((resolve) => {
    const onClose = (): void => {
      if (!cancelledLocally && stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
        hooks.onPeerReset?.(unflushed);
      }
      resolve();
    };
    if (stream.closed || stream.destroyed) queueMicrotask(onClose);
    else stream.once('close', onClose);
  });
  // Errors of a stream are reported by how it closed; an 'error' listener keeps a peer's
  // non-CANCEL reset from becoming an uncaught exception.
  stream.on('error', () => {});
  const isGone = (): boolean => stream.destroyed || stream.closed;
  const isOpen = (): boolean => !isGone() && !stream.writableEnded;
  return {
    protocol: 'h2',
    isOpen,
    isGone,
    respond(status, headers, endStream) {
      stream.respond({ ...headers, ':status': status }, { endStream });
    },
    write(chunk, onFlushed) {
      if (!isOpen()) return false;
      unflushed += chunk.length;
      stream.write(chunk, () => {
        unflushed -= chunk.length;
        onFlushed();
      });
      return true;
    },
    end() {
      if (isOpen()) stream.end();
    },
    cancel() {
      if (stream.closed || stream.destroyed) return;
      cancelledLocally = true;
      // close(code) sends RST_STREAM only after in-flight writes finished; destroy() does not
      // wait and, on h2c, lets the socket read slabs that were already given back.
      if ((hooks.cancelPolicy ?? 'close') === 'destroy') stream.destroy();
      else stream.close(h2.NGHTTP2_CANCEL);
    },
    ready: Promise.resolve(),
    closed,
    get unflushedBytes() {
      return unflushed;
    },
    isClientReset: () => !cancelledLocally && stream.rstCode !== undefined && stream.rstCode !== h2.NGHTTP2_NO_ERROR,
  };
}

export function createHttp1Sink(res: ServerResponse): ResponseSink {
  let unflushed = 0;
  let cancelledLocally = false;
  const closed = new Promise<void>((resolve) => {
    if (res.closed) queueMicrotask(resolve);
    else res.once('close', () => resolve());
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
      unflushed += chunk.length;
      res.write(chunk, () => {
        unflushed -= chunk.length;
        onFlushed();
      });
      return true;
    },
    end() {
      if (isOpen()) res.end();
    },
    cancel() {
      if (res.destroyed) return;
      cancelledLocally = true;
      res.destroy();
    },
    ready,
    closed,
    get unflushedBytes() {
      return unflushed;
    },
    isClientReset: () => !cancelledLocally && !res.writableFinished,
  };
}
