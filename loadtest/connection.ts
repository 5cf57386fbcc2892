// One HTTP/2 connection of the storm (TLS with ALPN h2 for https://, h2c with prior
// knowledge for http://). It remembers a GOAWAY (RFC 9113 section 6.8: a graceful close may
// send two, 2^31-1 first, then the real last stream id) and how it died, and reports a
// connection-level failure once, however many streams it cut. A refused connect is not a
// failure when another origin can take its streams (loadtest/origins.ts).

import http2 from 'node:http2';
import { classifySessionError, h2ErrorName, H2 } from './classify.ts';
import type { Failure } from './classify.ts';
import { isLoopbackAddress } from './loopback.ts';
import type { FailureClass } from './report.ts';
import { CHROME_WINDOWS } from './settings.ts';
import type { FlowWindows, TlsTrust } from './settings.ts';

export interface ConnectionEvents {
  readonly onGracefulGoaway: () => void;
  readonly onFailure: (cls: FailureClass, detail: string) => void;
  /** The connect was refused (ECONNREFUSED). True: another origin takes over, not a failure. */
  readonly onConnectRefused?: () => boolean;
}

export function sessionOptions(trust: TlsTrust): http2.SecureClientSessionOptions {
  return {
    rejectUnauthorized: !trust.insecure,
    ...(trust.caPem ? { ca: trust.caPem } : {}),
  };
}

export function openSession(origin: string, trust: TlsTrust, windows: FlowWindows = 'node'): http2.ClientHttp2Session {
  const flow: http2.ClientSessionOptions =
    windows === 'chrome' ? { settings: { initialWindowSize: CHROME_WINDOWS.streamBytes } } : {};
  const session = http2.connect(origin, origin.startsWith('https:') ? { ...sessionOptions(trust), ...flow } : flow);
  if (windows === 'chrome') session.once('connect', () => session.setLocalWindowSize(CHROME_WINDOWS.connectionBytes));
  return session;
}

export class Connection {
  readonly session: http2.ClientHttp2Session;
  readonly closed: Promise<void>;
  private goaway: { code: number; lastStreamId: number } | undefined;
  private failureSeen: Failure | undefined;
  /** undefined until a refused connect was seen; then whether another origin took over. */
  private refusal: boolean | undefined;
  private readonly events: ConnectionEvents;

  constructor(origin: string, trust: TlsTrust, allowRemote: boolean, events: ConnectionEvents, windows: FlowWindows = 'node') {
    this.events = events;
    this.session = openSession(origin, trust, windows);
    this.closed = new Promise((resolve) => this.session.once('close', () => resolve()));
    this.session.on('error', (err) => {
      if (!this.isRefusedBy(err)) this.fail(classifySessionError(err));
    });
    this.session.on('goaway', (code: number, lastStreamId: number) => this.onGoaway(code, lastStreamId));
    this.session.once('connect', () => {
      const address = this.session.socket?.remoteAddress;
      if (!allowRemote && address && !isLoopbackAddress(address)) {
        this.fail({ cls: 'connection-error', detail: `connected to ${address}, not loopback; refusing without --allow-remote` });
        this.session.destroy();
      }
    });
  }

  /** New streams may be opened here: no GOAWAY, no failure, not closing. */
  get isUsable(): boolean {
    return !this.goaway && !this.failureSeen && !this.refusal && !this.session.closed && !this.session.destroyed;
  }

  /**
   * Whether `err` is this connection's connect being refused while another origin takes over:
   * then nothing sent here was processed, and it is no failure. Node closes the streams (with
   * the refusal as their error's cause) before the session's 'error', so both ask.
   */
  isRefusedBy(err: unknown): boolean {
    if (this.refusal === undefined && (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED' && this.session.connecting) {
      this.refusal = this.events.onConnectRefused?.() ?? false;
    }
    return this.refusal === true;
  }

  get failure(): Failure | undefined {
    return this.failureSeen;
  }

  /** The connection itself is gone (socket closed or destroyed), whatever its streams were doing. */
  get isGone(): boolean {
    return this.session.destroyed;
  }

  /** What to call a connection that vanished while a stream on it was still open. */
  lossOf(streamId: number | undefined): Failure {
    const stream = streamId === undefined ? 'a stream' : `stream ${streamId}`;
    if (this.goaway) {
      return { cls: 'connection-error', detail: `connection closed after GOAWAY NO_ERROR (last stream ${this.goaway.lastStreamId}) while ${stream} was still open` };
    }
    return { cls: 'connection-error', detail: `connection closed without GOAWAY while ${stream} was open` };
  }

  /** A graceful GOAWAY said this stream (or one never sent) was not processed. */
  isUnprocessed(streamId: number | undefined): boolean {
    if (!this.goaway || this.goaway.code !== H2.NO_ERROR) return false;
    return streamId === undefined || streamId > this.goaway.lastStreamId;
  }

  /** Records a connection-level failure; only the first one counts. */
  fail(failure: Failure): Failure {
    if (!this.failureSeen) {
      this.failureSeen = failure;
      this.events.onFailure(failure.cls, failure.detail);
    }
    return this.failureSeen;
  }

  /** No new streams; open ones finish (session.close() sends nothing until they do). */
  retire(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  /** Retire, and destroy whatever is still open after graceMs. */
  async shutdown(graceMs: number): Promise<void> {
    this.retire();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.closed, grace]);
    clearTimeout(timer);
    if (!this.session.destroyed) this.session.destroy();
  }

  private onGoaway(code: number, lastStreamId: number): void {
    const isFirst = this.goaway === undefined;
    this.goaway = { code, lastStreamId }; // a later GOAWAY may only lower last-stream-id
    if (code === H2.NO_ERROR) {
      if (isFirst) this.events.onGracefulGoaway(); // one graceful close, however many GOAWAYs
    } else this.fail({ cls: 'goaway-error', detail: `GOAWAY ${h2ErrorName(code)} (last stream ${lastStreamId})` });
  }
}
