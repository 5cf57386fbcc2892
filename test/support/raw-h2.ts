// A raw HTTP/2 client (RFC 9113) for tests that must see every frame on the wire.
//
// Node's http2 client is the wrong tool for checking a streaming server: once it
// has reset a stream it silently drops the DATA frames still in flight, it
// manages flow control on its own, and it hides GOAWAY details. This client
// reports every DATA frame (even for streams we already reset), lets a test
// hold back a stream's flow-control window, and can write arbitrary frames.
// It speaks h2c with prior knowledge over node:net, or h2 over node:tls.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { encodeHeaderBlock, HpackDecoder, HpackError, type HeaderField } from './hpack.ts';

export type { HeaderField } from './hpack.ts';

export const FrameType = {
  DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4,
  PUSH_PROMISE: 0x5, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5, MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13,
} as const;

export interface RawH2Options {
  host: string;
  port: number;
  tls?: boolean;
  servername?: string;
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise for every stream. Default 65535. */
  initialStreamWindow?: number;
  /** Connection window we raise to at start (WINDOW_UPDATE on stream 0). Default 16 MiB. */
  connectionWindow?: number;
  /** Source address (e.g. 127.0.0.50, to be another client on loopback). */
  localAddress?: string;
}

export interface RawH2Events {
  /** Every DATA frame, padding stripped, including frames for streams we already reset. */
  data(streamId: number, payload: Buffer, endStream: boolean): void;
  /** A complete header block (HEADERS + CONTINUATIONs); `status` comes from `:status`. */
  headers(streamId: number, status: number | undefined, endStream: boolean, fields: HeaderField[]): void;
  rst(streamId: number, errorCode: number): void;
  goaway(lastStreamId: number, errorCode: number, debug: Buffer): void;
  settings(values: Map<number, number>): void;
  close(hadError: boolean): void;
  error(err: Error): void;
}

type EventArgs = { [K in keyof RawH2Events]: Parameters<RawH2Events[K]> };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65535;
const MAX_WINDOW = 2 ** 31 - 1;
// We never advertise a larger SETTINGS_MAX_FRAME_SIZE, so nothing bigger is legal.
const MAX_INBOUND_FRAME = 16384;

interface StreamState {
  paused: boolean;
  /** Bytes consumed while paused, returned to the server by resume(). */
  owed: number;
  resetByUs: boolean;
  /** END_STREAM or RST_STREAM from the server: its window no longer matters. */
  remoteDone: boolean;
}

/** A violation by the server that kills the connection (RFC 9113 section 5.4.1). */
class ConnectionError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export class RawH2Connection extends EventEmitter<EventArgs> {
  readonly remoteSettings = new Map<number, number>();
  lastGoaway?: { lastStreamId: number; errorCode: number; debug: Buffer };

  private readonly socket: net.Socket;
  private readonly options: Required<Omit<RawH2Options, 'servername' | 'localAddress'>>;
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, StreamState>();
  private readonly pings = new Map<string, { sentAt: number; resolve(rtt: number): void; reject(err: Error): void }>();
  private inbox: Buffer = Buffer.alloc(0);
  private headerBlock?: { streamId: number; endStream: boolean; fragments: Buffer[] };
  private nextStreamId = 1;
  private closing = false; // we sent GOAWAY, hit a connection error, or destroyed
  private closed = false; // the socket is gone

  private constructor(socket: net.Socket, options: RawH2Options) {
    super();
    this.socket = socket;
    this.options = {
      host: options.host,
      port: options.port,
      tls: options.tls ?? false,
      initialStreamWindow: options.initialStreamWindow ?? DEFAULT_WINDOW,
      connectionWindow: options.connectionWindow ?? 16 * 1024 * 1024,
    };
    const { initialStreamWindow, connectionWindow } = this.options;
    if (!(initialStreamWindow >= 0 && initialStreamWindow <= MAX_WINDOW)) throw new RangeError('initialStreamWindow out of range');
    if (!(connectionWindow >= DEFAULT_WINDOW && connectionWindow <= MAX_WINDOW)) throw new RangeError('connectionWindow out of range');

    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Once either side has said goodbye, a reset from the peer is just how TCP ends.
      const expected = (this.closing || this.lastGoaway) && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      if (!expected) this.emit('error', err);
    });
    socket.on('close', (hadError: boolean) => {
      this.closed = true;
      this.closing = true;
      for (const ping of this.pings.values()) ping.reject(new Error('raw-h2: connection closed before PING ACK'));
      this.pings.clear();
      this.emit('close', hadError);
    });
  }

  /** Connect, send the preface and our SETTINGS; resolves once the server's SETTINGS arrived and was ACKed. */
  static connect(options: RawH2Options): Promise<RawH2Connection> {
    const socket = options.tls
      ? tls.connect({
          host: options.host,
          port: options.port,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
          ALPNProtocols: ['h2'],
          rejectUnauthorized: false,
          // SNI with an IP literal is not allowed (RFC 6066), so only send names.
          servername: options.servername ?? (net.isIP(options.host) ? undefined : options.host),
        })
      : net.connect({ host: options.host, port: options.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let conn: RawH2Connection;
    try {
      conn = new RawH2Connection(socket, options);
    } catch (err) {
      socket.destroy();
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        conn.off('error', onError);
        conn.off('close', onClose);
        conn.off('settings', onSettings);
      };
      const onError = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onClose = (): void => onError(new Error('raw-h2: connection closed before the server SETTINGS arrived'));
      const onSettings = (): void => {
        cleanup();
        resolve(conn);
      };
      conn.on('error', onError);
      conn.on('close', onClose);
      conn.on('settings', onSettings);
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        const alpn = options.tls ? (socket as tls.TLSSocket).alpnProtocol : 'h2';
        if (alpn !== 'h2') onError(new Error(`raw-h2: server did not negotiate h2 via ALPN (got ${String(alpn)})`));
        else conn.start();
      });
    });
  }

  get isClosed(): boolean {
    return this.closing || this.closed;
  }

  /** Open a stream with these headers (pseudo-headers first, as given). Returns the new stream id. */
  request(headers: ReadonlyArray<readonly [string, string]>, endStream = true): number {
    if (this.isClosed) throw new Error('raw-h2: request() on a closed connection');
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    this.streams.set(streamId, { paused: false, owed: 0, resetByUs: false, remoteDone: false });

    // A block larger than the server's frame limit continues in CONTINUATION frames.
    const block = encodeHeaderBlock(headers);
    const maxFrame = this.remoteSettings.get(Setting.MAX_FRAME_SIZE) ?? 16384;
    this.socket.cork();
    let offset = 0;
    do {
      const first = offset === 0;
      const fragment = block.subarray(offset, offset + maxFrame);
      offset += fragment.length;
      // END_STREAM belongs on the HEADERS frame, END_HEADERS on the last frame of the block.
      const flags = (first && endStream ? Flags.END_STREAM : 0) | (offset >= block.length ? Flags.END_HEADERS : 0);
      this.writeFrame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, streamId, fragment);
    } while (offset < block.length);
    this.socket.uncork();
    return streamId;
  }

  /** Send RST_STREAM. DATA that the server had already sent keeps being reported. */
  reset(streamId: number, errorCode: number = ErrorCode.CANCEL): void {
    const stream = this.streams.get(streamId);
    if (stream) stream.resetByUs = true;
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(errorCode >>> 0);
    this.writeFrame(FrameType.RST_STREAM, 0, streamId, payload);
  }

  /** Stop returning stream-level window, so the server's data for this stream queues behind flow control. */
  pause(streamId: number): void {
    const stream = this.streams.get(streamId);
    if (stream) stream.paused = true;
  }

  /** Return the window consumed while paused, then go back to replenishing as data arrives. */
  resume(streamId: number): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    stream.paused = false;
    if (stream.owed > 0 && !stream.resetByUs && !stream.remoteDone) this.windowUpdate(streamId, stream.owed);
    stream.owed = 0;
  }

  /** Resolves with the round-trip time in milliseconds when the PING ACK arrives. */
  ping(): Promise<number> {
    if (this.isClosed) return Promise.reject(new Error('raw-h2: ping() on a closed connection'));
    const payload = randomBytes(8);
    return new Promise((resolve, reject) => {
      this.pings.set(payload.toString('hex'), { sentAt: performance.now(), resolve, reject });
      this.writeFrame(FrameType.PING, 0, 0, payload);
    });
  }

  /** Write any frame as given (the stream id is not masked, so the reserved bit can be set). */
  sendFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    this.writeFrame(type, flags, streamId, payload);
  }

  /** Everything `write` sends goes out in one socket write (e.g. HEADERS and RST_STREAM together). */
  together(write: () => void): void {
    this.socket.cork();
    try {
      write();
    } finally {
      this.socket.uncork();
    }
  }

  /** Send GOAWAY(NO_ERROR) and end the socket; resolves when it has closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (!this.closing) {
      this.writeGoaway(ErrorCode.NO_ERROR, Buffer.alloc(0));
      this.closing = true;
      this.socket.end();
    }
    return done;
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  // --- Outbound ---

  private start(): void {
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(Setting.ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(this.options.initialStreamWindow, 8);
    this.socket.cork();
    this.socket.write(PREFACE);
    this.writeFrame(FrameType.SETTINGS, 0, 0, settings);
    // SETTINGS cannot change the connection window; only WINDOW_UPDATE can.
    this.windowUpdate(0, this.options.connectionWindow - DEFAULT_WINDOW);
    this.socket.uncork();
  }

  private writeFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (payload.length > 0xffffff) throw new RangeError('frame payload longer than 2^24-1 bytes');
    // Frames after our GOAWAY or a socket close would be dropped by the peer anyway.
    if (!this.socket.writable) return;
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = type;
    header[4] = flags;
    header.writeUInt32BE(streamId >>> 0, 5);
    this.socket.write(payload.length > 0 ? Buffer.concat([header, payload]) : header);
  }

  private windowUpdate(streamId: number, increment: number): void {
    if (increment <= 0) return; // an increment of 0 is a PROTOCOL_ERROR
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(increment);
    this.writeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
  }

  private writeGoaway(errorCode: number, debug: Buffer): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(0, 0); // we accept no server-initiated streams (push is off)
    payload.writeUInt32BE(errorCode, 4);
    this.writeFrame(FrameType.GOAWAY, 0, 0, Buffer.concat([payload, debug]));
  }

  // --- Inbound ---

  private onSocketData(chunk: Buffer): void {
    this.inbox = this.inbox.length > 0 ? Buffer.concat([this.inbox, chunk]) : chunk;
    // One write for all the WINDOW_UPDATEs and ACKs this read produces.
    this.socket.cork();
    try {
      while (this.inbox.length >= 9 && !this.closing) {
        const length = this.inbox.readUIntBE(0, 3);
        if (length > MAX_INBOUND_FRAME) {
          throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${MAX_INBOUND_FRAME}`);
        }
        if (this.inbox.length < 9 + length) break; // the rest is in a later TCP read
        const type = this.inbox[3];
        const flags = this.inbox[4];
        const streamId = this.inbox.readUInt32BE(5) & 0x7fffffff; // ignore the reserved bit
        const payload = this.inbox.subarray(9, 9 + length);
        this.inbox = this.inbox.subarray(9 + length);
        this.onFrame(type, flags, streamId, payload);
      }
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      this.failConnection(err);
    } finally {
      this.socket.uncork();
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    // A header block must be contiguous: nothing may interleave with its CONTINUATIONs.
    if (this.headerBlock && (type !== FrameType.CONTINUATION || streamId !== this.headerBlock.streamId)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `expected CONTINUATION on stream ${this.headerBlock.streamId}, got frame type ${type} on stream ${streamId}`);
    }
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.onHeaders(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      case FrameType.PRIORITY:
        requireStream(type, streamId);
        requireLength(type, payload, 5);
        return; // deprecated by RFC 9113; nothing to do
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE received although SETTINGS_ENABLE_PUSH is 0');
      case FrameType.PING:
        return this.onPing(flags, streamId, payload);
      case FrameType.GOAWAY:
        return this.onGoaway(streamId, payload);
      case FrameType.WINDOW_UPDATE:
        // We do not send DATA through this API, so the server's windows are not tracked.
        return requireLength(type, payload, 4);
      default:
        return; // unknown frame types must be ignored (section 4.1)
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    requireStream(FrameType.DATA, streamId);
    const body = stripPadding(FrameType.DATA, flags, payload);
    const endStream = (flags & Flags.END_STREAM) !== 0;
    const stream = this.streams.get(streamId);
    if (stream && endStream) stream.remoteDone = true;
    // Emit before crediting the window so a listener can pause() or reset() in time.
    this.emit('data', streamId, body, endStream);

    // Flow control counts the whole payload, padding included (section 6.9.1).
    // The connection window is always returned, also for reset streams: the
    // server counted those bytes against it too.
    this.windowUpdate(0, payload.length);
    if (!stream || stream.resetByUs || stream.remoteDone) return;
    if (stream.paused) stream.owed += payload.length;
    else this.windowUpdate(streamId, payload.length);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    requireStream(FrameType.HEADERS, streamId);
    let fragment = stripPadding(FrameType.HEADERS, flags, payload);
    if (flags & Flags.PRIORITY) {
      // Stream dependency (4 bytes) and weight (1 byte) precede the block.
      if (fragment.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS with PRIORITY flag is too short');
      fragment = fragment.subarray(5);
    }
    this.headerBlock = { streamId, endStream: (flags & Flags.END_STREAM) !== 0, fragments: [fragment] };
    if (flags & Flags.END_HEADERS) this.finishHeaderBlock();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    if (!this.headerBlock) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without a preceding HEADERS`);
    this.headerBlock.fragments.push(payload);
    if (flags & Flags.END_HEADERS) this.finishHeaderBlock();
  }

  private finishHeaderBlock(): void {
    const { streamId, endStream, fragments } = this.headerBlock!;
    this.headerBlock = undefined;
    let fields: HeaderField[];
    try {
      // Every block must go through the decoder, in order, to keep its table in sync.
      fields = this.hpack.decode(Buffer.concat(fragments));
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, `HPACK decoding failed on stream ${streamId}: ${err.message}`);
      throw err;
    }
    const stream = this.streams.get(streamId);
    if (stream && endStream) stream.remoteDone = true;
    const statusText = fields.find(([name]) => name === ':status')?.[1];
    const status = statusText !== undefined && /^\d{3}$/.test(statusText) ? Number(statusText) : undefined;
    this.emit('headers', streamId, status, endStream, fields);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    requireStream(FrameType.RST_STREAM, streamId);
    requireLength(FrameType.RST_STREAM, payload, 4);
    const stream = this.streams.get(streamId);
    if (stream) stream.remoteDone = true;
    this.emit('rst', streamId, payload.readUInt32BE(0));
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS on stream ${streamId}`);
    if (flags & Flags.ACK) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS payload of ${payload.length} bytes is not a multiple of 6`);
    const values = new Map<number, number>();
    for (let offset = 0; offset < payload.length; offset += 6) {
      const id = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} exceeds 2^31-1`);
      }
      if (id === Setting.MAX_FRAME_SIZE && (value < 16384 || value > 0xffffff)) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
      }
      values.set(id, value);
      this.remoteSettings.set(id, value);
    }
    this.writeFrame(FrameType.SETTINGS, Flags.ACK, 0, Buffer.alloc(0));
    this.emit('settings', values);
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `PING on stream ${streamId}`);
    requireLength(FrameType.PING, payload, 8);
    if (!(flags & Flags.ACK)) return this.writeFrame(FrameType.PING, Flags.ACK, 0, payload);
    const key = payload.toString('hex');
    const ping = this.pings.get(key);
    if (!ping) return; // an ACK for a PING sent with sendFrame()
    this.pings.delete(key);
    ping.resolve(performance.now() - ping.sentAt);
  }

  private onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${streamId}`);
    if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `GOAWAY payload of ${payload.length} bytes`);
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    const errorCode = payload.readUInt32BE(4);
    const debug = Buffer.from(payload.subarray(8));
    this.lastGoaway = { lastStreamId, errorCode, debug };
    this.emit('goaway', lastStreamId, errorCode, debug);
  }

  /** Section 5.4.1: send GOAWAY with the error, report it, and drop the connection. */
  private failConnection(err: ConnectionError): void {
    this.writeGoaway(err.code, Buffer.from(err.message.slice(0, 200), 'latin1'));
    this.closing = true;
    this.socket.end(() => this.socket.destroy());
    this.emit('error', new Error(`raw-h2: ${err.message} (error code ${err.code})`));
  }
}

function requireStream(type: number, streamId: number): void {
  if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${type} on stream 0`);
}

function requireLength(type: number, payload: Buffer, length: number): void {
  if (payload.length !== length) {
    throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame type ${type} has ${payload.length} payload bytes, expected ${length}`);
  }
}

/** Remove the Pad Length byte and trailing padding of a PADDED DATA or HEADERS frame. */
function stripPadding(type: number, flags: number, payload: Buffer): Buffer {
  if (!(flags & Flags.PADDED)) return payload;
  if (payload.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `PADDED frame type ${type} without a Pad Length`);
  const padLength = payload[0];
  if (padLength >= payload.length) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${type}: padding of ${padLength} bytes fills the whole ${payload.length}-byte payload`);
  }
  return payload.subarray(1, payload.length - padLength);
}
