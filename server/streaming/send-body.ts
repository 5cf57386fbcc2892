// The data path: read a chunk into a leased slab, write it, release the slab when that
// write completes. Nothing else releases a slab ('close', 'aborted' and 'finish' say nothing
// about whether the socket still reads from it).
//
// Per stream at most `inflightBytes` are written and not yet flushed; beyond that the loop
// waits for a write to complete or the stream to close. So a paused viewer holds at most that
// much, the file is read only as fast as the client takes it, and the bytes a reset leaves
// queued (which Node never subtracts from session memory) stay small.
//
// After every await the stream may have died; each resumption checks before touching it.
//
// The response head can travel with the body: given one, sendBody sends it right before the
// first body bytes, after the first read, so HEADERS and the first DATA frame leave in one
// socket write instead of two (for a 64 KiB range that cut ~8% of the server's CPU per request).
// A read that fails before that is thrown, and the caller can still answer with an error status.

import type { BufferPool, Lease } from './buffer-pool.ts';
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

export async function sendBody(
  sink: ResponseSink,
  file: MediaFile,
  segments: readonly BodySegment[],
  pool: BufferPool,
  limits: SendLimits,
  hooks: SendHooks = NO_HOOKS,
): Promise<SendResult> {
  let isHeadPending = hooks.head !== undefined;
  let inflight = 0;
  let bytesWritten = 0;
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

  // Called only while the sink is open (each caller has just checked), so the head can go.
  const writeTracked = (chunk: Buffer, lease: Lease | undefined): boolean => {
    if (isHeadPending) {
      isHeadPending = false;
      sink.respond(hooks.head!.status, hooks.head!.headers, false);
    }
    if (lease) {
      lease.writeStarted();
      outstanding?.add(lease);
    }
    inflight += chunk.length;
    const accepted = sink.write(chunk, () => {
      inflight -= chunk.length;
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
      inflight -= chunk.length;
      if (lease) {
        outstanding?.delete(lease);
        lease.writeRefused();
        lease.release();
      }
      return false;
    }
    if (bytesWritten === 0) hooks.onFirstWrite?.();
    bytesWritten += chunk.length;
    if (lease && limits.releasePolicy === 'after-write') lease.release(); // wrong on purpose
    return true;
  };

  const roomToWrite = async (): Promise<boolean> => {
    watchClose();
    while (inflight >= limits.inflightBytes && sink.isOpen()) {
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return sink.isOpen();
  };

  const waitForSlab = async (): Promise<Lease | undefined> => {
    if (!sink.isOpen()) return undefined;
    watchClose();
    abort ??= new AbortController();
    return pool.acquire(abort.signal).catch(() => undefined);
  };

  await sink.ready;
  try {
    for (const segment of segments) {
      if (segment.kind === 'literal') {
        if (!(await roomToWrite()) || !writeTracked(segment.bytes, undefined)) return stopped();
        continue;
      }
      for (let position = segment.start; position <= segment.end; ) {
        if (limits.cancelAfterBytes !== undefined && bytesWritten >= limits.cancelAfterBytes) {
          sink.cancel();
          return result('server-cancel');
        }
        const hasRoom = inflight < limits.inflightBytes && sink.isOpen(); // no promise when there is room
        if (!hasRoom && !(await roomToWrite())) return stopped();
        const lease = pool.tryAcquire() ?? (await waitForSlab());
        if (!lease) return stopped();
        const want = Math.min(limits.chunkBytes, pool.slabBytes, segment.end - position + 1);
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
