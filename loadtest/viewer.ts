// One virtual viewer: a <video> element playing one URL over its own HTTP/2 connection(s).
// It starts with `Range: bytes=0-`, reads at the playback bitrate behind a forward buffer,
// pauses now and then, and seeks (RST_STREAM(CANCEL), then a new open-ended range) as its
// profile says. Unprocessed streams are retried on a fresh connection; every other way a
// seek can go wrong is counted once, by class.

import { performance } from 'node:perf_hooks';
import { planSeek } from './behaviour.ts';
import type { Connection } from './connection.ts';
import { randomInt } from './random.ts';
import type { Random } from './random.ts';
import { RangeStream } from './range-stream.ts';
import type { StreamEnd, StreamSink } from './range-stream.ts';
import type { ByteVerifier } from './reference.ts';
import type { RunControl } from './run-control.ts';
import { SeekPlayback } from './seek-playback.ts';
import type { StormRunSettings } from './settings.ts';
import type { StormRecorder } from './stats.ts';
import { ViewerConnections } from './viewer-connections.ts';

export const MAX_RETRIES_PER_SEEK = 3;
const SHUTDOWN_GRACE_MS = 2000;

export interface ViewerDeps {
  readonly url: URL;
  /** Size of the file in bytes (from the probe or the reference). */
  readonly size: number;
  readonly settings: StormRunSettings;
  readonly random: Random;
  readonly recorder: StormRecorder;
  readonly verifier: ByteVerifier | undefined;
  readonly control: RunControl;
  readonly openConnection: () => Connection;
}

interface OpenedSeek {
  readonly stream: RangeStream;
  readonly issuedAt: number;
  readonly firstByteAt: number;
}

type FirstByteRace =
  | { readonly kind: 'first-byte'; readonly at: number }
  | { readonly kind: 'end'; readonly end: StreamEnd }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'stopped' };

export class Viewer implements StreamSink {
  private readonly deps: ViewerDeps;
  private readonly connections: ViewerConnections;
  private current: RangeStream | undefined;
  private playback: SeekPlayback | undefined;
  /** Consecutive seeks lost to connection trouble: the viewer backs off instead of spinning. */
  private troubleStreak = 0;

  constructor(deps: ViewerDeps) {
    this.deps = deps;
    this.connections = new ViewerConnections(deps.settings.connectionsPerViewer, deps.openConnection);
  }

  async run(): Promise<void> {
    const { control, recorder, random, size, settings } = this.deps;
    let offset = 0; // a player's first request: Range: bytes=0-
    while (control.tryStartSeek()) {
      recorder.seekStarted();
      const opened = await this.openSeek(offset);
      control.seekSettled();
      if (opened) {
        this.troubleStreak = 0;
        await this.play(opened);
      } else {
        // After a failed seek the viewer tries again at its profile's pace, not in a tight
        // loop; after connection trouble it also backs off exponentially (up to 2 s).
        const backoffMs = this.troubleStreak > 0 ? Math.min(2000, 50 * 2 ** this.troubleStreak) : 0;
        await control.sleep(Math.max(backoffMs, planSeek(settings.profile, settings.seekIntervalMs, random).seekDelayMs));
      }
      offset = randomInt(random, size);
    }
    this.current?.cancel();
    await this.connections.shutdown(SHUTDOWN_GRACE_MS);
  }

  onData(stream: RangeStream, chunk: Buffer, offset: number, isWasted: boolean): void {
    const { recorder, verifier } = this.deps;
    recorder.bytes(chunk.length, isWasted);
    const corruption = verifier?.check(stream.url, stream.id ?? 0, offset, chunk);
    if (corruption && !stream.hasCorruption) {
      stream.hasCorruption = true;
      recorder.failure('corrupt', `${corruption.bytes} wrong byte(s) in stream ${stream.id}, first at offset ${corruption.offset} of ${stream.url}`);
    }
    if (!isWasted && stream === this.current) this.playback?.onBytes(chunk.length);
  }

  /** Issues the seek (retrying unprocessed streams) and waits for its first byte. */
  private async openSeek(offset: number): Promise<OpenedSeek | undefined> {
    const { recorder, settings, url } = this.deps;
    const issuedAt = performance.now();
    const deadline = issuedAt + settings.ttfbTimeoutMs;
    let connection = this.connections.next();
    for (let retries = 0; ; retries++) {
      const stream = this.startStream(connection, offset);
      if (!stream) return undefined;
      this.current = stream;
      const race = await this.raceFirstByte(stream, deadline);
      if (race.kind === 'first-byte') {
        recorder.firstByte(race.at - issuedAt);
        return { stream, issuedAt, firstByteAt: race.at };
      }
      if (race.kind === 'stopped') {
        stream.cancel();
        return undefined;
      }
      if (race.kind === 'timeout') {
        stream.cancel();
        recorder.failure('timeout', `no first byte within ${settings.ttfbTimeoutMs} ms for Range: bytes=${offset}- of ${url.href}`);
        return undefined;
      }
      const end = race.end;
      if (end.kind === 'unprocessed') {
        if (retries < MAX_RETRIES_PER_SEEK) {
          recorder.retry(end.detail);
          connection = this.connections.renew(connection);
          continue;
        }
        recorder.failure('server-reset', `${end.detail}, ${retries + 1} times for one seek (retries exhausted)`);
      } else if (end.kind === 'failed') {
        this.noteFailure(end);
      } else if (end.kind === 'ended') {
        recorder.failure('wrong-status', `response to Range: bytes=${offset}- ended with an empty body`);
      }
      return undefined;
    }
  }

  private startStream(connection: Connection, offset: number): RangeStream | undefined {
    try {
      return new RangeStream(connection, this.deps.url, offset, this);
    } catch (err) {
      // The session died between our check and the request: a connection failure.
      this.noteFailure({ kind: 'failed', failure: connection.fail({ cls: 'connection-error', detail: (err as Error).message }), isCountedByConnection: true });
      return undefined;
    }
  }

  private noteFailure(end: Extract<StreamEnd, { kind: 'failed' }>): void {
    if (!end.isCountedByConnection) this.deps.recorder.failure(end.failure.cls, end.failure.detail);
    if (end.isCountedByConnection || end.failure.cls === 'connection-error') this.troubleStreak++;
  }

  private async raceFirstByte(stream: RangeStream, deadline: number): Promise<FirstByteRace> {
    let timer: NodeJS.Timeout | undefined;
    let unsubscribe = (): void => {};
    const timeoutOrStop = new Promise<FirstByteRace>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, deadline - performance.now()));
      unsubscribe = this.deps.control.whenStopped(() => resolve({ kind: 'stopped' }));
    });
    const race = await Promise.race<FirstByteRace>([
      stream.firstByte.then((at) => ({ kind: 'first-byte', at })),
      stream.done.then((end) => ({ kind: 'end', end })),
      timeoutOrStop,
    ]);
    clearTimeout(timer);
    unsubscribe();
    return race;
  }

  /** Plays from the seek's offset until the next seek is due (or the run stops), then cancels. */
  private async play(opened: OpenedSeek): Promise<void> {
    const { settings, random, control } = this.deps;
    const plan = planSeek(settings.profile, settings.seekIntervalMs, random);
    const playback = new SeekPlayback({ ...opened, plan }, settings, random);
    this.playback = playback;
    const unsubscribe = control.whenStopped(() => playback.finish());
    void opened.stream.done.then((end) => {
      if (end.kind === 'failed') this.noteFailure(end); // it failed before the tool let it go
      playback.onEnd(end);
    });
    await playback.done;
    unsubscribe();
    this.playback = undefined;
  }
}
