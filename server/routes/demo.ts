// GET / and /demo/*: the browser player demo (player-demo/), served from memory
// (demo-assets.ts). The file names are not content-hashed, so every answer is
// `no-cache` with a strong ETag: a reload revalidates and gets 304 while nothing changed.

import type { Context } from 'koa';
import type { DemoAsset, DemoAssets } from '../demo-assets.ts';

// The page loads only its own script, style and media, and talks only to its own origin.
const PAGE_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** One [path, handler] per demo file, for the app's fixed routes; none when there is no demo. */
export function demoRoutes(assets: DemoAssets | undefined): [string, (ctx: Context) => void][] {
  return [...(assets ?? new Map<string, DemoAsset>())].map(([path, file]) => [path, serveDemoFile(file)]);
}

function serveDemoFile(file: DemoAsset) {
  return function demoFile(ctx: Context): void {
    ctx.status = 200;
    ctx.set('content-type', file.type);
    ctx.set('etag', file.etag);
    ctx.set('cache-control', 'no-cache');
    ctx.set('x-content-type-options', 'nosniff');
    if (file.type.startsWith('text/html')) ctx.set('content-security-policy', PAGE_POLICY);
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = file.body;
  };
}
