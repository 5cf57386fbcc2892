// Graceful close of one HTTP/2 connection, in RFC 9113 section 6.8's two steps as far as Node
// can do them: GOAWAY(NO_ERROR, 2^31-1) plus an empty SETTINGS frame; when the client
// acknowledges that SETTINGS (one round trip, measured by the client itself) the final GOAWAY
// with the real last stream id (Node's session.close(), which lets open streams finish).
//
// What Node cannot send is nghttp2's shutdown notice: every GOAWAY Node sends marks the session
// GOAWAY_SENT, and nghttp2 then silently ignores new streams. So a stream the client sent before
// it read the first GOAWAY (a racing stream) is not processed either way; the final GOAWAY's
// last-stream-id tells the client so, and the client retries it on a new connection (Node's
// client ends it with REFUSED_STREAM). Two things make the first step safe:
// - The round trip is timed by a SETTINGS ACK, which a client must send (RFC 9113 6.5.3).
// - Once a GOAWAY is sent and no stream is open, nghttp2_session_want_read() is 0 and Node stops
//   reading the socket (Http2Session::MaybeStopReading), so no ACK (SETTINGS or PING) is ever
//   read and the final GOAWAY would wait for the fallback timer (measured: 1 s for a racing
//   stream). So a session with no open stream gets the final GOAWAY at once, and one whose last
//   stream closes during the first step gets it then (the caller reports that: sessionIdle()).
// Measured (bench/experiments/drain-two-step.ts, 25 ms each way): a racing stream learns it is
// unprocessed 1.5 round trips after the first step, one round trip later than with a single
// GOAWAY. The other candidate first step, SETTINGS_MAX_CONCURRENT_STREAMS=0, refuses racing
// streams sooner, but Node's client queues new requests behind a limit of 0 and never fails
// them, even after the final GOAWAY: they hung until the process ended. See
// docs/http2-lifecycle.md.

import { constants as h2 } from 'node:http2';
import type { SessionRecord } from '../connection/connection-registry.ts';

/** RFC 9113 section 6.8: "the last stream identifier set to 2^31-1". */
const ANY_STREAM_ID = 2 ** 31 - 1;
/** Final GOAWAY after this long if the client has not acknowledged our SETTINGS. */
export const FINAL_GOAWAY_FALLBACK_MS = 1000;

/**
 * Starts the graceful close. `hasOpenStreams`: whether any stream of the session is open now
 * (with none, the final GOAWAY goes at once). True if this call started the close; false if the
 * session was already closing (a rotation, a drain, the client's own GOAWAY) or is gone.
 */
export function closeSessionGracefully(record: SessionRecord, hasOpenStreams: boolean, fallbackMs = FINAL_GOAWAY_FALLBACK_MS): boolean {
  const session = record.session;
  if (record.closeStep !== 'open' || session.closed || session.destroyed) return false;
  if (!hasOpenStreams) {
    record.closeStep = 'closing';
    session.close();
    return true;
  }
  record.closeStep = 'first-goaway';
  session.goaway(h2.NGHTTP2_NO_ERROR, ANY_STREAM_ID);
  const timer = setTimeout(() => sendFinalGoaway(record), fallbackMs);
  timer.unref();
  record.finalGoawayTimer = timer; // cleared by the registry when the session closes
  try {
    session.settings({}, () => sendFinalGoaway(record));
  } catch {
    // Too many SETTINGS awaiting an ACK already (ERR_HTTP2_MAX_PENDING_SETTINGS_ACK): the
    // fallback timer sends the final GOAWAY.
  }
  return true;
}

/** The session's last open stream closed: a session in the first step gets the final GOAWAY now. */
export function sessionIdle(record: SessionRecord): void {
  if (record.closeStep === 'first-goaway') sendFinalGoaway(record);
}

/** The final GOAWAY now, with the real last stream id; open streams still finish. */
export function sendFinalGoaway(record: SessionRecord): void {
  clearTimeout(record.finalGoawayTimer);
  record.finalGoawayTimer = undefined;
  record.closeStep = 'closing';
  const session = record.session;
  if (!session.closed && !session.destroyed) session.close();
}
