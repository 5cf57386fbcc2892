// Peer `koa-send`: Koa on node:http2's compat API (TLS, HTTP/1.1 fallback) with koa-send
// serving /media/*. koa-send (5.x) has no Range support at all: it always answers 200 with the
// whole file. So a small step after it does what koa-range does: one satisfiable range
// (range-parser) replaces the body with a read stream of that slice and answers 206; an
// unsatisfiable one gets 416; several are ignored (200). Koa's default error handler stays on,
// so a cancelled stream is logged as Koa logs it.
//
//   PORT=8443 MEDIA_ROOT=... TLS_CERT=... TLS_KEY=... node bench/peers/koa-send-server.ts

import { createReadStream } from 'node:fs';
import type { ReadStream } from 'node:fs';
import http2 from 'node:http2';
import Koa from 'koa';
import type { Context, Next } from 'koa';
import send from 'koa-send';
import parseRange from 'range-parser';
import { exitOnSignal, readScriptSettings } from './script-env.ts';

const settings = readScriptSettings();
const PREFIX = '/media/';

const app = new Koa();
app.use(serveMedia);
const server = http2.createSecureServer({ allowHTTP1: true, key: settings.key, cert: settings.cert }, app.callback());
server.on('sessionError', () => {});
server.listen(settings.port, settings.host, () => process.stdout.write(`koa-send listening on ${settings.host}:${settings.port}\n`));
exitOnSignal();

async function serveMedia(ctx: Context, next: Next): Promise<void> {
  if (!ctx.path.startsWith(PREFIX)) return next();
  const file = await send(ctx, ctx.path.slice(PREFIX.length), { root: settings.mediaRoot });
  ctx.set('Accept-Ranges', 'bytes');
  const range = ctx.get('Range');
  const full = ctx.body as ReadStream | undefined;
  const size = Number(ctx.response.get('Content-Length'));
  if (!range || !file || !full || !(size > 0)) return;
  const ranges = parseRange(size, range, { combine: true });
  if (ranges === -1) {
    full.destroy();
    ctx.body = 'Range Not Satisfiable'; // before the status: Koa turns a null body into 204
    ctx.type = 'text/plain';
    ctx.status = 416;
    ctx.set('Content-Range', `bytes */${size}`);
    return;
  }
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return;
  const { start, end } = ranges[0]!;
  full.destroy();
  ctx.status = 206;
  ctx.set('Content-Range', `bytes ${start}-${end}/${size}`);
  ctx.body = createReadStream(file, { start, end });
  ctx.length = end - start + 1;
}
