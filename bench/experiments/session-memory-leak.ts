// Experiment: how much of Node's maxSessionMemory does a peer reset really use up, against
// what the session guard is told (response-sink.ts, Http2Sink: what a peer reset leaks)?
//
//   node bench/experiments/session-memory-leak.ts                       the table (~15 s)
//   node bench/experiments/session-memory-leak.ts MB READ [WINDOW]      one case
//   node bench/experiments/session-memory-leak.ts --trace WINDOW READ [IN_FLIGHT] [SEEKS]
//
// MB is maxSessionMemory, READ the bytes the client reads per seek before RST_STREAM(CANCEL),
// WINDOW the client's flow-control windows: 64k (Node's defaults: stream and connection
// 65,535), 6m (Chrome's: stream 6 MiB, connection 15 MiB) or 6m-conn64k (stream 6 MiB only,
// what `settings: { initialWindowSize }` alone gives).
//
// One h2c connection per case, sequential seeks. The server is the real data path (pool, sink,
// sendBody) with no guard, so Node refuses a stream (ENHANCE_YOUR_CALM, code 11) once its
// accounting is exhausted. The client is another process, as a browser is: in one process the
// client's reads and the server's sends share an event loop and take turns unnaturally.
//
// Real leak per reset: Node's counter cannot be read, so each MB is first calibrated with an
// exactly known leak. The client opens streams with a zero stream window; the server writes
// CALIBRATION_BYTES to each at once and the client resets it on the response head: nghttp2 can
// take none of it, so each reset leaks exactly that much. N_cal resets before the refusal give
// the budget the leaks may fill (MB x 10^6 less Node's and nghttp2's own memory, +- one
// calibration write); a case refused at seek N leaked budget / N per reset (+- 1/N).
// Old estimate: the unflushed bytes at each reset (what the guard was told before). New: what
// the guard counts now, the sinks' reports or the whole-session bound when smaller (the JSON
// lines also give the sinks' sum alone).
// Loopback only, at most MAX_SEEKS seeks per case. test/integration/session-memory-estimate.test.ts
// runs a few cases through measureLeaks().
//
// --trace checks each reset on its own, also with several streams in flight (where the refusal
// says little: live streams' queued bytes count too). The server runs with
// NODE_DEBUG_NATIVE=HTTP2SESSION, whose "sending N bytes for data frame on stream S" lines are
// exactly Node's give-backs (Provider::Stream::OnRead); what a stream's JS side handed to its C++
// handle (_write/_writev) less those is what Node kept of it. No refusal here (maxSessionMemory
// is huge); the trace slows the server, so timings differ from the table's.

import { fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { BufferPool } from '../../server/streaming/buffer-pool.ts';
import { createHttp2Sink, sinkSessionDataBound } from '../../server/streaming/response-sink.ts';
import { ConnectionRegistry, sessionRecordOf } from '../../server/connection/connection-registry.ts';
import type { ResponseSink } from '../../server/streaming/response-sink.ts';
import { RELEASE_ON_FLUSH, sendBody } from '../../server/streaming/send-body.ts';
import { makeFixtureLibrary } from '../../test/support/fixtures.ts';
import { FsStorage } from '../../storage/fs-storage.ts';

const MAX_SEEKS = 3000;
const CALIBRATION_BYTES = 16 * 1024;
const CHUNK_BYTES = 128 * 1024; // the server's defaults (config.ts)
const INFLIGHT_BYTES = 256 * 1024;

export type WindowKind = '64k' | '6m' | '6m-conn64k';
type ClientWindow = WindowKind | 'zero';
const WINDOWS: Record<ClientWindow, { stream: number; connection: number }> = {
  '64k': { stream: 65_535, connection: 65_535 },
  '6m': { stream: 6 * 1024 * 1024, connection: 15 * 1024 * 1024 },
  '6m-conn64k': { stream: 6 * 1024 * 1024, connection: 65_535 },
  zero: { stream: 0, connection: 65_535 },
};

interface ClientResult {
  readonly refusedAt: number;
  readonly refusedCode: number;
}

/** Sequential seeks on one connection until a stream is refused (or MAX_SEEKS). */
async function runClient(): Promise<void> {
  const [port, kind, read, inFlightArg, seeksArg] = process.argv.slice(3) as [string, ClientWindow, string, string, string];
  const readBytes = Number(read);
  const inFlight = Number(inFlightArg);
  const maxSeeks = Number(seeksArg);
  const window = WINDOWS[kind];
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: window.stream } });
  client.on('error', () => {});
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  if (window.connection > 65_535) client.setLocalWindowSize(window.connection);
  let refusedAt = -1;
  let refusedCode = 0;
  let next = 0;
  let resets = 0;
  const seek = (i: number): Promise<number> =>
    new Promise<number>((resolve) => {
      const req = client.request({ ':path': '/', range: `bytes=${(i * 7919 * 4096) % (20 << 20)}-` });
      let got = 0;
      const cancel = (): void => req.close(http2.constants.NGHTTP2_CANCEL);
      if (readBytes === 0) req.on('response', cancel);
      req.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= readBytes) cancel();
      });
      req.on('close', () => resolve(req.rstCode ?? -1));
      req.on('error', () => {});
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (next < maxSeeks && refusedAt < 0) {
      const code = await seek(next++);
      if (code === http2.constants.NGHTTP2_CANCEL || code === http2.constants.NGHTTP2_NO_ERROR) resets++;
      else if (refusedAt < 0) {
        refusedAt = resets;
        refusedCode = code;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  client.close();
  process.send!({ refusedAt, refusedCode } satisfies ClientResult);
}

interface Tally {
  resets: number;
  /** What the guard was told before (the sink's unflushed bytes at the reset). */
  oldEstimate: number;
  /** What the guard is told now (the figure the sink passes to onPeerReset). */
  newEstimate: number;
  /** What the guard counts now: the smaller of that sum and the whole-session bound. */
  guardEstimate: number;
}

interface CaseOptions {
  readonly memoryMB: number;
  readonly kind: ClientWindow;
  readonly readBytes: number;
  readonly calibrate?: boolean;
  readonly inFlight?: number;
  readonly seeks?: number;
  /** --trace: called at each peer reset with the stream, before its figures are summed. */
  readonly onReset?: (stream: http2.ServerHttp2Stream, reported: number, unflushed: number, session: http2.Http2Session) => void;
  readonly onStream?: (stream: http2.ServerHttp2Stream) => void;
}

async function runCase(setup: Setup, options: CaseOptions): Promise<{ client: ClientResult; tally: Tally }> {
  const { memoryMB, kind, readBytes, calibrate = false } = options;
  const tally: Tally = { resets: 0, oldEstimate: 0, newEstimate: 0, guardEstimate: 0 };
  const server = http2.createServer({ maxSessionMemory: memoryMB, streamResetBurst: 100_000, streamResetRate: 100_000 });
  server.on('stream', (stream, headers) => {
    options.onStream?.(stream);
    const session = stream.session!; // gone from the stream once it is destroyed
    let sink: ResponseSink | undefined = undefined;
    sink = createHttp2Sink(stream, {
      onPeerReset: (leaked) => {
        const unflushed = sink!.unflushedBytes; // read in the same call: nothing flushed since
        options.onReset?.(stream, leaked, unflushed, session);
        tally.resets++;
        tally.oldEstimate += unflushed;
        tally.newEstimate += leaked;
        tally.guardEstimate = Math.min(tally.newEstimate, sinkSessionDataBound(sessionRecordOf(session)!) ?? Infinity);
      },
    });
    if (calibrate) {
      sink.respond(206, {}, false);
      sink.write(Buffer.alloc(CALIBRATION_BYTES), () => {});
      return;
    }
    void serveRange(setup, sink, Number(/bytes=(\d+)-/.exec(String(headers.range))![1]));
  });
  // Sessions get the registry's records, where the sinks keep their per-session accounting.
  new ConnectionRegistry({ connection: [], session: [] }).track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const clientArgs = [String(port), kind, String(calibrate ? 0 : readBytes), String(options.inFlight ?? 1), String(options.seeks ?? MAX_SEEKS)];
  const { NODE_DEBUG_NATIVE: _trace, ...clientEnv } = process.env; // the client is not traced
  const child = fork(fileURLToPath(import.meta.url), ['--client', ...clientArgs], { stdio: 'inherit', env: clientEnv });
  const client = await new Promise<ClientResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ClientResult));
    child.once('exit', (code) => reject(new Error(`client exited with ${code}`)));
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { client, tally };
}

interface Setup {
  readonly storage: FsStorage;
  readonly pool: BufferPool;
}

/** Serves seek.bin from `mediaRoot` (a test's fixture library), or from a new fixture library. */
async function makeSetup(mediaRoot?: string): Promise<Setup> {
  return {
    storage: await FsStorage.create(mediaRoot ?? (await makeFixtureLibrary()).root),
    pool: new BufferPool({ slabBytes: CHUNK_BYTES, maxBytes: 64 * 1024 * 1024 }),
  };
}

async function serveRange(setup: Setup, sink: ResponseSink, start: number): Promise<void> {
  const file = await setup.storage.open('seek.bin');
  try {
    await sendBody(
      sink,
      file,
      [{ kind: 'file', start, end: file.info.size - 1 }],
      setup.pool,
      { chunkBytes: CHUNK_BYTES, inflightBytes: INFLIGHT_BYTES, releasePolicy: RELEASE_ON_FLUSH },
      { head: { status: 206, headers: {} } },
    );
  } finally {
    file.close();
  }
}

export interface LeakCase {
  readonly maxSessionMemoryMB: number;
  readonly window: WindowKind;
  readonly readBytesPerSeek: number;
  /** Seeks (each one reset) before Node refused a stream; -1: none within MAX_SEEKS. */
  readonly refusedAtSeek: number;
  readonly refusedCode: number;
  readonly resetsSeenBySink: number;
  /** The leak Node's counter could take: calibration resets x CALIBRATION_BYTES (+- one write). */
  readonly budgetBytes: number;
  /** Sums over the resets before the refusal: unflushed bytes (the old report), the sinks' reports now. */
  readonly oldEstimateBytes: number;
  readonly sinkEstimateBytes: number;
  /** What the guard counted at the last reset: the smaller of that sum and the whole-session bound. */
  readonly guardEstimateBytes: number;
}

/** Calibrates each maxSessionMemory, then runs every window x read case against it. */
export async function measureLeaks(
  memories: readonly number[],
  kinds: readonly WindowKind[],
  reads: readonly number[],
  options: { readonly mediaRoot?: string; readonly onCase?: (c: LeakCase) => void } = {},
): Promise<LeakCase[]> {
  const setup = await makeSetup(options.mediaRoot);
  const cases: LeakCase[] = [];
  for (const memoryMB of memories) {
    const cal = await runCase(setup, { memoryMB, kind: 'zero', readBytes: 0, calibrate: true });
    if (cal.client.refusedAt < 0) throw new Error('calibration: no stream was refused');
    const budgetBytes = cal.client.refusedAt * CALIBRATION_BYTES;
    for (const kind of kinds) {
      for (const readBytes of reads) {
        const { client, tally } = await runCase(setup, { memoryMB, kind, readBytes });
        const c: LeakCase = {
          maxSessionMemoryMB: memoryMB,
          window: kind,
          readBytesPerSeek: readBytes,
          refusedAtSeek: client.refusedAt,
          refusedCode: client.refusedCode,
          resetsSeenBySink: tally.resets,
          budgetBytes,
          oldEstimateBytes: tally.oldEstimate,
          sinkEstimateBytes: tally.newEstimate,
          guardEstimateBytes: tally.guardEstimate,
        };
        options.onCase?.(c);
        cases.push(c);
      }
    }
  }
  return cases;
}

async function runCli(): Promise<void> {
  const [mb, read, window] = process.argv.slice(2).map((a) => a || undefined); // '' as if absent
  const memories = mb ? [Number(mb)] : [4, 8];
  const reads = read ? [Number(read)] : [1, 64 * 1024, 1024 * 1024];
  const kinds: WindowKind[] = window ? [window as WindowKind] : ['64k', '6m', '6m-conn64k'];
  const rows: string[] = [];
  console.log(JSON.stringify({ node: process.version, date: new Date().toISOString() }));
  await measureLeaks(memories, kinds, reads, {
    onCase: (c) => {
      const refused = c.refusedAtSeek;
      // Not refused within MAX_SEEKS: the real leak per reset is below budget / MAX_SEEKS.
      const real = refused > 0 ? c.budgetBytes / refused : c.budgetBytes / MAX_SEEKS;
      const perReset = (bytes: number): number => (c.resetsSeenBySink ? bytes / c.resetsSeenBySink : 0);
      const kib = (bytes: number): number => +(bytes / 1024).toFixed(1);
      const ratio = (bytes: number): number => +(perReset(bytes) / real).toFixed(2);
      const result = {
        ...c,
        realLeakPerResetKiB: kib(real),
        oldEstimatePerResetKiB: kib(perReset(c.oldEstimateBytes)),
        newEstimatePerResetKiB: kib(perReset(c.guardEstimateBytes)),
        oldRatio: ratio(c.oldEstimateBytes),
        sinkRatio: ratio(c.sinkEstimateBytes),
        newRatio: ratio(c.guardEstimateBytes),
      };
      console.log(JSON.stringify(result));
      const realText = refused > 0 ? `${result.realLeakPerResetKiB.toFixed(1)} (+-${(100 / refused).toFixed(1)}%)` : `< ${result.realLeakPerResetKiB.toFixed(1)}`;
      rows.push(
        `| ${c.window} | ${c.maxSessionMemoryMB} MB | ${c.readBytesPerSeek} | ${refused > 0 ? refused : `none in ${MAX_SEEKS}`} | ${realText} | ` +
          `${result.oldEstimatePerResetKiB.toFixed(1)} (${result.oldRatio}x) | ${result.newEstimatePerResetKiB.toFixed(1)} (${result.newRatio}x) |`,
      );
    },
  });
  console.log('\n| client window | maxSessionMemory | bytes read per seek | refused at seek | real leak per reset (KiB) | old estimate per reset (KiB, ratio) | new estimate per reset (KiB, ratio) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

/** The traced server (a child process): one line per peer reset on stdout. */
async function runTracedServer(): Promise<void> {
  const [kind, read, inFlight, seeks] = process.argv.slice(3) as [WindowKind, string, string, string];
  const handedOver = new WeakMap<http2.ServerHttp2Stream, number>();
  await runCase(await makeSetup(), {
    memoryMB: 1_000_000,
    kind,
    readBytes: Number(read),
    inFlight: Number(inFlight),
    seeks: Number(seeks),
    // What the JS side hands to the C++ handle: the Writable calls _write or _writev for it.
    onStream: (stream) => {
      handedOver.set(stream, 0);
      const add = (bytes: number): void => void handedOver.set(stream, handedOver.get(stream)! + bytes);
      const write = stream._write.bind(stream);
      const writev = stream._writev!.bind(stream);
      stream._write = (chunk: Buffer, encoding, cb) => (add(chunk.length), write(chunk, encoding, cb));
      stream._writev = (chunks, cb) => (add(chunks.reduce((n, c) => n + (c.chunk as Buffer).length, 0)), writev(chunks, cb));
    },
    onReset: (stream, reported, unflushed, session) => {
      const bound = sinkSessionDataBound(sessionRecordOf(session)!) ?? null;
      console.log(JSON.stringify({ id: stream.id, handedOver: handedOver.get(stream), reported, unflushed, bound }));
    },
  });
}

/** --trace: each reset's figure against Node's own give-backs, from its native debug trace. */
async function runTrace(): Promise<void> {
  const [kind = '64k', read = '65536', inFlight = '1', seeks = '300'] = process.argv.slice(3);
  // The trace (tens of MB) goes to a file, read once the server has exited.
  const tracePath = path.join(await mkdtemp(path.join(os.tmpdir(), 'h2-trace-')), 'stderr.txt');
  const traceFile = await open(tracePath, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--traced-server', kind, read, inFlight, seeks], {
    env: { ...process.env, NODE_DEBUG_NATIVE: 'HTTP2SESSION' },
    stdio: ['ignore', 'pipe', traceFile.fd],
  });
  const resets: { id: number; handedOver: number; reported: number; unflushed: number; bound: number | null }[] = [];
  for await (const line of createInterface({ input: child.stdout! })) if (line.startsWith('{')) resets.push(JSON.parse(line));
  if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  await traceFile.close();
  const taken = new Map<number, number>();
  const sending = /^Http2Session server \(\d+\) sending (\d+) bytes for data frame on stream (\d+)/;
  for await (const line of createInterface({ input: createReadStream(tracePath) })) {
    const m = sending.exec(line);
    if (m) taken.set(Number(m[2]), (taken.get(Number(m[2])) ?? 0) + Number(m[1]));
  }
  await rm(path.dirname(tracePath), { recursive: true });
  let kept = 0;
  let reported = 0;
  let unflushed = 0;
  let below = 0;
  let maxOver = 0;
  for (const r of resets) {
    const nodeKept = r.handedOver - (taken.get(r.id) ?? 0);
    kept += nodeKept;
    reported += r.reported;
    unflushed += r.unflushed;
    if (r.reported < nodeKept) below++;
    maxOver = Math.max(maxOver, r.reported - nodeKept);
  }
  const perReset = (bytes: number): number => +(bytes / resets.length / 1024).toFixed(1);
  // The guard's figure after the last reset; what Node kept of all reset streams by then.
  const guard = Math.min(reported, resets.at(-1)?.bound ?? Infinity);
  console.log(
    JSON.stringify({
      node: process.version,
      window: kind,
      readBytesPerSeek: Number(read),
      inFlight: Number(inFlight),
      resets: resets.length,
      nodeKeptPerResetKiB: perReset(kept),
      oldEstimatePerResetKiB: perReset(unflushed),
      sinkEstimatePerResetKiB: perReset(reported),
      guardEstimatePerResetKiB: perReset(guard),
      oldRatio: +(unflushed / kept).toFixed(2),
      sinkRatio: +(reported / kept).toFixed(2),
      guardRatio: +(guard / kept).toFixed(2),
      resetsReportedBelowNode: below,
      mostReportedAboveNodeBytes: maxOver,
    }),
  );
}

if (process.argv[2] === '--client') await runClient();
else if (process.argv[2] === '--traced-server') {
  await runTracedServer();
  process.exit(0);
} else if (process.argv[2] === '--trace') await runTrace();
else if (import.meta.main) {
  await runCli();
  process.exit(0);
}
