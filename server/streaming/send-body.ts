// The data path: read a chunk into a leased slab, write it, release the slab when that
// write completes. Nothing else releases a slab ('close', 'aborted' and 'finish' say nothing
// about whether the socket still reads from it).
//
// Produce only what the peer can take (docs/slab-policy.md). Node gives no event when an
// HTTP/2 peer grants more window, so each stream sizes its writes like TCP's slow start:
// - Inside the window the peer granted up front (its SETTINGS_INITIAL_WINDOW_SIZE), bytes flow
//   without any grant: writes are as large as CHUNK_BYTES and that window allow, at most
//   `inflightBytes` unflushed.
// - Past it, only a completed write proves the peer granted more. The stream sends one
//   smallest slab (a probe); each write past the window that completes within SLOW_WRITE_MS
//   doubles what may be unflushed, up to `inflightBytes`; a write that takes longer, or is
//   still out after that long, takes it back to one smallest slab.
// So a stream held at a zero window (a paused video, a hostile client) keeps one small slab,
// while a stream whose peer keeps up writes full chunks after a few completions. Probe slabs
// may fill only part of the pool, so new viewers' first windows always find room. The file is
// read only as fast as the client takes it, and the bytes a reset leaves queued (which Node
// never subtracts from session memory) stay small.
//
// After every await the stream may have died; each resumption checks before touching it.
//
// The response head can travel with the body: given one, sendBody sends it right before the
// first body bytes, after the first read, so HEADERS and the first DATA frame leave in one
// socket write instead of two (for a 64 KiB range that cut ~8% of the server's CPU per request).
// A stream that must wait for a slab sends its head first, so every stream is answered at
// once whatever the pool's state. A read that fails before the head is out is thrown, and the
// caller can still answer with an error status.
//
// One BodySend per response, its steps methods on the prototype: per response the sender makes
// one object and one callback per write, not a closure per step.

import type { Lease, SlabSource } from './buffer-pool.ts';
import { performance } from 'node:perf_hooks';
import type { ResponseSink } from './response-sink.ts';
import type { MediaFile } from '../../storage/storage.ts';
import type { OutgoingHttpHeaders } from 'node:http2';

/** One piece of a response body: bytes we made (multipart delimiters) or a file range. */
export type BodySegment =
  | { readonly kind: 'literal'; readonly bytes: Buffer }
  | { readonly kind: 'file'; readonly start: number; readonly end: number };

/**
 * When a slab goes back to the pool, told of each write that carries one. The server uses
 * RELEASE_ON_FLUSH; tests inject wrong policies (test/support/wrong-policies.ts) to prove the
 * byte verifiers catch them.
 */
export interface ReleasePolicy {
  /** The write carrying `lease` was handed to the sink, which will call it back. */
  written(lease: Lease, sink: ResponseSink): void;
  /** That write completed: nothing references the slab any more. */
  flushed(lease: Lease): void;
}

/** The only correct policy: a slab returns to the pool when the write carrying it completed. */
export const RELEASE_ON_FLUSH: ReleasePolicy = {
  written() {},
  flushed(lease) {
    lease.writeCompleted();
    lease.release();
  },
};

export interface SendLimits {
  readonly chunkBytes: number;
  readonly inflightBytes: number;
  readonly releasePolicy: ReleasePolicy;
}

/** What happens around the body besides writing it. */
export interface SendHooks {
  /** The response head, sent with the first body bytes; absent: the caller has responded. */
  readonly head?: { readonly status: number; readonly headers: OutgoingHttpHeaders } | undefined;
  /** Called once, when the first body bytes are handed to the transport. */
  readonly onFirstWrite?: (() => void) | undefined;
}

const NO_HOOKS: SendHooks = {};

export type SendOutcome = 'complete' | 'client-reset' | 'server-cancel' | 'error';

export interface SendResult {
  readonly outcome: SendOutcome;
  /** Body bytes handed to the transport (including those a reset later discarded). */
  readonly bytesWritten: number;
  readonly error?: Error;
}

/**
 * A write past the peer's initial window that takes longer than this to complete means the peer
 * is not granting window (paused, or its socket is full): the stream falls back to one smallest
 * slab. Long next to a loopback or LAN write (well under 10 ms), short next to a person.
 */
export const SLOW_WRITE_MS = 250;

export function sendBody(
  sink: ResponseSink,
  file: MediaFile,
  segments: readonly BodySegment[],
  slabs: SlabSource,
  limits: SendLimits,
  hooks: SendHooks = NO_HOOKS,
): Promise<SendResult> {
  return new BodySend(sink, file, slabs, limits, hooks).run(segments);
}

class BodySend {
  readonly #sink: ResponseSink;
  readonly #file: MediaFile;
  readonly #slabs: SlabSource;
  readonly #limits: SendLimits;
  readonly #hooks: SendHooks;
  /** Bytes below this offset flow without a grant from the peer (its initial window). */
  readonly #window: number;
  readonly #minSlab: number;
  readonly #maxWrite: number;
  #isHeadPending: boolean;
  #inflight = 0;
  #bytesWritten = 0;
  /** Unflushed bytes allowed past the initial window; grows on quick completions. */
  #allowance: number;
  /** The most the next write could carry once nothing is unflushed (set by #room()). */
  #ceiling = 0;
  /** Issue times of the writes still out, oldest first (a stream's writes complete in order). */
  readonly #issuedAt: number[] = [];
  /** Resolves the wait for room or for the sink to close. */
  #wake: (() => void) | undefined;
  // Made only when a stream must wait for a slab: one per request costs ~2% of the CPU of a
  // 64 KiB range in a profile (an AbortController, and an Error with its stack on close).
  #abort: AbortController | undefined;
  // Watched from the first wait on: a response that never waits, like most small ranges, needs
  // no reaction to its close.
  #isWatchingClose = false;

  constructor(sink: ResponseSink, file: MediaFile, slabs: SlabSource, limits: SendLimits, hooks: SendHooks) {
    this.#sink = sink;
    this.#file = file;
    this.#slabs = slabs;
    this.#limits = limits;
    this.#hooks = hooks;
    this.#window = sink.peerWindowBytes;
    this.#minSlab = slabs.minSlabBytes;
    this.#maxWrite = Math.min(limits.chunkBytes, slabs.slabBytes);
    this.#allowance = this.#minSlab;
    this.#isHeadPending = hooks.head !== undefined;
  }

  async run(segments: readonly BodySegment[]): Promise<SendResult> {
    const sink = this.#sink;
    await sink.ready;
    try {
      for (const segment of segments) {
        const isSent = segment.kind === 'literal' ? await this.#sendLiteral(segment.bytes) : await this.#sendRange(segment.start, segment.end);
        if (!isSent) return this.#stopped();
      }
      sink.end();
      return this.#result('complete');
    } catch (err) {
      if (this.#isHeadPending) throw err; // nothing sent yet: the caller answers with an error status
      // Headers are out: the only honest signal left is resetting this one stream.
      sink.cancel();
      return this.#result('error', err as Error);
    }
  }

  async #sendLiteral(bytes: Buffer): Promise<boolean> {
    return (await this.#roomFor(bytes.length)) > 0 && this.#write(bytes, undefined);
  }

  /** Bytes start..end of the file; false when the sink closed first. */
  async #sendRange(start: number, end: number): Promise<boolean> {
    const sink = this.#sink;
    const slabs = this.#slabs;
    for (let position = start; position <= end; ) {
      const left = end - position + 1;
      let fits = this.#room(); // no promise when there is room
      if (fits < Math.min(left, this.#ceiling) || fits <= 0 || !sink.isOpen()) fits = await this.#roomFor(left);
      if (fits <= 0) return false;
      // A probe: past the initial window with nothing yet shown to flow (buffer-pool.ts, "Probes").
      const isProbe = this.#allowance === this.#minSlab && this.#bytesWritten + this.#minSlab > this.#window;
      const lease = slabs.tryAcquire(Math.min(fits, left), isProbe) ?? (await this.#waitForSlab(isProbe));
      if (!lease) return false;
      const want = Math.min(fits, left, lease.buffer.length);
      let got: number;
      try {
        got = await this.#file.read(lease.buffer, want, position);
      } catch (err) {
        lease.release();
        throw err;
      }
      if (!sink.isOpen()) {
        lease.release();
        return false;
      }
      if (got === 0) {
        lease.release();
        throw new Error(`${this.#file.info.path} ended at ${position}, before the planned ${end + 1} bytes`);
      }
      if (!this.#write(lease.buffer.subarray(0, got), lease)) return false;
      position += got;
    }
    return true;
  }

  /** How many bytes the next write may carry now (0 or less: wait for a write to complete). */
  #room(): number {
    const limits = this.#limits;
    const written = this.#bytesWritten;
    if (written + this.#minSlab <= this.#window) {
      this.#ceiling = Math.min(this.#maxWrite, this.#window - written, limits.inflightBytes);
      return Math.min(this.#ceiling, limits.inflightBytes - this.#inflight);
    }
    const issuedAt = this.#issuedAt;
    if (issuedAt.length > 0 && performance.now() - issuedAt[0]! >= SLOW_WRITE_MS) this.#allowance = this.#minSlab;
    this.#ceiling = Math.min(this.#maxWrite, this.#allowance);
    return Math.min(this.#maxWrite, this.#allowance - this.#inflight);
  }

  /** Waits until a write of `bytes` fits, or as much of it as ever could; returns the room (0: closed). */
  async #roomFor(bytes: number): Promise<number> {
    this.#watchClose();
    for (let r = this.#room(); this.#sink.isOpen(); r = this.#room()) {
      if (r >= Math.min(bytes, this.#ceiling)) return r;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return 0;
  }

  async #waitForSlab(isProbe: boolean): Promise<Lease | undefined> {
    if (!this.#sink.isOpen()) return undefined;
    // Answer now: the stream may wait a while, and its client should see a response head.
    if (this.#isHeadPending) this.#sendHead();
    this.#watchClose();
    this.#abort ??= new AbortController();
    return this.#slabs.acquire(this.#abort.signal, isProbe).catch(() => undefined);
  }

  /** From the first wait on, the sink's close ends any wait (for room or for a slab). */
  #watchClose(): void {
    if (this.#isWatchingClose) return;
    this.#isWatchingClose = true;
    void this.#sink.closed.then(() => {
      this.#abort?.abort(new Error('stream closed'));
      this.#wakeUp();
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #sendHead(): void {
    this.#isHeadPending = false;
    const head = this.#hooks.head!;
    this.#sink.respond(head.status, head.headers, false);
  }

  /** Hands a chunk to the sink; called only while the sink is open (each caller has just checked). */
  #write(chunk: Buffer, lease: Lease | undefined): boolean {
    if (this.#isHeadPending) this.#sendHead();
    lease?.writeStarted();
    const length = chunk.length;
    const end = this.#bytesWritten + length;
    this.#inflight += length;
    this.#issuedAt.push(performance.now());
    const accepted = this.#sink.write(chunk, () => this.#flushed(length, end, lease));
    if (!accepted) {
      this.#inflight -= length;
      this.#issuedAt.pop();
      if (lease) {
        lease.writeRefused();
        lease.release();
      }
      return false;
    }
    if (this.#bytesWritten === 0) this.#hooks.onFirstWrite?.();
    this.#bytesWritten = end;
    if (lease) this.#limits.releasePolicy.written(lease, this.#sink);
    return true;
  }

  /** A write completed; `end`: the body offset just past its bytes. */
  #flushed(length: number, end: number, lease: Lease | undefined): void {
    this.#inflight -= length;
    const tookMs = performance.now() - this.#issuedAt.shift()!;
    // Only a write that went past the initial window says anything about the peer's grants.
    if (end > this.#window) this.#allowance = tookMs < SLOW_WRITE_MS ? Math.min(this.#limits.inflightBytes, this.#allowance * 2) : this.#minSlab;
    if (lease) this.#limits.releasePolicy.flushed(lease);
    this.#wakeUp();
  }

  #result(outcome: SendOutcome, error?: Error): SendResult {
    return error ? { outcome, bytesWritten: this.#bytesWritten, error } : { outcome, bytesWritten: this.#bytesWritten };
  }

  #stopped(): SendResult {
    return this.#result(this.#sink.isClientReset() ? 'client-reset' : 'server-cancel');
  }
}
