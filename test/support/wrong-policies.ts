// Deliberately wrong strategies that tests inject into a real server (TestOverrides), to prove
// that the byte verifiers and the pool's invariant catch them (negative controls). None of this
// is reachable from production code: the server only ever uses RELEASE_ON_FLUSH and its own
// sinks.

import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Lease } from '../../server/streaming/buffer-pool.ts';
import type { ResponseSink } from '../../server/streaming/response-sink.ts';
import type { ReleasePolicy } from '../../server/streaming/send-body.ts';
import type { AbandonedChunks } from '../../server/lifecycle/stalled-writes.ts';

/**
 * Wrong: an abandoned stalled stream's chunks go back at once, so Node's early callbacks after
 * stream.destroy() release slabs whose bytes may still be in the pending socket write.
 */
export const releaseAbandonedAtOnce: AbandonedChunks = (_session, _bytes, release) => release();

/** Wrong: the slab goes back as soon as its write is handed over, while the socket may still read it. */
export const releaseAfterWrite: ReleasePolicy = {
  written(lease) {
    lease.release();
  },
  flushed() {},
};

/**
 * Wrong: the slabs of a response go back when its stream closes (Jetty's bug: a remote reset
 * completed the write before the queued DATA was written), or on their write's completion if
 * that comes first.
 */
export function releaseOnClose(): ReleasePolicy {
  const held = new Set<Lease>();
  const bySink = new WeakMap<ResponseSink, Lease[]>();
  return {
    written(lease, sink) {
      held.add(lease);
      let leases = bySink.get(sink);
      if (!leases) {
        const ofSink: Lease[] = [];
        leases = ofSink;
        bySink.set(sink, ofSink);
        void sink.closed.then(() => {
          for (const early of ofSink) if (held.delete(early)) early.release();
        });
      }
      leases.push(lease);
    },
    flushed(lease) {
      if (!held.delete(lease)) return;
      lease.writeCompleted();
      lease.release();
    },
  };
}

export interface ServerCancel {
  /** Body bytes after which the server cancels the response itself. */
  readonly afterBytes: number;
  /**
   * How: the sink's own cancel (RST_STREAM(CANCEL) once in-flight writes are done: correct), or
   * Wrong: stream.destroy(), which does not wait for them.
   */
  readonly by: 'sink' | 'destroy';
}

/** A sink decorator (TestOverrides.decorateSink) that cancels every response after some bytes. */
export function cancelAfter(cancel: ServerCancel) {
  return (sink: ResponseSink, stream: ServerHttp2Stream | undefined): ResponseSink => new CancellingSink(sink, stream, cancel);
}

class CancellingSink implements ResponseSink {
  readonly #inner: ResponseSink;
  readonly #stream: ServerHttp2Stream | undefined;
  readonly #cancel: ServerCancel;
  #written = 0;
  #isCancelled = false;

  constructor(inner: ResponseSink, stream: ServerHttp2Stream | undefined, cancel: ServerCancel) {
    this.#inner = inner;
    this.#stream = stream;
    this.#cancel = cancel;
  }

  get protocol(): ResponseSink['protocol'] {
    return this.#inner.protocol;
  }
  get ready(): Promise<void> {
    return this.#inner.ready;
  }
  get closed(): Promise<void> {
    return this.#inner.closed;
  }
  get unflushedBytes(): number {
    return this.#inner.unflushedBytes;
  }
  get peerWindowBytes(): number {
    return this.#inner.peerWindowBytes;
  }
  isOpen(): boolean {
    return !this.#isCancelled && this.#inner.isOpen();
  }
  isGone(): boolean {
    return this.#inner.isGone();
  }
  isClientReset(): boolean {
    return !this.#isCancelled && this.#inner.isClientReset();
  }
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    this.#inner.respond(status, headers, endStream);
  }
  write(chunk: Buffer, onFlushed: () => void): boolean {
    const accepted = this.#inner.write(chunk, onFlushed);
    this.#written += chunk.length;
    if (accepted && this.#written >= this.#cancel.afterBytes) this.cancel();
    return accepted;
  }
  end(): void {
    this.#inner.end();
  }
  cancel(): void {
    this.#isCancelled = true;
    const stream = this.#stream;
    if (this.#cancel.by === 'destroy' && stream) {
      if (!stream.destroyed) stream.destroy();
    } else {
      this.#inner.cancel();
    }
  }
}
