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
 * When a slab goes back to the pool. Only 'on-flush' is correct; the others exist so tests
 * can prove the byte verifiers catch a wrong policy (negative controls).
 */
export type ReleasePolicy = 'on-flush' | 'on-close' | 'after-write';

export interface SendLimits {
  readonly chunkBytes: number;
  readonly inflightBytes: number;
  readonly releasePolicy: ReleasePolicy;
  /** Test hook: the server cancels the stream itself after this many body bytes. */
  readonly cancelAfterBytes?: number | undefined;
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

export async function sendBody(
  sink: ResponseSink,
  file: MediaFile,
  segments: readonly BodySegment[],
  slabs: SlabSource,
  limits: SendLimits,
  hooks: SendHooks = NO_HOOKS,
): Promise<SendResult> {
  let isHeadPending = hooks.head !== undefined;
  let inflight = 0;
  let bytesWritten = 0;
  // Slow start (see the header). Bytes below `window` flow without a grant from the peer.
  const window = sink.peerWindowBytes;
  const minSlab = slabs.minSlabBytes;
  const maxWrite = Math.min(limits.chunkBytes, slabs.slabBytes);
  /** Unflushed bytes allowed past the initial window; grows on quick completions. */
  let allowance = minSlab;
  /** Issue times of the writes still out, oldest first (a stream's writes complete in order). */
  const issuedAt: number[] = [];
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // Made only when a stream must wait for a slab: one per request costs ~2% of the CPU of a
  // 64 KiB range in a profile (an AbortController, and an Error with its stack on close).
  let abort: AbortController | undefined;
  const outstanding = limits.releasePolicy === 'on-close' ? new Set<Lease>() : undefined;
  // Watched from the first wait on (and from the start for the 'on-close' control): a response
  // that never waits, like most small ranges, needs no reaction to its close.
  let isWatchingClose = false;
  const watchClose = (): void => {
    if (isWatchingClose) return;
    isWatchingClose = true;
    void sink.closed.then(() => {
      abort?.abort(new Error('stream closed'));
      if (outstanding) for (const lease of outstanding) lease.release(); // wrong on purpose
      outstanding?.clear();
      wakeUp();
    });
  };
  if (outstanding) watchClose();

  const result = (outcome: SendOutcome, error?: Error): SendResult =>
    error ? { outcome, bytesWritten, error } : { outcome, bytesWritten };
  const stopped = (): SendResult => result(sink.isClientReset() ? 'client-reset' : 'server-cancel');

  const sendHead = (): void => {
    isHeadPending = false;
    sink.respond(hooks.head!.status, hooks.head!.headers, false);
  };

  /** The most the next write could carry once nothing is unflushed (set by room()). */
  let ceiling = 0;
  /** How many bytes the next write may carry now (0 or less: wait for a write to complete). */
  const room = (): number => {
    if (bytesWritten + minSlab <= window) {
      ceiling = Math.min(maxWrite, window - bytesWritten, limits.inflightBytes);
      return Math.min(ceiling, limits.inflightBytes - inflight);
    }
    if (issuedAt.length > 0 && performance.now() - issuedAt[0]! >= SLOW_WRITE_MS) allowance = minSlab;
    ceiling = Math.min(maxWrite, allowance);
    return Math.min(maxWrite, allowance - inflight);
  };

  // Called only while the sink is open (each caller has just checked), so the head can go.
  const writeTracked = (chunk: Buffer, lease: Lease | undefined): boolean => {
    if (isHeadPending) sendHead();
    if (lease) {
      lease.writeStarted();
      outstanding?.add(lease);
    }
    const length = chunk.length;
    const end = bytesWritten + length;
    inflight += length;
    issuedAt.push(performance.now());
    const accepted = sink.write(chunk, () => {
      inflight -= length;
      const tookMs = performance.now() - issuedAt.shift()!;
      // Only a write that went past the initial window says anything about the peer's grants.
      if (end > window) allowance = tookMs < SLOW_WRITE_MS ? Math.min(limits.inflightBytes, allowance * 2) : minSlab;
      if (lease && limits.releasePolicy === 'on-flush') {
        lease.writeCompleted();
        lease.release();
      } else if (lease && outstanding?.delete(lease)) {
        lease.writeCompleted();
        lease.release();
      }
      wakeUp();
    });
    if (!accepted) {
      inflight -= length;
      issuedAt.pop();
      if (lease) {
        outstanding?.delete(lease);
        lease.writeRefused();
        lease.release();
      }
      return false;
    }
    if (bytesWritten === 0) hooks.onFirstWrite?.();
    bytesWritten = end;
    if (lease && limits.releasePolicy === 'after-write') lease.release(); // wrong on purpose
    return true;
  };

  /** Waits until a write of `bytes` fits, or as much of it as ever could; returns the room (0: closed). */
  const roomFor = async (bytes: number): Promise<number> => {
    watchClose();
    for (let r = room(); sink.isOpen(); r = room()) {
      if (r >= Math.min(bytes, ceiling)) return r;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return 0;
  };

  const waitForSlab = async (isProbe: boolean): Promise<Lease | undefined> => {
    if (!sink.isOpen()) return undefined;
    // Answer now: the stream may wait a while, and its client should see a response head.
    if (isHeadPending) sendHead();
    watchClose();
    abort ??= new AbortController();
    return slabs.acquire(abort.signal, isProbe).catch(() => undefined);
  };

  await sink.ready;
  try {
    for (const segment of segments) {
      if (segment.kind === 'literal') {
        if (!(await roomFor(segment.bytes.length)) || !writeTracked(segment.bytes, undefined)) return stopped();
        continue;
      }
      for (let position = segment.start; position <= segment.end; ) {
        if (limits.cancelAfterBytes !== undefined && bytesWritten >= limits.cancelAfterBytes) {
          sink.cancel();
          return result('server-cancel');
        }
        const left = segment.end - position + 1;
        let fits = room(); // no promise when there is room
        if (fits < Math.min(left, ceiling) || fits <= 0 || !sink.isOpen()) fits = await roomFor(left);
        if (fits <= 0) return stopped();
        // A probe: past the initial window with nothing yet shown to flow (buffer-pool.ts, "Probes").
        const isProbe = allowance === minSlab && bytesWritten + minSlab > window;
        const lease = slabs.tryAcquire(Math.min(fits, left), isProbe) ?? (await waitForSlab(isProbe));
        if (!lease) return stopped();
        const want = Math.min(fits, left, lease.buffer.length);
        let got: number;
        try {
          got = await file.read(lease.buffer, want, position);
        } catch (err) {
          lease.release();
          throw err;
        }
        if (!sink.isOpen()) {
          lease.release();
          return stopped();
        }
        if (got === 0) {
          lease.release();
          throw new Error(`${file.info.path} ended at ${position}, before the planned ${segment.end + 1} bytes`);
        }
        if (!writeTracked(lease.buffer.subarray(0, got), lease)) return stopped();
        position += got;
      }
    }
    sink.end();
    return result('complete');
  } catch (err) {
    if (isHeadPending) throw err; // nothing sent yet: the caller answers with an error status
    // Headers are out: the only honest signal left is resetting this one stream.
    sink.cancel();
    return result('error', err as Error);
  }
}
