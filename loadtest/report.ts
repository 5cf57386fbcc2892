// The storm tool's result: what a run measured, as written to --json and read by the HTML
// report. Every failure has a class; a failure is never just "error".

/** Streams the server never processed (safe to retry) are not failures; they are retries. */
export type FailureClass =
  | 'server-reset' // RST_STREAM from the server with a code other than REFUSED_STREAM (e.g. ENHANCE_YOUR_CALM)
  | 'goaway-error' // GOAWAY with a non-zero error code
  | 'protocol-error' // the HTTP/2 session or stream failed with a protocol error
  | 'timeout' // no first byte within --ttfb-timeout-ms
  | 'connection-error' // connect failed, socket reset, TLS error
  | 'wrong-status' // not 206 (or 200 for a whole-file request), or a Content-Range that does not match
  | 'corrupt'; // a stream carried bytes that differ from the reference (counted per stream)

export const FAILURE_CLASSES: readonly FailureClass[] = [
  'server-reset',
  'goaway-error',
  'protocol-error',
  'timeout',
  'connection-error',
  'wrong-status',
  'corrupt',
];

export type Profile = 'chrome-like' | 'scrubbing' | 'paused-seeks' | 'max-rate';

export interface StormSettings {
  readonly urls: readonly string[];
  readonly profile: Profile;
  readonly viewers: number;
  readonly connectionsPerViewer: number;
  readonly durationMs: number;
  /** Mean time between seeks of one viewer; 0 for max-rate, which does not pace its seeks. */
  readonly seekIntervalMs: number;
  /** Playback bitrate in bits per second; 0 = read as fast as possible. */
  readonly bitrateBps: number;
  readonly ttfbTimeoutMs: number;
  readonly maxSeeks: number;
  readonly verify: boolean;
  readonly seed: number;
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** One second of the run. */
export interface TimelinePoint {
  readonly t: number; // seconds since start
  readonly seeks: number; // seeks completed (first byte received) in this second
  readonly failures: number;
  readonly retries: number;
  readonly bytes: number;
}

export interface Corruption {
  readonly url: string;
  readonly streamId: number;
  readonly offset: number;
  readonly bytes: number;
}

export interface ServerFigures {
  readonly before: Readonly<Record<string, number>>;
  readonly after: Readonly<Record<string, number>>;
}

export interface StormReport {
  readonly tool: 'seekable-storm';
  readonly version: 1;
  readonly startedAt: string; // ISO time
  readonly elapsedMs: number;
  readonly settings: StormSettings;
  readonly seeksStarted: number;
  readonly seeksCompleted: number; // got their first byte
  readonly seeksPerSec: number;
  readonly ttfbMs: Percentiles;
  /** Histogram of TTFB: bucket upper bounds in ms and counts (last bucket: +Inf). */
  readonly ttfbHistogram: { readonly boundsMs: readonly number[]; readonly counts: readonly number[] };
  readonly bytesReceived: number;
  /** Bytes received for a stream after the tool had cancelled it. */
  readonly wastedBytes: number;
  readonly goodputBytesPerSec: number;
  readonly bytesVerified: number;
  readonly corruptBytes: number;
  readonly corruptions: readonly Corruption[]; // first few
  readonly retries: number; // streams above GOAWAY's last-stream-id or refused: retried on a fresh connection
  readonly gracefulGoaways: number;
  readonly connections: number;
  readonly failures: Readonly<Record<FailureClass, number>>;
  readonly timeline: readonly TimelinePoint[];
  readonly server?: ServerFigures;
  /** True when nothing corrupt and no failure of any class was seen. */
  readonly ok: boolean;
}
