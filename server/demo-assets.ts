// The browser demo's own files (player-demo/index.html, style.css and the built dist/*.js),
// read into memory once at startup. This is the one place server/ reads files itself rather
// than through storage/: a fixed folder of the project, never the media root, never per
// request, and nothing of it on the media data path. Built by `npm run build:demo`.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from './log.ts';

export interface DemoAsset {
  readonly body: Buffer;
  readonly type: string;
  /** Strong validator: a hash of the bytes. */
  readonly etag: string;
}

/** URL path -> file: '/' for the page, '/demo/<file>' for its stylesheet and scripts. */
export type DemoAssets = ReadonlyMap<string, DemoAsset>;

const DEMO_DIR = fileURLToPath(new URL('../player-demo/', import.meta.url));

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>seekable: demo not built</title>
<p>The player demo is not built. Run <code>npm run build:demo</code> (npm install, npm start and npm test run it) and restart the server.</p>`;

export async function loadDemoAssets(log: Logger, dir = DEMO_DIR): Promise<DemoAssets> {
  const assets = new Map<string, DemoAsset>();
  const scripts = await readdir(`${dir}dist`).catch(() => [] as string[]);
  if (!scripts.includes('main.js')) {
    log.warn({ dir }, 'player demo not built (npm run build:demo): / shows how to build it');
    assets.set('/', asset(Buffer.from(NOT_BUILT_PAGE), 'text/html; charset=utf-8'));
    return assets;
  }
  assets.set('/', asset(await readFile(`${dir}index.html`), 'text/html; charset=utf-8'));
  assets.set('/demo/style.css', asset(await readFile(`${dir}style.css`), 'text/css; charset=utf-8'));
  for (const name of scripts.filter((n) => n.endsWith('.js'))) {
    assets.set(`/demo/${name}`, asset(await readFile(`${dir}dist/${name}`), 'text/javascript; charset=utf-8'));
  }
  return assets;
}

function asset(body: Buffer, type: string): DemoAsset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}
