// The player demo's files as the server serves them (no browser needed): the page at /, every
// stylesheet, script and module import it names at /demo/, with types, no-cache + ETag
// revalidation (304), a Content-Security-Policy on the page; and a clear page when the demo
// has not been built. The files come from `npm run build:demo` (npm test's pretest runs it).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDemoAssets } from '../../server/demo-assets.ts';
import { createLogger } from '../../server/log.ts';
import { connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { TestServer } from '../support/server-harness.ts';

const SAMPLES = path.resolve('storage/sample-library');

describe('player demo route', () => {
  let server: TestServer;
  let session: ReturnType<typeof connectH2>;
  before(async () => {
    assert.ok(existsSync('player-demo/dist/main.js'), 'player-demo/dist is missing: run `npm run build:demo`');
    server = await startTestServer(SAMPLES);
    session = connectH2(server, 'tls');
  });
  after(async () => {
    session?.close();
    await server?.close(0);
  });
  const get = (p: string, headers: Record<string, string> = {}) => h2Request(session, { ':path': p, ...headers });

  it('serves the page at / with no-cache, a strong ETag, nosniff and a CSP', async () => {
    const res = await get('/');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(String(res.headers.etag), /^"[\w-]{22}"$/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
    assert.match(res.body.toString('utf8'), /<script type="module" src="\/demo\/main\.js">/);
  });

  it('serves everything the page names, and every module the scripts import', async () => {
    const html = (await get('/')).body.toString('utf8');
    const pending = [...html.matchAll(/(?:src|href)="(\/demo\/[^"]+)"/g)].map((m) => m[1]);
    const seen = new Set<string>();
    while (pending.length > 0) {
      const url = pending.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await get(url);
      assert.equal(res.status, 200, url);
      const type = url.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
      assert.equal(res.headers['content-type'], type, url);
      // A module import the build left as .ts, or a file it did not emit, fails here.
      for (const m of res.body.toString('utf8').matchAll(/from ["'](?:\.\/)?([^"']+)["']/g)) pending.push(`/demo/${m[1]}`);
    }
    assert.ok(seen.has('/demo/style.css') && seen.has('/demo/main.js') && seen.has('/demo/seek-tracker.js'), [...seen].join(', '));
  });

  it('answers 304 to a matching If-None-Match, HEAD without a body, 405 to POST, 404 for other names', async () => {
    const first = await get('/demo/main.js');
    const again = await get('/demo/main.js', { 'if-none-match': String(first.headers.etag) });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const head = await get('/', { ':method': 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal((await get('/', { ':method': 'POST' })).status, 405);
    assert.equal((await get('/demo/nope.js')).status, 404);
    assert.equal((await get('/demo/main.ts')).status, 404, 'sources are not served');
  });

  it('without a build, / says how to build the demo and nothing else is served', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'demo-unbuilt-'));
    try {
      const assets = await loadDemoAssets(createLogger('silent'), `${empty}/`);
      assert.deepEqual([...assets.keys()], ['/']);
      assert.match(assets.get('/')!.body.toString('utf8'), /npm run build:demo/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
