// Graceful close of one HTTP/2 connection: GOAWAY(NO_ERROR) carrying the real last stream
// id, open streams finish, then the connection closes (Node's session.close()).
//
// Why not RFC 9113 section 6.8's two steps (GOAWAY with 2^31-1, then the real id one round
// trip later)? The first step is meant to keep accepting streams the client is opening right
// now. Node can only send it through nghttp2_submit_goaway, which marks the session
// GOAWAY_SENT, and from then on nghttp2 silently ignores every new stream (it has a
// "shutdown notice" for the first step, but Node does not expose it). Measured here: a stream
// sent just before the client read the first GOAWAY hung until the final GOAWAY told the
// client it was unprocessed; and a client with no active stream never acks the PING, so that
// final GOAWAY waited for a timeout. A single GOAWAY with the real last stream id tells the
// client at once which streams it must retry (docs/http2-lifecycle.md).

import type { Http2Session } from 'node:http2';

const closing = new WeakSet<Http2Session>();

export function closeSessionGracefully(session: Http2Session): void {
  if (closing.has(session) || session.closed || session.destroyed) return;
  closing.add(session);
  session.close();
}
