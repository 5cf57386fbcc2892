// What each profile's viewer decides, with no I/O: how much one seek reads, when the next
// seek comes, when playback pauses. The viewer carries these decisions out.

import type { Profile } from './report.ts';
import { exponential, uniform } from './random.ts';
import type { Random } from './random.ts';

const KiB = 1024;

export interface SeekPlan {
  /** Bytes this seek reads before it stops reading (Infinity: play on at the bitrate). */
  readonly readLimitBytes: number;
  /** 'from-request': the next seek is due seekDelayMs after this one was issued;
   *  'after-read': seekDelayMs after the read limit was reached (a paused player; 0: at once). */
  readonly seekClock: 'from-request' | 'after-read';
  readonly seekDelayMs: number;
}

export function planSeek(profile: Profile, seekIntervalMs: number, random: Random): SeekPlan {
  switch (profile) {
    case 'scrubbing':
      // A drag across the timeline: 50-150 ms apart at the default mean of 100 ms.
      return {
        readLimitBytes: Math.round(uniform(random, 32 * KiB, 256 * KiB)),
        seekClock: 'from-request',
        seekDelayMs: uniform(random, 0.5 * seekIntervalMs, 1.5 * seekIntervalMs),
      };
    case 'paused-seeks':
      // Holds 0.2-2 s at the default mean of 1.1 s.
      return {
        readLimitBytes: Math.round(uniform(random, 16 * KiB, 512 * KiB)),
        seekClock: 'after-read',
        seekDelayMs: uniform(random, (0.2 / 1.1) * seekIntervalMs, (2 / 1.1) * seekIntervalMs),
      };
    case 'chrome-like':
      return { readLimitBytes: Infinity, seekClock: 'from-request', seekDelayMs: exponential(random, seekIntervalMs) };
    case 'max-rate':
      // No timer between seeks: the next one is issued the moment this one has read its limit,
      // so seeks/s is bounded by the server (TTFB + transfer) and the client, not by pacing.
      return { readLimitBytes: Math.round(uniform(random, 16 * KiB, 128 * KiB)), seekClock: 'after-read', seekDelayMs: 0 };
  }
}

export interface PlaybackPause {
  readonly afterMs: number;
  readonly forMs: number;
}

const MEAN_MS_BETWEEN_PAUSES = 15_000;

/** The next time the viewer presses pause (chrome-like only): it stops reading for 1-5 s. */
export function nextPlaybackPause(profile: Profile, random: Random): PlaybackPause | undefined {
  if (profile !== 'chrome-like') return undefined;
  return { afterMs: exponential(random, MEAN_MS_BETWEEN_PAUSES), forMs: uniform(random, 1000, 5000) };
}

/** One line saying what a profile's viewers do with these settings, for the summary. */
export function describeBehaviour(profile: Profile, seekIntervalMs: number): string {
  const s = (ms: number): string => (ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
  const range = (a: number, b: number): string => {
    const [from, to] = [s(a), s(b)];
    return from.split(' ')[1] === to.split(' ')[1] ? `${from.split(' ')[0]}-${to}` : `${from}-${to}`;
  };
  switch (profile) {
    case 'scrubbing':
      return `reads 32-256 KiB per seek, a seek every ${range(0.5 * seekIntervalMs, 1.5 * seekIntervalMs)}`;
    case 'paused-seeks':
      return `reads 16-512 KiB, stops reading for ${range((0.2 / 1.1) * seekIntervalMs, (2 / 1.1) * seekIntervalMs)}, then seeks`;
    case 'chrome-like':
      return `plays behind a forward buffer, a seek every ~${s(seekIntervalMs)} (exponential), pauses of 1-5 s every ~${s(MEAN_MS_BETWEEN_PAUSES)}`;
    case 'max-rate':
      return 'reads 16-128 KiB per seek, then seeks again at once (no pacing: the server and the client set the rate)';
  }
}
