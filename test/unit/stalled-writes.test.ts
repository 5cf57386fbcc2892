// StalledWrites (issue 12): a stalled write is cancelled sooner while streams wait for a pool
// slab, and a session whose stalled streams never took a byte is reported as window hoarding,
// once, while one whose streams flowed before they stalled, or whose step 1 never finished (a
// client that stopped reading its socket), is not. Fake responses; real timers, small timeouts.

import assert from 'node:assert/strict';
import type { Http2Session, ServerHttp2Session } from 'node:http2';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HOARDING_STREAMS, PRESSURE_DIVISOR, StalledWrites } from '../../server/lifecycle/stalled-writes.ts';
import type { WatchedWrites } from '../../server/streaming/response-sink.ts';
import { SessionRecord } from '../../server/connection/connection-registry.ts';

/** The registry's record of a session; the fake session is a plain object. */
const sessionRecord = (): SessionRecord => new SessionRecord({} as ServerHttp2Session, undefined);

const STALLED_MS = 400;
/** One HTTP/2 session, for the tests that must not report it. */
const SESSION = sessionRecord();

/** A response with bytes out and no progress; cancel() closes it at once unless told otherwise. */
class FakeWrites implements WatchedWrites {
  readonly sessionRecord: SessionRecord | undefined;
  unflushedBytes = 16_384;
  flushedWrites: number;
  cancelledAt = 0;
  unwatch: (() => void) | undefined;
  readonly #closesOnCancel: boolean;

  constructor(session: SessionRecord | undefined, flushedWrites = 0, closesOnCancel = true) {
    this.sessionRecord = session;
    this.flushedWrites = flushedWrites;
    this.#closesOnCancel = closesOnCancel;
  }

  cancel(): void {
    this.cancelledAt = performance.now();
    // Node calls the queued writes back, then the stream closes.
    this.flushedWrites++;
    if (this.#closesOnCancel) this.unwatch?.();
  }

  abandon(): void {}
}

function watcher(options: { underPressure?: boolean; onHoarding?: (session: Http2Session) => void } = {}): StalledWrites {
  return new StalledWrites({
    stalledMs: STALLED_MS,
    abandonAfterMs: 60_000,
    stuckMs: 60_000,
    tcpSocketOf: () => undefined,
    isUnderPressure: () => options.underPressure ?? false,
    ...(options.onHoarding ? { onWindowHoarding: options.onHoarding } : {}),
  });
}

describe('StalledWrites under pool pressure', () => {
  for (const underPressure of [false, true]) {
    it(`${underPressure ? 'streams waiting for a slab' : 'no pressure'}: cancelled after ${underPressure ? `STALLED_WRITE_TIMEOUT_MS / ${PRESSURE_DIVISOR}` : 'STALLED_WRITE_TIMEOUT_MS'}`, async () => {
      const stalled = watcher({ underPressure });
      const writes = new FakeWrites(undefined, 1);
      const began = performance.now();
      writes.unwatch = stalled.watch(writes);
      while (writes.cancelledAt === 0 && performance.now() - began < STALLED_MS * 3) await sleep(10);
      const after = writes.cancelledAt - began;
      const expected = underPressure ? STALLED_MS / PRESSURE_DIVISOR : STALLED_MS;
      assert.ok(writes.cancelledAt > 0, 'cancelled');
      assert.ok(after >= expected * 0.9, `cancelled after ${Math.round(after)} ms, not before ~${expected}`);
      if (underPressure) assert.ok(after < STALLED_MS * 0.9, `cancelled after ${Math.round(after)} ms: sooner than without pressure`);
    });
  }
});

describe('StalledWrites: window hoarding', () => {
  const stallAll = async (stalled: StalledWrites, all: FakeWrites[]): Promise<void> => {
    for (const writes of all) writes.unwatch = stalled.watch(writes);
    const began = performance.now();
    while (all.some((w) => w.cancelledAt === 0) && performance.now() - began < STALLED_MS * 4) await sleep(10);
  };

  it(`${HOARDING_STREAMS} streams of one session closed by step 1 without a byte taken: reported once`, async () => {
    const reported: Http2Session[] = [];
    const stalled = watcher({ onHoarding: (s) => reported.push(s) });
    const session = sessionRecord();
    await stallAll(stalled, Array.from({ length: HOARDING_STREAMS * 2 }, () => new FakeWrites(session)));
    assert.deepEqual(reported, [session.session]);
  });

  it('streams that took bytes before they stalled (a paused video): not reported', async () => {
    const reported: Http2Session[] = [];
    const stalled = watcher({ onHoarding: (s) => reported.push(s) });
    await stallAll(stalled, Array.from({ length: HOARDING_STREAMS * 2 }, () => new FakeWrites(SESSION, 1)));
    assert.equal(reported.length, 0);
  });

  it('streams whose cancel never closed them (the client stopped reading its socket): not reported', async () => {
    const reported: Http2Session[] = [];
    const stalled = watcher({ onHoarding: (s) => reported.push(s) });
    await stallAll(stalled, Array.from({ length: HOARDING_STREAMS * 2 }, () => new FakeWrites(SESSION, 0, false)));
    assert.equal(reported.length, 0);
  });

  it('HTTP/1.1 responses (no session, no windows): not reported', async () => {
    const reported: Http2Session[] = [];
    const stalled = watcher({ onHoarding: (s) => reported.push(s) });
    await stallAll(stalled, Array.from({ length: HOARDING_STREAMS * 2 }, () => new FakeWrites(undefined)));
    assert.equal(reported.length, 0);
  });
});
