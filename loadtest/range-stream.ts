// One open-ended Range request (RFC 9110 section 14) on an HTTP/2 stream, as a <video>
// element sends it: checks the response head, hands every DATA chunk on at its file offset,
// stops and resumes reading (stream.pause() lets data queue behind flow control), cancels
// with RST_STREAM(CANCEL), and says how the stream ended.

import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { classifySessionError, classifyStreamReset, H2 } from './classify.ts';
import type { Failure } from './classify.ts';
import type { Connection } from './connection.ts';

export type StreamEnd =
  | { readonly kind: 'ended' } // the server sent the whole body
  | { readonly kind: 'cancelled' } // the tool cancelled it
  | { readonly kind: 'unprocessed'; readonly detail: string } // never processed: retry elsewhere
  | { readonly kind: 'failed'; readonly failure: Failure; readonly isCountedByConnection: boolean };

export type HoldReason = 'buffer-full' | 'user-pause' | 'read-limit';

export interface StreamSink {
  /** Every DATA chunk at its offset in the file; isWasted once the tool has cancelled the stream. */
  onData(stream: RangeStream, chunk: Buffer, offset: number, isWasted: boolean): void;
}

export class RangeStream {
  readonly url: string;
  readonly offset: number;
  /** performance.now() of the first DATA byte; never settles if none comes. */
  readonly firstByte: Promise<number>;
  readonly done: Promise<StreamEnd>;
  /** Body bytes received before the tool cancelled. */
  received = 0;
  hasCorruption = false;
  private consumed = 0;
  private status = 0;
  private expectedLength: number | undefined;
  private isCancelled = false;
  private hasEnded = false;
  private rejection: Failure | undefined;
  private streamError: NodeJS.ErrnoException | undefined;
  private readonly holds = new Set<HoldReason>();
  private readonly req: http2.ClientHttp2Stream;
  private readonly connection: Connection;
  private readonly sink: StreamSink;
  private readonly resolveFirstByte: (at: number) => void;

  constructor(connection: Connection, url: URL, offset: number, sink: StreamSink) {
    this.connection = connection;
    this.url = url.href;
    this.offset = offset;
    this.sink = sink;
    const firstByte = Promise.withResolvers<number>();
    this.firstByte = firstByte.promise;
    this.resolveFirstByte = firstByte.resolve;
    const done = Promise.withResolvers<StreamEnd>();
    this.done = done.promise;
    this.req = connection.session.request({ ':path': url.pathname + url.search, range: `bytes=${offset}-` }, { endStream: true });
    this.req.on('response', (headers) => this.onResponse(headers));
    this.req.on('data', (chunk: Buffer) => this.onChunk(chunk));
    this.req.on('end', () => (this.hasEnded = true));
    this.req.on('error', (err: NodeJS.ErrnoException) => (this.streamError = err));
    this.req.on('close', () => done.resolve(this.howItEnded()));
  }

  get id(): number | undefined {
    return this.req.id;
  }

  get isOpen(): boolean {
    return !this.req.closed && !this.req.destroyed;
  }

  /** Stop or resume reading for one reason; the stream reads only while no reason holds it. */
  hold(reason: HoldReason, isOn: boolean): void {
    if (isOn) this.holds.add(reason);
    else this.holds.delete(reason);
    if (this.isCancelled) return;
    if (this.holds.size > 0) this.req.pause();
    else this.req.resume();
  }

  /** RST_STREAM(CANCEL), as a browser seek does; resumed so late DATA drains and 'close' comes. */
  cancel(): void {
    if (this.isCancelled) return;
    this.isCancelled = true;
    if (!this.req.closed && !this.req.destroyed) this.req.close(http2.constants.NGHTTP2_CANCEL);
    this.req.resume();
  }

  private onResponse(headers: http2.IncomingHttpHeaders): void {
    this.status = Number(headers[':status']);
    const contentRange = headers['content-range'];
    const asked = `bytes=${this.offset}-`;
    const range = typeof contentRange === 'string' ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange) : null;
    if (this.status === 206 && range && Number(range[1]) === this.offset) {
      this.expectedLength = Number(range[2]) - Number(range[1]) + 1;
      return;
    }
    if (this.status === 200 && this.offset === 0) return; // the whole file: fine for bytes=0-
    const detail =
      this.status === 206
        ? `206 with Content-Range "${contentRange ?? '(none)'}" for Range: ${asked}`
        : `status ${this.status} for Range: ${asked}`;
    this.rejection = { cls: 'wrong-status', detail };
    this.cancel();
  }

  private onChunk(chunk: Buffer): void {
    const at = this.offset + this.consumed;
    this.consumed += chunk.length;
    const isWasted = this.isCancelled;
    if (!isWasted) {
      if (this.received === 0) this.resolveFirstByte(performance.now());
      this.received += chunk.length;
    }
    this.sink.onData(this, chunk, at, isWasted);
  }

  private howItEnded(): StreamEnd {
    if (this.rejection) return this.failed(this.rejection);
    if (this.isCancelled) return { kind: 'cancelled' };
    const code = this.req.rstCode ?? H2.NO_ERROR;
    if (this.hasEnded && code === H2.NO_ERROR) {
      if (this.expectedLength === undefined || this.consumed === this.expectedLength) return { kind: 'ended' };
      return this.failed({ cls: 'protocol-error', detail: `body ended after ${this.consumed} of ${this.expectedLength} bytes` });
    }
    const hasResponse = this.status !== 0;
    const cause = (this.streamError as { cause?: unknown } | undefined)?.cause;
    if (this.connection.isRefusedBy(cause)) return { kind: 'unprocessed', detail: 'connection refused (the next origin takes it)' };
    if (this.streamError?.code === 'ERR_HTTP2_GOAWAY_SESSION') return { kind: 'unprocessed', detail: 'opened after GOAWAY' };
    if (code === H2.REFUSED_STREAM && !hasResponse) return { kind: 'unprocessed', detail: 'REFUSED_STREAM before any response' };
    if (this.consumed === 0 && this.connection.isUnprocessed(this.req.id)) {
      return { kind: 'unprocessed', detail: 'above the GOAWAY last-stream-id' };
    }
    if (cause) return this.failedByConnection(this.connection.fail(classifySessionError(cause)));
    if (this.connection.failure) return this.failedByConnection(this.connection.failure);
    if (this.connection.isGone && this.hasWholeBodyBuffered()) return { kind: 'ended' };
    // Node ends the streams of a vanished connection with a local CANCEL: no RST_STREAM was received.
    if (this.connection.isGone) return this.failedByConnection(this.connection.fail(this.connection.lossOf(this.req.id)));
    if (code === H2.NO_ERROR) return this.failed({ cls: 'server-reset', detail: 'stream closed before its end (RST_STREAM NO_ERROR)' });
    return this.failed(classifyStreamReset(code, hasResponse));
  }

  /**
   * Whether every byte of the body had arrived when the connection closed, read out and handed
   * on now. A server may close the connection once its last stream is done (RFC 9113 6.8, after
   * the final GOAWAY), while a paused viewer has not read that stream's last bytes yet; Node's
   * client then destroys the stream with those bytes still in its buffer (a browser keeps
   * them). They remain readable after the destroy, and are verified like any others.
   */
  private hasWholeBodyBuffered(): boolean {
    if (this.expectedLength === undefined || this.consumed + this.req.readableLength !== this.expectedLength) return false;
    for (let chunk: Buffer | null; (chunk = this.req.read() as Buffer | null) !== null; ) this.onChunk(chunk);
    return this.consumed === this.expectedLength;
  }

  private failed(failure: Failure): StreamEnd {
    return { kind: 'failed', failure, isCountedByConnection: false };
  }

  private failedByConnection(failure: Failure): StreamEnd {
    return { kind: 'failed', failure, isCountedByConnection: true };
  }
}
