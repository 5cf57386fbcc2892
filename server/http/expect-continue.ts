// Expect: 100-continue (RFC 9110 10.1.1) answered by the handler, not by Node. Without a
// 'checkContinue' listener Node sends 100 Continue at once, so a client would start sending an
// 8 GiB upload that is then refused for its token or its size. With this, the request goes
// through the normal 'request' path (every listener of ours sees it), and only the upload
// route, once it has checked what it can check before the body, invites the body; a refusal
// goes out without 100, and the client never sends the body (HTTP/1.1: Node then closes the
// connection; HTTP/2: the stream is ended with RST_STREAM(NO_ERROR) after the answer).

import type { EventEmitter } from 'node:events';

/** Marks a request (on the request itself) as still waiting for its 100 Continue. */
const kAwaitingContinue = Symbol('awaitingContinue');

type Marked = { [kAwaitingContinue]?: boolean };

/** Routes requests that expect 100-continue through 'request', marked as still waiting for it. */
export function deferContinue(server: EventEmitter): void {
  server.on('checkContinue', (req: object, res: object) => {
    (req as Marked)[kAwaitingContinue] = true;
    server.emit('request', req, res);
  });
}

/** Sends 100 Continue if this request is waiting for it (once); the handler is about to read the body. */
export function continueIfExpected(req: object, res: { writeContinue(): void }): void {
  const marked = req as Marked;
  if (!marked[kAwaitingContinue]) return;
  marked[kAwaitingContinue] = false;
  res.writeContinue();
}
