// parseMediaPath as a table: the raw URL path after "/media/" in, a clean relative path or
// a refusal with its status out. mediaUrl must round-trip through it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { mediaUrl, parseMediaPath, parseMediaPathRemembered } from '../../server/media-path.ts';

const ACCEPTED: readonly { raw: string; path: string }[] = [
  { raw: 'video.mp4', path: 'video.mp4' },
  { raw: 'clip', path: 'clip' },
  { raw: 'a.b.c.webm', path: 'a.b.c.webm' },
  { raw: 'nested/deep/clip.webm', path: 'nested/deep/clip.webm' },
  { raw: 'my%20movie.mp4', path: 'my movie.mp4' },
  { raw: 'folder%20one/file%20two.mkv', path: 'folder one/file two.mkv' },
  { raw: 'caf%C3%A9.mp3', path: 'café.mp3' },
  { raw: '%E6%98%A0%E7%94%BB/%E9%9F%B3.flac', path: '映画/音.flac' },
  { raw: 'café.mp3', path: 'café.mp3' },
  { raw: 'trailing.', path: 'trailing.' },
  { raw: 'a..b', path: 'a..b' },
  { raw: '100%25.txt', path: '100%.txt' },
  { raw: 'hash%23tag.mp4', path: 'hash#tag.mp4' },
];

const REFUSED: readonly { raw: string; status: 400 | 403 | 404 }[] = [
  // Climbing out: 403
  { raw: '..', status: 403 },
  { raw: '%2e%2e', status: 403 },
  { raw: '%2E%2E/x', status: 403 },
  { raw: '.%2e/x', status: 403 },
  { raw: 'a/../b', status: 403 },
  { raw: 'a/..', status: 403 },
  { raw: '.', status: 403 },
  { raw: 'a/./b', status: 403 },
  { raw: '%2e', status: 403 },
  // A separator or NUL smuggled into a segment: 400
  { raw: 'a%2Fb', status: 400 },
  { raw: 'a%2fb', status: 400 },
  { raw: '..%2Fetc%2Fpasswd', status: 400 },
  { raw: 'a\\b', status: 400 },
  { raw: '..\\x', status: 400 },
  { raw: 'a%5Cb', status: 400 },
  { raw: 'a%5cb', status: 400 },
  { raw: 'a%00.mp4', status: 400 },
  { raw: 'a.mp4\u0000', status: 400 },
  // Malformed percent-encoding: 400
  { raw: '%E0%A4%A', status: 400 },
  { raw: '%zz', status: 400 },
  { raw: 'a%', status: 400 },
  { raw: '%C3', status: 400 },
  { raw: '%FF.mp4', status: 400 },
  // Empty segments: 400
  { raw: 'a//b', status: 400 },
  { raw: '/etc/passwd', status: 400 }, // URL /media//etc/passwd
  { raw: 'a/', status: 400 },
  { raw: '/', status: 400 },
  // Hidden entries: 404, we do not confirm they exist
  { raw: '.env', status: 404 },
  { raw: 'a/.git/config', status: 404 },
  { raw: '%2Ehidden', status: 404 },
  { raw: '%2ehidden/x', status: 404 },
  { raw: '...', status: 404 },
  // Nothing named
  { raw: '', status: 404 },
];

describe('parseMediaPath accepts', () => {
  for (const c of ACCEPTED) {
    it(`${JSON.stringify(c.raw)} -> ${JSON.stringify(c.path)}`, () => {
      assert.deepEqual(parseMediaPath(c.raw), { ok: true, path: c.path });
    });
  }
});

describe('parseMediaPath refuses', () => {
  for (const c of REFUSED) {
    it(`${JSON.stringify(c.raw)} -> ${c.status}`, () => {
      const result = parseMediaPath(c.raw);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.status, c.status);
      assert.ok(result.reason.length > 0, 'a reason is given');
    });
  }
});

describe('parseMediaPathRemembered', () => {
  it('answers every case as parseMediaPath does, asked once and asked again', () => {
    for (const raw of [...ACCEPTED.map((c) => c.raw), ...REFUSED.map((c) => c.raw)]) {
      assert.deepEqual(parseMediaPathRemembered(raw), parseMediaPath(raw), `first ${JSON.stringify(raw)}`);
      assert.deepEqual(parseMediaPathRemembered(raw), parseMediaPath(raw), `again ${JSON.stringify(raw)}`);
    }
  });
  it('stays right after more distinct paths than it keeps, and for paths too long to keep', () => {
    for (let i = 0; i < 3000; i++) assert.deepEqual(parseMediaPathRemembered(`f${i}.mp4`), { ok: true, path: `f${i}.mp4` });
    assert.deepEqual(parseMediaPathRemembered('%2e%2e/x'), parseMediaPath('%2e%2e/x'));
    const long = `${'d/'.repeat(400)}clip.mp4`;
    assert.deepEqual(parseMediaPathRemembered(long), { ok: true, path: long });
    assert.deepEqual(parseMediaPathRemembered(`${long}/..`), parseMediaPath(`${long}/..`));
  });
});

describe('mediaUrl', () => {
  const cases: readonly { rel: string; url: string }[] = [
    { rel: 'video.mp4', url: '/media/video.mp4' },
    { rel: 'nested/deep/clip.webm', url: '/media/nested/deep/clip.webm' },
    { rel: 'my movie.mp4', url: '/media/my%20movie.mp4' },
    { rel: 'a#b?c%d.mp4', url: '/media/a%23b%3Fc%25d.mp4' },
    { rel: 'café/映画.mkv', url: '/media/caf%C3%A9/%E6%98%A0%E7%94%BB.mkv' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.rel)} -> ${c.url}`, () => {
      assert.equal(mediaUrl(c.rel), c.url);
    });
  }

  const roundTrip = [
    'plain.mp4',
    'with space.mp4',
    'folder with space/file name.webm',
    'hash#tag.mp4',
    'question?.mp4',
    'percent%.mp4',
    '100%25 literal.mp4',
    'a+b&c=d;e.mp4',
    "quote's \"double\".mp3",
    'café/naïve/映画 🎬.mkv',
    'trailing.',
  ];
  for (const rel of roundTrip) {
    it(`round-trips ${JSON.stringify(rel)}`, () => {
      const url = mediaUrl(rel);
      assert.ok(url.startsWith('/media/'));
      assert.doesNotMatch(url, /[ #?]/, 'nothing a URL parser would cut at');
      // The URL parser must see the same path the server will hand to parseMediaPath.
      const seen = new URL(url, 'https://localhost').pathname.slice('/media/'.length);
      assert.deepEqual(parseMediaPath(seen), { ok: true, path: rel });
    });
  }
});
