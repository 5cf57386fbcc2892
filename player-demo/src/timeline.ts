// The timeline under the video: buffered ranges as a bar, the played part and the playhead,
// and a scrubber: press and drag on it to seek (one seek per animation frame while dragging,
// as a real scrubber does), or use the arrow keys.

import type { SeekTracker } from './seek-tracker.ts';

export class Timeline {
  readonly #root: HTMLElement;
  readonly #ranges: HTMLElement;
  readonly #played: HTMLElement;
  readonly #head: HTMLElement;
  readonly #label: HTMLElement;
  readonly #video: HTMLVideoElement;
  readonly #tracker: SeekTracker;
  #pendingSeek: number | undefined;

  constructor(root: HTMLElement, label: HTMLElement, video: HTMLVideoElement, tracker: SeekTracker) {
    this.#root = root;
    this.#label = label;
    this.#video = video;
    this.#tracker = tracker;
    this.#ranges = part(root, 'timeline-ranges');
    this.#played = part(root, 'timeline-played');
    this.#head = part(root, 'timeline-head');
    for (const type of ['progress', 'timeupdate', 'durationchange', 'seeking', 'emptied']) {
      video.addEventListener(type, () => this.render());
    }
    setInterval(() => this.render(), 500); // 'progress' fires at most every 350 ms and not after the end
    this.#listenForScrubbing();
  }

  render(): void {
    const duration = this.#video.duration;
    if (!Number.isFinite(duration) || duration <= 0) {
      this.#ranges.replaceChildren();
      this.#label.textContent = 'buffered: nothing yet';
      return;
    }
    const buffered = this.#video.buffered;
    const bars: HTMLElement[] = [];
    const spans: string[] = [];
    for (let i = 0; i < buffered.length; i++) {
      const start = buffered.start(i);
      const end = buffered.end(i);
      const bar = document.createElement('div');
      bar.className = 'timeline-range';
      bar.style.left = `${(start / duration) * 100}%`;
      bar.style.width = `${((end - start) / duration) * 100}%`;
      bars.push(bar);
      spans.push(`${start.toFixed(1)}-${end.toFixed(1)} s`);
    }
    this.#ranges.replaceChildren(...bars);
    const at = (this.#video.currentTime / duration) * 100;
    this.#played.style.width = `${at}%`;
    this.#head.style.left = `${at}%`;
    this.#root.setAttribute('aria-valuemax', duration.toFixed(1));
    this.#root.setAttribute('aria-valuenow', this.#video.currentTime.toFixed(1));
    this.#root.setAttribute('aria-valuetext', `${this.#video.currentTime.toFixed(1)} of ${duration.toFixed(1)} seconds`);
    this.#label.textContent = `buffered: ${spans.join(', ') || 'nothing'}`;
  }

  #listenForScrubbing(): void {
    const root = this.#root;
    const positionAt = (event: PointerEvent): number => {
      const box = root.getBoundingClientRect();
      const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      return share * (Number.isFinite(this.#video.duration) ? this.#video.duration : 0);
    };
    root.addEventListener('pointerdown', (event) => {
      root.setPointerCapture(event.pointerId);
      this.#seekOnNextFrame(positionAt(event));
    });
    root.addEventListener('pointermove', (event) => {
      if (root.hasPointerCapture(event.pointerId)) this.#seekOnNextFrame(positionAt(event));
    });
    root.addEventListener('keydown', (event) => {
      const step = event.key === 'ArrowRight' ? 5 : event.key === 'ArrowLeft' ? -5 : 0;
      if (!step) return;
      event.preventDefault();
      this.#tracker.seek(Math.max(0, this.#video.currentTime + step));
    });
  }

  /** Pointer events come faster than frames; a scrubber seeks at most once per frame. */
  #seekOnNextFrame(seconds: number): void {
    const isScheduled = this.#pendingSeek !== undefined;
    this.#pendingSeek = seconds;
    if (isScheduled) return;
    requestAnimationFrame(() => {
      const target = this.#pendingSeek;
      this.#pendingSeek = undefined;
      if (target !== undefined) this.#tracker.seek(target);
    });
  }
}

function part(root: HTMLElement, className: string): HTMLElement {
  const element = root.querySelector<HTMLElement>(`.${className}`);
  if (!element) throw new Error(`timeline: missing .${className}`);
  return element;
}
