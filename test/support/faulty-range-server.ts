// A tiny node:http2 range server (h2c, prior knowledge) for testing the storm tool against
// faults our real server never makes: one in-memory file served with correct ranges, plus on
// demand a flipped byte in every block, a GOAWAY(NO_ERROR) that leaves the stream in flight
// above last-stream-id, and streams refused with RST_STREAM(REFUSED_STREAM) before any
// response. No /metrics: the tool must cope with that too.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface FaultyServerOptions {
  /** The file's correct bytes. */
  readonly body: Buffer;
  /** Served at this path; anything else is 404. */
  readonly path: string;
  /** Flip one byte (XOR 0xff) at offset flipAt in every block of this many bytes. */
  readonly flipEveryBytes?: number;
  readonly flipAt?: number;
  /** On the Nth stream of a connection: GOAWAY(NO_ERROR) with last-stream-id below it, then close. */
  readonly goawayAfterStreams?: number;
  /** Answer every Nth stream the server receives with RST_STREAM(REFUSED_STREAM) before any response. */
  readonly refuseEveryStreams?: number;
}

export interface FaultyServer {
  readonly url: string;
  readonly counts: { streams: number; goaways: number; refused: number };
  /** The offsets holding a wrong byte. */
  readonly flippedOffsets: readonly number[];
  close(): Promise<void>;
}

const CHUNK_BYTES = 16 * 1024;

export async function startFaultyRangeServer(options: FaultyServerOptions): Promise<FaultyServer> {
  const served = Buffer.from(options.body);
  const flippedOffsets: number[] = [];
  if (options.flipEveryBytes) {
    for (let at = options.flipAt ?? 0; at < served.length; at += options.flipEveryBytes) {
      served[at] ^= 0xff;
      flippedOffsets.push(at);
    }
  }
  const counts = { streams: 0, goaways: 0, refused: 0 };
  const server = http2.createServer({ maxSessionMemory: 64 });
  const sessions = new Set<http2.ServerHttp2Session>();
  const streamsPerSession = new WeakMap<http2.Http2Session, number>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    counts.streams++;
    const session = stream.session;
    if (!session) return;
    const nth = (streamsPerSession.get(session) ?? 0) + 1;
    streamsPerSession.set(session, nth);
    if (options.goawayAfterStreams && nth === options.goawayAfterStreams) {
      // Declare this stream unprocessed (RFC 9113 6.8): the client must retry it elsewhere.
      counts.goaways++;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, (stream.id ?? 1) - 2);
      setTimeout(() => session.close(), 20);
      return;
    }
    if (options.refuseEveryStreams && counts.streams % options.refuseEveryStreams === 0) {
      counts.refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (headers[':path'] !== options.path) {
      stream.respond({ ':status': 404 }, { endStream: true });
      return;
    }
    respondWithRange(stream, String(headers.range ?? ''), served);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${options.path}`,
    counts,
    flippedOffsets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

function respondWithRange(stream: http2.ServerHttp2Stream, range: string, body: Buffer): void {
  const size = body.length;
  const match = /^bytes=(\d+)-(\d*)$/.exec(range);
  if (!match) {
    stream.respond({ ':status': 200, 'content-length': size, 'accept-ranges': 'bytes' });
    void sendBody(stream, body);
    return;
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) {
    stream.respond({ ':status': 416, 'content-range': `bytes */${size}` }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 206, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
  void sendBody(stream, body.subarray(start, end + 1));
}

/** Writes in small chunks, waiting for 'drain', and stops when the client cancels. */
async function sendBody(stream: http2.ServerHttp2Stream, body: Buffer): Promise<void> {
  for (let at = 0; at < body.length; at += CHUNK_BYTES) {
    if (stream.closed || stream.destroyed) return;
    if (!stream.write(body.subarray(at, at + CHUNK_BYTES))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    }
  }
  if (!stream.closed && !stream.destroyed) stream.end();
}
