// What happened to every seek of one <video>: issued ('seeking'), completed ('seeked'), and
// whether playback then advanced or a newer seek came first. Every seek counts, whoever made
// it (the storm, the scrubber, the native controls), since all of them fire 'seeking'.

export interface SeekFigures {
  /** 'seeking' events: every currentTime change. */
  issued: number;
  /** 'seeked' events. A seek made while another is pending replaces it: only the last completes. */
  completed: number;
  /** Completed seeks after which playback moved forward. */
  advanced: number;
  /** Completed seeks that a newer seek replaced before playback moved. */
  superseded: number;
  /** Completed seeks that did not move for STUCK_MS while playing, and no newer seek came. */
  stuck: number;
  /** 'waiting' events: playback stopped for lack of data. */
  stalls: number;
  /** From the last seek's start to the first video frame presented after its 'seeked'. */
  lastFirstFrameMs: number | undefined;
  /** The media error, if any ("code: message"). */
  error: string | undefined;
}

export type Phase = 'seeking' | 'awaiting-progress' | 'advanced' | 'stuck';

interface CurrentSeek {
  phase: Phase;
  readonly startedAt: number;
  seekedAt: number;
  position: number;
  isFirstFrameSeen: boolean;
}

/** A seek with no progress for this long, while playing and not replaced, is stuck. */
const STUCK_MS = 5000;
/** A frame at 25 fps lasts 40 ms; any forward move counts, but not clock jitter. */
const PROGRESS_EPSILON_S = 0.001;

type FrameCallbackVideo = HTMLVideoElement & { requestVideoFrameCallback?: (cb: () => void) => number };

export class SeekTracker {
  readonly #video: FrameCallbackVideo;
  readonly #onChange: () => void;
  #figures: SeekFigures = SeekTracker.#empty();
  #current: CurrentSeek | undefined;
  #requestedAt: number | undefined;

  constructor(video: HTMLVideoElement, onChange: () => void) {
    this.#video = video;
    this.#onChange = onChange;
    video.addEventListener('seeking', () => this.#seeking());
    video.addEventListener('seeked', () => this.#seeked());
    video.addEventListener('waiting', () => this.#changed(() => this.#figures.stalls++));
    video.addEventListener('timeupdate', () => this.#checkProgress());
    // Paused after a seek and played later: the wait for progress starts now.
    video.addEventListener('play', () => {
      if (this.#current?.phase === 'awaiting-progress') this.#current.seekedAt = performance.now();
    });
    video.addEventListener('error', () => this.#changed(() => (this.#figures.error = describeError(video.error))));
    setInterval(() => this.#checkStuck(), 500);
  }

  static #empty(): SeekFigures {
    return { issued: 0, completed: 0, advanced: 0, superseded: 0, stuck: 0, stalls: 0, lastFirstFrameMs: undefined, error: undefined };
  }

  get figures(): Readonly<SeekFigures> {
    return this.#figures;
  }

  /** Where the latest seek is: 'none' before any, 'advanced' or 'stuck' once it has settled. */
  get phase(): Phase | 'none' {
    return this.#current?.phase ?? 'none';
  }

  /** A new file: start counting from zero. */
  reset(): void {
    this.#figures = SeekTracker.#empty();
    this.#current = undefined;
    this.#onChange();
  }

  /** Seeks to `seconds`; its first-frame time is measured from now. */
  seek(seconds: number): void {
    this.#requestedAt = performance.now();
    this.#video.currentTime = seconds;
  }

  #seeking(): void {
    this.#changed(() => {
      this.#figures.issued++;
      if (this.#current?.phase === 'awaiting-progress') this.#figures.superseded++;
      const startedAt = this.#requestedAt ?? performance.now();
      this.#requestedAt = undefined;
      this.#current = { phase: 'seeking', startedAt, seekedAt: 0, position: 0, isFirstFrameSeen: false };
    });
  }

  #seeked(): void {
    const seek = this.#current;
    if (!seek || seek.phase !== 'seeking') return;
    this.#changed(() => {
      this.#figures.completed++;
      seek.phase = 'awaiting-progress';
      seek.seekedAt = performance.now();
      seek.position = this.#video.currentTime;
    });
    this.#watchFrames(seek);
  }

  /** The first frame presented after 'seeked' (requestVideoFrameCallback where there is one). */
  #watchFrames(seek: CurrentSeek): void {
    const onFrame = (): void => {
      if (seek !== this.#current) return;
      if (!seek.isFirstFrameSeen) {
        seek.isFirstFrameSeen = true;
        this.#changed(() => (this.#figures.lastFirstFrameMs = performance.now() - seek.startedAt));
      }
      this.#checkProgress();
      if (seek.phase === 'awaiting-progress') this.#video.requestVideoFrameCallback?.(onFrame);
    };
    if (this.#video.requestVideoFrameCallback) this.#video.requestVideoFrameCallback(onFrame);
    else onFrame(); // no frame callbacks (older Firefox): 'seeked' is the best we know
  }

  #checkProgress(): void {
    const seek = this.#current;
    if (seek?.phase !== 'awaiting-progress') return;
    if (this.#video.currentTime > seek.position + PROGRESS_EPSILON_S || this.#video.ended) {
      this.#changed(() => {
        seek.phase = 'advanced';
        this.#figures.advanced++;
      });
    }
  }

  #checkStuck(): void {
    const seek = this.#current;
    if (!seek) return;
    // A seek completes paused or not; progress is only expected while playing.
    const isOverdue =
      seek.phase === 'seeking'
        ? performance.now() - seek.startedAt > STUCK_MS
        : seek.phase === 'awaiting-progress' && !this.#video.paused && performance.now() - seek.seekedAt > STUCK_MS;
    if (isOverdue) {
      this.#changed(() => {
        seek.phase = 'stuck';
        this.#figures.stuck++;
      });
    }
  }

  #changed(update: () => void): void {
    update();
    this.#onChange();
  }
}

function describeError(error: MediaError | null): string | undefined {
  if (!error) return undefined;
  const names = ['', 'ABORTED', 'NETWORK', 'DECODE', 'SRC_NOT_SUPPORTED'];
  return `${names[error.code] ?? error.code}: ${error.message || 'no message'}`;
}
