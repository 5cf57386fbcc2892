// Peer `node-h2-floor`: not a server anyone should run, but the floor under every node:http2
// file server, this one included. Per stream it parses one `bytes=S-E` range, reads it with
// one fs.read (libuv's pool, as ours does by default) into a buffer from a free list, responds
// and writes it; the buffer goes back to the list when that write has completed. Descriptors
// stay open for the life of the process. No routing beyond a file name, no validators, no
// metrics, limits, logs, timeouts or lifecycle: what is left is what node:http2, TLS and one
// file read cost. The bench runs it on the range workloads (a) and (b) only.
//
//   PORT=8443 MEDIA_ROOT=... TLS_CERT=... TLS_KEY=... node bench/peers/node-floor-server.ts

import { fstatSync, openSync, read } from 'node:fs';
import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import path from 'node:path';
import { exitOnSignal, readScriptSettings } from './script-env.ts';

const settings = readScriptSettings();
const root = path.resolve(settings.mediaRoot);
const PREFIX = '/media/';
const MAX_RANGE_BYTES = 1024 * 1024;
const RANGE = /^bytes=(\d+)-(\d+)$/;

interface OpenFile {
  readonly fd: number;
  readonly size: number;
}
const files = new Map<string, OpenFile>();
/** Free buffers by power-of-two size, 64 KiB to 1 MiB. */
const free = new Map<number, Buffer[]>();

const server = http2.createSecureServer({ key: settings.key, cert: settings.cert, settings: { maxConcurrentStreams: 128 } });
server.on('stream', serve);
server.on('sessionError', () => {});
server.listen(settings.port, settings.host, () => process.stdout.write(`node-h2-floor listening on ${settings.host}:${settings.port}\n`));
exitOnSignal();

function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {});
  const file = fileOf(headers[':path'] ?? '');
  if (!file) return void stream.respond({ ':status': 404 }, { endStream: true });
  const m = RANGE.exec(typeof headers.range === 'string' ? headers.range : '');
  const start = m ? Number(m[1]) : -1;
  const end = m ? Math.min(Number(m[2]), file.size - 1) : -1;
  const length = end - start + 1;
  if (!m || start > end || length > MAX_RANGE_BYTES) {
    return void stream.respond({ ':status': 416, 'content-range': `bytes */${file.size}` }, { endStream: true });
  }
  const buffer = take(length);
  read(file.fd, buffer, 0, length, start, (err, got) => {
    if (err || got !== length || stream.destroyed || stream.closed) {
      give(buffer);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.respond({
      ':status': 206,
      'content-type': 'application/octet-stream',
      'content-length': length,
      'content-range': `bytes ${start}-${end}/${file.size}`,
      'accept-ranges': 'bytes',
    });
    stream.write(buffer.subarray(0, length), () => give(buffer));
    stream.end();
  });
}

function fileOf(requestPath: string): OpenFile | undefined {
  const name = requestPath.startsWith(PREFIX) ? requestPath.slice(PREFIX.length) : '';
  let file = files.get(name);
  if (file || !/^\w[\w.-]*$/.test(name)) return file;
  try {
    const fd = openSync(path.join(root, name), 'r');
    file = { fd, size: fstatSync(fd).size };
  } catch {
    return undefined;
  }
  files.set(name, file);
  return file;
}

function sizeClass(length: number): number {
  let size = 64 * 1024;
  while (size < length) size *= 2;
  return size;
}

function take(length: number): Buffer {
  const size = sizeClass(length);
  return free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}

function give(buffer: Buffer): void {
  let list = free.get(buffer.length);
  if (!list) free.set(buffer.length, (list = []));
  list.push(buffer);
}
