// Graceful close of one HTTP/2 connection, as RFC 9113 section 6.8 describes it:
// GOAWAY(NO_ERROR) with last-stream-id 2^31-1 first, so streams the client is opening right
// now are still accepted; one round trip later (a PING ack) the final GOAWAY with the real
// last stream id, via session.close(), which lets open streams finish and then closes.
// A client sees only NO_ERROR, never a refused stream; requests it had not sent go to a new
// connection. Used for rotation now and for shutdown later.

import { constants as h2 } from 'node:http2';
import type { Http2Session } from 'node:http2';

const MAX_STREAM_ID = 2 ** 31 - 1;
/** If the PING is never acked (or cannot be sent), close after this long anyway. */
const PING_FALLBACK_MS = 1000;

const draining = new WeakSet<Http2Session>();

export function isDraining(session: Http2Session): boolean {
  return draining.has(session);
}

export function drainSession(session: Http2Session): void {
  if (draining.has(session) || session.closed || session.destroyed) return;
  draining.add(session);
  session.goaway(h2.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  let isFinalSent = false;
  const sendFinal = (): void => {
    if (isFinalSent || session.closed || session.destroyed) return;
    isFinalSent = true;
    clearTimeout(fallback);
    session.close();
  };
  const fallback = setTimeout(sendFinal, PING_FALLBACK_MS);
  fallback.unref();
  const isPingSent = session.ping(() => sendFinal());
  if (!isPingSent) sendFinal();
}
