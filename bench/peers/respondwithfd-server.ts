// Peer `node-respondwithfd`: a bare node:http2 server on Node's own fast path. It parses
// Range itself (one range -> 206, several or none -> 200, unsatisfiable -> 416; RFC 9110 14),
// opens the file and hands the descriptor to `stream.respondWithFD`, which reads and frames
// it in C++. The descriptor is closed when the stream closes. Session settings are Node's
// defaults: this is what a plain node:http2 server does.
//
//   PORT=8443 MEDIA_ROOT=... TLS_CERT=... TLS_KEY=... node bench/peers/respondwithfd-server.ts

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import path from 'node:path';
import mime from 'mime-types';
import parseRange from 'range-parser';
import { exitOnSignal, readScriptSettings } from './script-env.ts';

const settings = readScriptSettings();
const root = path.resolve(settings.mediaRoot);
const PREFIX = '/media/';

const server = http2.createSecureServer({ key: settings.key, cert: settings.cert });
server.on('stream', (stream, headers) => void serve(stream, headers));
server.on('sessionError', () => {}); // a peer that vanished ends its own session only
server.listen(settings.port, settings.host, () => process.stdout.write(`respondwithfd listening on ${settings.host}:${settings.port}\n`));
exitOnSignal();

async function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
  stream.on('error', () => {}); // resets and write errors end this stream only
  const method = headers[':method'];
  if (method !== 'GET' && method !== 'HEAD') return answer(stream, 405, { allow: 'GET, HEAD' });
  const file = filePathOf(headers[':path'] ?? '');
  if (typeof file === 'number') return answer(stream, file);
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch {
    return answer(stream, 404);
  }
  if (stream.destroyed || stream.closed) return void handle.close(); // cancelled while opening
  stream.once('close', () => void handle.close());
  const stat = await handle.stat().catch(() => undefined);
  if (stream.destroyed || stream.closed) return;
  if (!stat?.isFile()) return answer(stream, 404);

  const size = stat.size;
  const common: OutgoingHttpHeaders = {
    'accept-ranges': 'bytes',
    'content-type': mime.contentType(path.extname(file)) || 'application/octet-stream',
    'last-modified': stat.mtime.toUTCString(),
  };
  const ranges = typeof headers.range === 'string' && size > 0 ? parseRange(size, headers.range, { combine: true }) : -2;
  if (ranges === -1) return answer(stream, 416, { 'content-range': `bytes */${size}` });
  const isPartial = Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1;
  const offset = isPartial ? ranges[0]!.start : 0;
  const length = isPartial ? ranges[0]!.end - ranges[0]!.start + 1 : size;
  const head: OutgoingHttpHeaders = { ...common, ':status': isPartial ? 206 : 200, 'content-length': length };
  if (isPartial) head['content-range'] = `bytes ${offset}-${offset + length - 1}/${size}`;
  if (method === 'HEAD' || length === 0) return void stream.respond(head, { endStream: true });
  try {
    stream.respondWithFD(handle, head, { offset, length });
  } catch {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

/** The file a `:path` names under the media root, or the status that refuses it. */
function filePathOf(requestPath: string): string | number {
  const pathname = requestPath.split('?')[0]!;
  if (!pathname.startsWith(PREFIX)) return 404;
  let relative: string;
  try {
    relative = decodeURIComponent(pathname.slice(PREFIX.length));
  } catch {
    return 400;
  }
  const file = path.resolve(root, relative);
  return file.startsWith(root + path.sep) ? file : 403;
}

function answer(stream: ServerHttp2Stream, status: number, extra: OutgoingHttpHeaders = {}): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ...extra, ':status': status }, { endStream: true });
}
