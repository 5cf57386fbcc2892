// A seek storm seen from the wire: raw HTTP/2 frames (test/support/raw-h2.ts), so EVERY DATA
// frame is checked, including those that arrive after our own RST_STREAM (Node's client
// drops them). Each stream asks for an open-ended range at a random offset; each DATA payload
// must be exactly the file's bytes at the stream's running offset. A byte from anywhere else
// (a slab reused too early, a zeroed or poisoned buffer) is counted as corrupt.

import { RawH2Connection, ErrorCode } from './raw-h2.ts';
import { countMismatches } from './fixtures.ts';
import { prng } from './seek-storm.ts';

export interface WireStormOptions {
  readonly port: number;
  readonly tls: boolean;
  readonly path: string;
  readonly size: number;
  readonly salt: number;
  readonly streams: number;
  readonly concurrency: number;
  readonly readMinBytes: number;
  readonly readMaxBytes: number;
  readonly seed?: number;
}

export interface WireStormReport {
  streams: number;
  dataFrames: number;
  dataBytes: number;
  /** DATA frames (and their bytes) that arrived after we had reset the stream. */
  lateFrames: number;
  lateBytes: number;
  corruptBytes: number;
  corruptFrames: number;
  corruptions: string[];
  serverResets: Record<string, number>;
  gracefulGoaways: number;
  errorGoaways: number;
  unprocessedRetried: number;
  unexpectedStatus: number;
  connections: number;
  elapsedMs: number;
}

interface StreamState {
  readonly start: number;
  readonly want: number;
  position: number;
  isResetByUs: boolean;
  isFinished: boolean;
}

export async function runWireStorm(options: WireStormOptions): Promise<WireStormReport> {
  const random = prng(options.seed ?? 11);
  const report: WireStormReport = {
    streams: 0,
    dataFrames: 0,
    dataBytes: 0,
    lateFrames: 0,
    lateBytes: 0,
    corruptBytes: 0,
    corruptFrames: 0,
    corruptions: [],
    serverResets: {},
    gracefulGoaways: 0,
    errorGoaways: 0,
    unprocessedRetried: 0,
    unexpectedStatus: 0,
    connections: 0,
    elapsedMs: 0,
  };
  const started = Date.now();
  const all: RawH2Connection[] = [];
  let issued = 0;
  let finished = 0;
  let current: { conn: RawH2Connection; streams: Map<number, StreamState>; isDraining: boolean } | undefined;
  let connecting: Promise<NonNullable<typeof current>> | undefined;
  let onAllDone: () => void = () => {};
  const allDone = new Promise<void>((resolve) => (onAllDone = resolve));

  const connect = async (): Promise<NonNullable<typeof current>> => {
    const conn = await RawH2Connection.connect({
      host: '127.0.0.1',
      port: options.port,
      tls: options.tls,
      servername: 'localhost',
      initialStreamWindow: 1024 * 1024,
    });
    report.connections++;
    all.push(conn);
    const state = { conn, streams: new Map<number, StreamState>(), isDraining: false };
    conn.on('error', () => {});
    conn.on('headers', (id, status) => {
      const st = state.streams.get(id);
      if (st && !st.isResetByUs && status !== undefined && status !== 206) report.unexpectedStatus++;
    });
    conn.on('data', (id, payload, endStream) => {
      const st = state.streams.get(id);
      if (!st) return;
      report.dataFrames++;
      report.dataBytes += payload.length;
      const bad = countMismatches(payload, st.position, options.salt);
      if (bad > 0) {
        report.corruptBytes += bad;
        report.corruptFrames++;
        if (report.corruptions.length < 10) report.corruptions.push(`stream ${id} offset ${st.position}: ${bad} bytes`);
      }
      st.position += payload.length;
      if (st.isResetByUs) {
        report.lateFrames++;
        report.lateBytes += payload.length;
      } else if (st.position - st.start >= st.want && !endStream) {
        st.isResetByUs = true;
        conn.reset(id, ErrorCode.CANCEL);
        finish(st);
      }
      if (endStream) finish(st);
    });
    conn.on('rst', (id, code) => {
      const st = state.streams.get(id);
      if (!st || st.isFinished) return;
      report.serverResets[code] = (report.serverResets[code] ?? 0) + 1;
      finish(st);
    });
    conn.on('goaway', (lastStreamId, code) => {
      state.isDraining = true;
      if (code === ErrorCode.NO_ERROR) report.gracefulGoaways++;
      else report.errorGoaways++;
      // Streams above last-stream-id were never processed: retry them on a new connection.
      for (const [id, st] of state.streams) {
        if (id > lastStreamId && !st.isFinished) {
          st.isFinished = true;
          report.unprocessedRetried++;
          void issue(st.start, st.want);
        }
      }
    });
    return state;
  };

  const finish = (st: StreamState): void => {
    if (st.isFinished) return;
    st.isFinished = true;
    finished++;
    if (finished === options.streams) onAllDone();
    else if (issued < options.streams) void issue();
  };

  const issue = async (start?: number, want?: number): Promise<void> => {
    const isRetry = start !== undefined;
    if (!isRetry) issued++;
    if (!current || current.isDraining || current.conn.isClosed) {
      connecting ??= connect().finally(() => (connecting = undefined));
      current = await connecting;
    }
    const s = start ?? Math.floor(random() * options.size);
    const w = want ?? options.readMinBytes + Math.floor(random() * (options.readMaxBytes - options.readMinBytes));
    const id = current.conn.request([
      [':method', 'GET'],
      [':scheme', options.tls ? 'https' : 'http'],
      [':authority', 'localhost'],
      [':path', options.path],
      ['range', `bytes=${s}-`],
    ]);
    current.streams.set(id, { start: s, want: w, position: s, isResetByUs: false, isFinished: false });
    if (!isRetry) report.streams++;
  };

  for (let i = 0; i < options.concurrency && issued < options.streams; i++) await issue();
  await allDone;
  // Give frames already on their way after our last resets a moment to arrive and be checked.
  await new Promise((r) => setTimeout(r, 200));
  for (const conn of all) if (!conn.isClosed) await conn.close().catch(() => {});
  report.elapsedMs = Date.now() - started;
  return report;
}
