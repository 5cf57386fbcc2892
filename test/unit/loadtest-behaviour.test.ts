// What each storm profile's viewers decide (loadtest/behaviour.ts), as tables over seeded
// draws, and the max-rate profile end to end in the pure parts: no timer between a read
// reaching its limit and the next seek, no seek interval, unpaced by default.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeBehaviour, planSeek } from '../../loadtest/behaviour.ts';
import type { SeekPlan } from '../../loadtest/behaviour.ts';
import { parseCommandLine } from '../../loadtest/cli-args.ts';
import { seededRandom } from '../../loadtest/random.ts';
import type { RangeStream } from '../../loadtest/range-stream.ts';
import type { Profile } from '../../loadtest/report.ts';
import { SeekPlayback } from '../../loadtest/seek-playback.ts';
import { makeStormSettings, PROFILE_NAMES, PROFILES, SettingsError } from '../../loadtest/settings.ts';

const KiB = 1024;
const URL_ = 'http://127.0.0.1:1/x';

interface Expected {
  readonly readLimit: readonly [number, number];
  readonly clock: SeekPlan['seekClock'];
  readonly delayMs: readonly [number, number];
}

// With each profile's default seek interval.
const TABLE: Readonly<Record<Profile, Expected>> = {
  'chrome-like': { readLimit: [Infinity, Infinity], clock: 'from-request', delayMs: [0, Infinity] },
  scrubbing: { readLimit: [32 * KiB, 256 * KiB], clock: 'from-request', delayMs: [50, 150] },
  'paused-seeks': { readLimit: [16 * KiB, 512 * KiB], clock: 'after-read', delayMs: [200, 2000] },
  'max-rate': { readLimit: [16 * KiB, 128 * KiB], clock: 'after-read', delayMs: [0, 0] },
};

describe('load tool profiles: planSeek', () => {
  it('the table covers every profile', () => {
    assert.deepEqual(Object.keys(TABLE).sort(), [...PROFILE_NAMES].sort());
  });

  for (const profile of PROFILE_NAMES) {
    it(`${profile}: read limit, seek clock and delay stay in the profile's ranges`, () => {
      const want = TABLE[profile];
      const random = seededRandom(42);
      const limits: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const plan = planSeek(profile, PROFILES[profile].seekIntervalMs, random);
        assert.equal(plan.seekClock, want.clock);
        assert.ok(plan.readLimitBytes >= want.readLimit[0] && plan.readLimitBytes <= want.readLimit[1], `read limit ${plan.readLimitBytes}`);
        assert.ok(plan.seekDelayMs >= want.delayMs[0] - 1e-9 && plan.seekDelayMs <= want.delayMs[1] + 1e-9, `delay ${plan.seekDelayMs}`);
        limits.push(plan.readLimitBytes);
      }
      if (Number.isFinite(want.readLimit[1])) {
        // Spread over the range, not stuck at one end.
        const span = want.readLimit[1] - want.readLimit[0];
        assert.ok(Math.min(...limits) < want.readLimit[0] + span * 0.05 && Math.max(...limits) > want.readLimit[1] - span * 0.05);
        assert.ok(limits.every(Number.isInteger));
      }
    });
  }

  it('max-rate: no delay whatever the interval passed, and a summary line that says so', () => {
    const random = seededRandom(7);
    for (const interval of [0, 1, 100, 5000]) assert.equal(planSeek('max-rate', interval, random).seekDelayMs, 0);
    assert.match(describeBehaviour('max-rate', 0), /16-128 KiB per seek, then seeks again at once/);
  });
});

describe('load tool profiles: max-rate settings', () => {
  it('defaults to no seek interval and an unpaced bitrate, and refuses an interval', () => {
    const s = makeStormSettings({ urls: [URL_], profile: 'max-rate' });
    assert.equal(s.seekIntervalMs, 0);
    assert.equal(s.bitrateBps, 0);
    assert.equal(makeStormSettings(s).seekIntervalMs, 0, 'settings re-validate');
    assert.throws(() => makeStormSettings({ urls: [URL_], profile: 'max-rate', seekIntervalMs: 100 }), SettingsError);
    assert.throws(() => makeStormSettings({ urls: [URL_], profile: 'scrubbing', seekIntervalMs: 0 }), SettingsError);
  });

  it('the command line takes --profile max-rate, and refuses --seek-interval-ms with it', () => {
    const run = parseCommandLine([URL_, '--profile', 'max-rate', '--duration', '2s', '--max-seeks', '500']);
    assert.ok(run.kind === 'run');
    assert.equal(run.settings.profile, 'max-rate');
    assert.equal(run.settings.durationMs, 2000);
    assert.equal(run.settings.maxSeeks, 500);
    assert.throws(() => parseCommandLine([URL_, '--profile', 'max-rate', '--seek-interval-ms', '100']), /max-rate/);
  });
});

/** The parts of a RangeStream that SeekPlayback touches, and what it did to them. */
interface FakeStream {
  readonly offset: number;
  received: number;
  cancels: number;
  readonly heldFor: string[];
  hold(reason: string, isOn: boolean): void;
  cancel(): void;
}

function fakeStream(): FakeStream {
  const fake: FakeStream = {
    offset: 1000,
    received: 0,
    cancels: 0,
    heldFor: [],
    hold(reason, isOn) {
      if (isOn) fake.heldFor.push(reason);
    },
    cancel() {
      fake.cancels++;
    },
  };
  return fake;
}

function startPlayback(fake: FakeStream, plan: SeekPlan): SeekPlayback {
  const settings = makeStormSettings({ urls: [URL_], profile: 'max-rate' });
  return new SeekPlayback({ stream: fake as unknown as RangeStream, plan, issuedAt: 0, firstByteAt: 1 }, settings, seededRandom(1));
}

describe('load tool profiles: max-rate playback', () => {
  it('cancels the stream the moment the read limit is reached, with no timer in between', async () => {
    const stream = fakeStream();
    stream.received = 16 * KiB; // the first chunk, already in when the first byte was seen
    const playback = startPlayback(stream, { readLimitBytes: 32 * KiB, seekClock: 'after-read', seekDelayMs: 0 });
    let isDone = false;
    void playback.done.then(() => (isDone = true));
    assert.equal(stream.cancels, 0, 'under the read limit: still reading');
    stream.received = 32 * KiB;
    playback.onBytes(16 * KiB);
    assert.equal(stream.cancels, 1, 'cancelled synchronously, in the same tick as the last chunk');
    assert.deepEqual(stream.heldFor, ['read-limit']);
    await Promise.resolve();
    assert.ok(isDone, 'the next seek may start at once');
  });

  it('a first chunk that already covers the read limit ends the seek in the constructor', () => {
    const stream = fakeStream();
    stream.received = 64 * KiB;
    startPlayback(stream, { readLimitBytes: 16 * KiB, seekClock: 'after-read', seekDelayMs: 0 });
    assert.equal(stream.cancels, 1);
  });
});
