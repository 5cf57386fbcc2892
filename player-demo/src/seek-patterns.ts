// The demo's two seek patterns. A storm seeks to random positions at a fixed rate, whether or
// not the last seek finished (an impatient viewer clicking along the timeline): each seek to
// an unbuffered position makes the browser cancel a range request (RST_STREAM) and open a new
// one. A scrub imitates a dragged scrubber: playback paused, small steps at a high rate with
// the hand speeding up, slowing down and turning, then released, and playback resumes.

import type { SeekTracker } from './seek-tracker.ts';

export interface SeekRun {
  readonly ratePerSec: number;
  readonly durationMs: number;
  readonly signal: AbortSignal;
}

/** Seeks stay this far from the end, so playback can be seen to advance after each. */
const END_MARGIN_S = 3;

export async function runStorm(video: HTMLVideoElement, tracker: SeekTracker, run: SeekRun): Promise<void> {
  await video.play().catch(() => {}); // a refused autoplay shows as no progress, not as a crash
  await paced(run, () => tracker.seek(Math.random() * seekableEnd(video)));
}

export async function runScrub(video: HTMLVideoElement, tracker: SeekTracker, run: SeekRun): Promise<void> {
  video.pause();
  const end = seekableEnd(video);
  let position = video.currentTime;
  let speed = randomSpeed(); // media seconds per second of dragging
  const stepS = 1 / run.ratePerSec;
  await paced(run, () => {
    if (Math.random() < 0.1) speed = randomSpeed();
    position += speed * stepS;
    if (position < 0 || position > end) {
      speed = -speed;
      position = Math.min(end, Math.max(0, position));
    }
    tracker.seek(position);
  });
  await video.play().catch(() => {});
}

/** Calls `step` ratePerSec times a second until durationMs or the abort, without drifting. */
async function paced(run: SeekRun, step: () => void): Promise<void> {
  const periodMs = 1000 / run.ratePerSec;
  const endAt = performance.now() + run.durationMs;
  let next = performance.now();
  while (!run.signal.aborted && performance.now() < endAt) {
    step();
    next += periodMs;
    await sleep(Math.max(0, next - performance.now()), run.signal);
  }
}

function seekableEnd(video: HTMLVideoElement): number {
  return Number.isFinite(video.duration) ? Math.max(0, video.duration - END_MARGIN_S) : 0;
}

function randomSpeed(): number {
  return (Math.random() < 0.5 ? -1 : 1) * (1 + Math.random() * 9);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
