// The sink contract the data path relies on: write() either refuses at once (false, no
// callback) or calls back exactly once. HTTP/1.1's OutgoingMessage parks a chunk and its
// callback in outputData when the socket is open but no longer writable (e.g. ended after the
// client's FIN), and drops that callback when the socket is destroyed: a leaked slab.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { it } from 'node:test';
import { EventEmitter } from 'node:events';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { ConnectionRecord, SessionRecord, StreamRecord } from '../../server/connection/connection-registry.ts';
import { createHttp1Sink, createHttp2Sink } from '../../server/streaming/response-sink.ts';

it('HTTP/1.1: a write after the socket stopped being writable is refused or called back exactly once', async () => {
  let outcome: { accepted: boolean; callbacks: number } | undefined;
  const done = new Promise<void>((resolve) => {
    const server = http.createServer((_req, res) => {
      const sink = createHttp1Sink(res);
      sink.respond(200, { 'content-length': 1_000_000 }, false);
      res.socket!.end(); // open, not destroyed, no longer writable
      let callbacks = 0;
      const accepted = sink.write(Buffer.alloc(65536), () => callbacks++);
      res.socket!.destroy();
      void sink.closed.then(() =>
        setTimeout(() => {
          outcome = { accepted, callbacks };
          server.close();
          resolve();
        }, 50),
      );
    });
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1', () =>
        client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      client.on('error', () => {});
      client.resume();
    });
  });
  await done;
  assert.ok(outcome);
  if (outcome.accepted) assert.equal(outcome.callbacks, 1, 'an accepted write must call back exactly once');
  else assert.equal(outcome.callbacks, 0, 'a refused write must not call back');
});

it('HTTP/2: a write callback Node never calls is settled when the socket closes, not before', () => {
  // A stand-in for Node's stream and session: write() keeps the callback and never calls it,
  // as seen (rarely) after a paced Rapid Reset over h2c.
  const socket = Object.assign(new EventEmitter(), { destroyed: false });
  const session = { socket, destroyed: false };
  const swallowed: (() => void)[] = [];
  const stream = Object.assign(new EventEmitter(), {
    session,
    closed: false,
    destroyed: false,
    writableEnded: false,
    rstCode: undefined,
    write: (_chunk: Buffer, cb: () => void) => {
      swallowed.push(cb);
      return true;
    },
  });
  // The registry's records, as for every stream of the server (the safety net is per session);
  // the registry reports the socket's 'close' to the session's state.
  const connection = new ConnectionRecord(socket as unknown as Socket);
  const sessionRecord = new SessionRecord(session as unknown as ServerHttp2Session, connection);
  new StreamRecord(stream as unknown as ServerHttp2Stream, sessionRecord);
  socket.once('close', () => sessionRecord.endStates('socketClosed'));
  const sink = createHttp2Sink(stream as unknown as ServerHttp2Stream);
  let flushed = 0;
  assert.equal(sink.write(Buffer.alloc(16), () => flushed++), true);
  assert.equal(flushed, 0, 'nothing settles while the socket is open');
  socket.emit('close');
  assert.equal(flushed, 1, 'settled at the socket close');
  for (const cb of swallowed) cb(); // Node calling back late must not settle it twice
  assert.equal(flushed, 1);
});
