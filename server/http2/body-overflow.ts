// A request body longer than its Content-Length costs that stream, never its connection.
//
// RFC 9113 8.1.1 makes such a request malformed: a stream error of type PROTOCOL_ERROR. nghttp2
// 1.70 treats it as one: nghttp2_http_on_data_chunk() finds the count past Content-Length,
// session_handle_invalid_stream2() queues RST_STREAM(PROTOCOL_ERROR) for that stream and then
// reports NGHTTP2_ERR_PROTO to the on_invalid_frame_recv callback (lib/nghttp2_session.c,
// NGHTTP2_IB_READ_DATA). Node 24.21's Http2Session::OnInvalidFrame hands ERR_PROTO to
// JavaScript, whose onSessionInternalError() runs `this[kOwner].destroy(new NghttpError(-505))`
// (lib/internal/http2/core.js): GOAWAY(INTERNAL_ERROR) before the RST is sent, and every other
// stream of the connection is lost. (A body that ends short is reported as
// NGHTTP2_ERR_HTTP_MESSAGING, which Node ignores, so it already cost only its stream.)
// docs/http2-lifecycle.md has the frames and the trace.
//
// On a server session, nghttp2 1.70 reports ERR_PROTO through that callback for this one stream
// error only; every other ERR_PROTO there is a connection error, which nghttp2 ends itself with
// GOAWAY(PROTOCOL_ERROR) right after the callback. So that destroy() is held back while the
// session has a body with a Content-Length still arriving (the only streams it can be about),
// and it runs after all unless one of them is closed with PROTOCOL_ERROR (nghttp2 closes it
// when its RST_STREAM goes out) within OVERFLOW_CONFIRM_MS. With no such body, Node's destroy()
// runs at once, as before. If a Node release stops routing the error through session.destroy,
// this does nothing and test/integration/upload-overflow.test.ts fails on the lost connection.

import { constants as h2 } from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Session } from 'node:http2';
import type { SessionHooks, StreamRecord } from '../connection/connection-registry.ts';

/** nghttp2.h: NGHTTP2_ERR_PROTO, the `errno` of Node's session error for it. */
const NGHTTP2_ERR_PROTO = -505;

/**
 * How long a held-back destroy waits for the stream's RST_STREAM(PROTOCOL_ERROR) to go out.
 * nghttp2 sends it with the session's next write, so on a live socket it closes the stream
 * within the same event-loop turn (measured); only a socket write stuck behind a client that
 * stopped reading takes longer, and then the connection ends as it did without this.
 */
export const OVERFLOW_CONFIRM_MS = 2000;

type Destroy = ServerHttp2Session['destroy'];

/**
 * Installs the hold-back on a new server session, before it has read any frame; the connection
 * registry calls the hooks. A stream reset for an overflow is marked (StreamRecord.isBodyOverflow)
 * for the upload route's log line.
 */
export function keepSessionOnBodyOverflow(session: ServerHttp2Session): SessionHooks {
  /** Streams with a Content-Length whose body may still be arriving (StreamRecord.isBodyArriving). */
  let bodies = 0;
  /** Held-back destroys that no stream reset has explained yet. */
  let unexplained = 0;
  let heldError: Error | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const nodeDestroy: Destroy = session.destroy;

  const explain = (record: StreamRecord): void => {
    const stream = record.stream;
    if (unexplained === 0 || !record.isBodyArriving || stream.rstCode !== h2.NGHTTP2_PROTOCOL_ERROR) return;
    bodyDone(record);
    record.isBodyOverflow = true;
    unexplained--;
    if (unexplained > 0) return;
    clearTimeout(deadline);
    deadline = undefined;
  };
  const bodyDone = (record: StreamRecord): void => {
    if (!record.isBodyArriving) return;
    record.isBodyArriving = false;
    bodies--;
  };

  session.destroy = function destroyUnlessBodyOverflow(this: ServerHttp2Session, error?: Error, code?: number) {
    if (!isProtocolError(error) || bodies === 0 || this.destroyed) return nodeDestroy.call(this, error, code);
    unexplained++;
    heldError = error;
    deadline ??= setTimeout(() => {
      deadline = undefined;
      if (unexplained > 0 && !session.destroyed) nodeDestroy.call(session, heldError);
    }, OVERFLOW_CONFIRM_MS);
    deadline.unref();
    return this;
  } as Destroy;

  return {
    streamOpened(record: StreamRecord, headers: IncomingHttpHeaders): void {
      if (headers['content-length'] === undefined || record.stream.endAfterHeaders) return;
      record.isBodyArriving = true;
      bodies++;
    },
    // 'aborted' comes first (while the response is still open) with rstCode already set;
    // 'close' covers a stream whose response had ended.
    streamAborted: explain,
    streamClosed(record: StreamRecord): void {
      explain(record);
      bodyDone(record);
    },
  };
}

function isProtocolError(error: Error | undefined): boolean {
  const { code, errno } = (error ?? {}) as { code?: string; errno?: number };
  return code === 'ERR_HTTP2_ERROR' && errno === NGHTTP2_ERR_PROTO;
}
