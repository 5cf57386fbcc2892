// Clients that send request bodies, for the upload tests: Node's HTTP/2 and HTTP/1.1 clients
// with backpressure (they stop writing once an answer came early, as real clients do), a raw
// HTTP/2 stream whose DATA frames, END_STREAM and RST_STREAM the test places by hand, and a raw
// HTTP/1.1 socket that can be closed mid-body.

import https from 'node:https';
import type http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import tls from 'node:tls';
import type { Writable } from 'node:stream';
import { ErrorCode, Flags, FrameType, RawH2Connection } from './raw-h2.ts';
import type { FetchResult, TestServer } from './server-harness.ts';

export interface BodyOptions {
  /** End the body after the chunks (default true). False leaves it open, as a cut-off client would. */
  readonly end?: boolean;
}

/** Resolves when `stream` may take more, or can take nothing any more. */
function drainOrGone(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    stream.on('drain', done).on('close', done).on('error', done);
  });
}

async function writeChunks(stream: Writable, chunks: readonly Buffer[], hasAnswer: () => boolean, options: BodyOptions): Promise<void> {
  for (const chunk of chunks) {
    if (hasAnswer() || stream.destroyed || stream.writableEnded) return;
    if (!stream.write(chunk)) await drainOrGone(stream);
  }
  if (options.end !== false && !stream.destroyed && !stream.writableEnded) stream.end();
}

/** One request over an HTTP/2 session with `chunks` as its body (none: END_STREAM on HEADERS). */
export function h2Send(
  session: http2.ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  chunks?: readonly Buffer[],
  options: BodyOptions = {},
): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: chunks === undefined });
    const parts: Buffer[] = [];
    let head: http2.IncomingHttpHeaders | undefined;
    req.on('response', (h) => (head = h));
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve({ status: Number(head?.[':status']), headers: head ?? {}, body: Buffer.concat(parts) }));
    req.on('close', () => {
      if (!head) reject(new Error(`stream closed without a response (RST_STREAM ${req.rstCode})`));
    });
    req.on('error', (err) => {
      if (!head) reject(err);
    });
    if (chunks) void writeChunks(req, chunks, () => head !== undefined, options);
  });
}

/**
 * One HTTP/1.1 request over TLS with `chunks` as its body: Content-Length when the headers
 * name one, chunked otherwise. `agent` false opens a connection of its own.
 */
export function h1Send(
  server: TestServer,
  agent: https.Agent | false,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  chunks?: readonly Buffer[],
  options: BodyOptions = {},
): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: server.port, method, path, headers, agent, ca: server.tlsCert, servername: 'localhost' });
    let head: { status: number; headers: IncomingHttpHeaders } | undefined;
    req.on('response', (res) => {
      head = { status: res.statusCode ?? 0, headers: res.headers };
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: head!.status, headers: head!.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    // An early answer with Connection: close makes the rest of the body fail: not an error here.
    req.on('error', (err) => {
      if (!head) reject(err);
    });
    if (chunks) void writeChunks(req, chunks, () => head !== undefined, options);
    else req.end();
  });
}

/** An HTTP/1.1 PUT over a raw TLS socket that sends part of its body and then closes. */
export async function h1PutThenClose(server: TestServer, path: string, headers: Readonly<Record<string, string>>, part: Buffer): Promise<void> {
  const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.tlsCert, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const head = [`PUT ${path} HTTP/1.1`, 'host: localhost', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  await new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), part]), () => resolve()));
  await new Promise((r) => setTimeout(r, 50)); // let the server start reading the body
  socket.destroy();
}

export async function connectRaw(server: TestServer, transport: 'tls' | 'h2c', initialStreamWindow?: number): Promise<RawH2Connection> {
  const conn = await RawH2Connection.connect({
    host: '127.0.0.1',
    port: transport === 'tls' ? server.port : server.h2cPort!,
    tls: transport === 'tls',
    servername: 'localhost',
    ...(initialStreamWindow === undefined ? {} : { initialStreamWindow }),
  });
  conn.on('error', () => {}); // tests look at replies and at the connection's state
  return conn;
}

export interface RawReply {
  readonly status: number | undefined;
  readonly body: Buffer;
  /** RST_STREAM codes the server sent on the stream. */
  readonly resets: number[];
}

export interface RawExchange {
  readonly streamId: number;
  /** Resolves when the server ended the stream (END_STREAM) or reset it. */
  readonly reply: Promise<RawReply>;
}

/**
 * Opens a stream on a raw connection and sends `body` in DATA frames. `end`: END_STREAM on the
 * last frame; `reset`: RST_STREAM(CANCEL) after it instead.
 */
export function rawSend(
  conn: RawH2Connection,
  headers: ReadonlyArray<readonly [string, string]>,
  body: Buffer | undefined,
  how: { end: boolean; reset?: boolean },
): RawExchange {
  const streamId = conn.request(headers, body === undefined);
  const reply = collectRaw(conn, streamId);
  if (body) {
    const maxFrame = 16384; // the server's SETTINGS_MAX_FRAME_SIZE default
    const frames = Math.max(1, Math.ceil(body.length / maxFrame));
    for (let i = 0; i < frames; i++) {
      const slice = body.subarray(i * maxFrame, (i + 1) * maxFrame);
      conn.sendFrame(FrameType.DATA, i === frames - 1 && how.end ? Flags.END_STREAM : 0, streamId, slice);
    }
    if (how.reset) conn.reset(streamId, ErrorCode.CANCEL);
  }
  return { streamId, reply };
}

export function collectRaw(conn: RawH2Connection, streamId: number): Promise<RawReply> {
  return new Promise((resolve) => {
    let status: number | undefined;
    const parts: Buffer[] = [];
    const resets: number[] = [];
    const finish = (): void => {
      conn.off('headers', onHeaders).off('data', onData).off('rst', onRst).off('close', finish);
      resolve({ status, body: Buffer.concat(parts), resets });
    };
    const onHeaders = (id: number, s: number | undefined, endStream: boolean): void => {
      if (id !== streamId) return;
      status ??= s;
      if (endStream) finish();
    };
    const onData = (id: number, payload: Buffer, endStream: boolean): void => {
      if (id !== streamId) return;
      parts.push(Buffer.from(payload));
      if (endStream) finish();
    };
    const onRst = (id: number, code: number): void => {
      if (id !== streamId) return;
      resets.push(code);
      finish();
    };
    conn.on('headers', onHeaders).on('data', onData).on('rst', onRst).on('close', finish);
  });
}
