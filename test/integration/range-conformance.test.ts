// Range conformance (RFC 9110 13 and 14) as one table of cases, each run over HTTP/2 over TLS,
// HTTP/2 cleartext and HTTP/1.1 over TLS against one real server. Bodies are checked byte for
// byte against the offset-encoded fixtures, and after every case every slab and descriptor
// must be back. The range policy under test is written down in server/range/range-plan.ts.

import assert from 'node:assert/strict';
import { rm, utimes, writeFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http2';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mime from 'mime-types';
import type { LibraryEntry } from '../../server/routes/library.ts';
import {
  addHugeSparseFile, expectedBytes, firstMismatch, HUGE_OFFSET, HUGE_SALT, HUGE_SIZE, makeFixtureLibrary,
} from '../support/fixtures.ts';
import { connectHttp1 } from '../support/http1-client.ts';
import { assertNoLeaks, connectH2, h2Request, startTestServer } from '../support/server-harness.ts';
import type { FetchResult, TestServer } from '../support/server-harness.ts';

// --- fixtures: the standard library, a sparse 5 GiB file, one small file per media type ---

/** Types asserted literally; the other extensions take whatever mime-types says. */
const EXPLICIT_TYPES: Readonly<Record<string, string>> = {
  mp4: 'video/mp4',
  webm: 'video/webm',
  ts: 'video/mp2t',
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  vtt: 'text/vtt; charset=utf-8',
};
const TYPE_EXTENSIONS = ['mp4', 'm4v', 'webm', 'mkv', 'mov', 'm4s', 'mpd', 'm3u8', 'ts', 'mp3', 'm4a', 'aac', 'ogg', 'opus', 'flac', 'vtt', 'srt'];
const SAMPLE_BYTES = 64;
const SAMPLE_SALT = 0x55;
const CACHE_CONTROL = 'public, max-age=300'; // the CACHE_CONTROL default
const MiB = 1024 * 1024;

/** small.txt's mtime: old enough that its Last-Modified is a strong validator (RFC 9110 8.8.2.2). */
const SMALL_LAST_MODIFIED = 'Wed, 01 Jan 2020 00:00:00 GMT';
/** future.mp4 is dated ahead of the clock (a camera with a wrong clock, a copy from a skewed host). */
const FUTURE_MTIME = new Date(Date.now() + 10 * 24 * 3600 * 1000);

const library = await makeFixtureLibrary();
await addHugeSparseFile(library.root);
for (const ext of TYPE_EXTENSIONS) await writeFile(path.join(library.root, `sample.${ext}`), expectedBytes(0, SAMPLE_BYTES, SAMPLE_SALT));
await utimes(path.join(library.root, 'small.txt'), new Date(SMALL_LAST_MODIFIED), new Date(SMALL_LAST_MODIFIED));
await writeFile(path.join(library.root, 'future.mp4'), expectedBytes(0, SAMPLE_BYTES, SAMPLE_SALT));
await utimes(path.join(library.root, 'future.mp4'), FUTURE_MTIME, FUTURE_MTIME);

interface MediaFixture {
  readonly name: string;
  readonly size: number;
  readonly salt: number;
  readonly type: string;
}

const FILES = new Map<string, MediaFixture>();
const addFile = (name: string, size: number, salt: number): void => {
  const ext = name.slice(name.lastIndexOf('.') + 1);
  FILES.set(name, { name, size, salt, type: EXPLICIT_TYPES[ext] ?? (mime.contentType(name) || 'application/octet-stream') });
};
for (const [name, { size, salt }] of library.files) addFile(name, size, salt);
addFile('huge.bin', HUGE_SIZE, HUGE_SALT);
for (const ext of TYPE_EXTENSIONS) addFile(`sample.${ext}`, SAMPLE_BYTES, SAMPLE_SALT);

const file = (name: string): MediaFixture => FILES.get(name) ?? assert.fail(`no fixture ${name}`);
const SMALL = file('small.txt');
const HUGE = file('huge.bin');
/** Not in FILES: its Last-Modified follows the clock, so it has no fixed validators. */
const FUTURE: MediaFixture = { name: 'future.mp4', size: SAMPLE_BYTES, salt: SAMPLE_SALT, type: 'video/mp4' };

// --- the case table's vocabulary ---

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
type Headers = Readonly<Record<string, string>>;

interface Validators {
  readonly etag: string;
  readonly lastModified: string;
}
/** Current validators of a fixture, fetched once the server runs. */
type CurrentValidators = (name: string) => Validators;

interface Case {
  readonly name: string;
  readonly method?: Method;
  /** Sent as is: neither client normalises "..". */
  readonly path: string;
  readonly headers?: Headers | ((current: CurrentValidators) => Headers);
  readonly expect: Expectation;
}

interface Expectation {
  readonly status: number | readonly number[];
  /** Exact values; null means the header must be absent. */
  readonly headers?: Readonly<Record<string, string | null>>;
  /** The response carries this file's strong ETag, Last-Modified and Cache-Control. */
  readonly validatorsOf?: string;
  readonly body: BodyExpectation;
}

type BodyExpectation =
  | { readonly kind: 'bytes'; readonly file: MediaFixture; readonly start: number; readonly length: number }
  | { readonly kind: 'multipart'; readonly file: MediaFixture; readonly ranges: readonly (readonly [number, number])[] }
  | { readonly kind: 'empty' }
  | { readonly kind: 'refusal' }
  | { readonly kind: 'json'; readonly check: (value: unknown, current: CurrentValidators) => void }
  | { readonly kind: 'text'; readonly includes: readonly string[] };

const mediaPath = (f: MediaFixture): string => `/media/${f.name}`;

function full(f: MediaFixture): Expectation {
  return {
    status: 200,
    headers: { 'content-type': f.type, 'content-length': String(f.size), 'accept-ranges': 'bytes', 'content-range': null },
    validatorsOf: f.name,
    body: f.size === 0 ? { kind: 'empty' } : { kind: 'bytes', file: f, start: 0, length: f.size },
  };
}

function partial(f: MediaFixture, first: number, last: number): Expectation {
  return {
    status: 206,
    headers: {
      'content-type': f.type,
      'content-length': String(last - first + 1),
      'content-range': `bytes ${first}-${last}/${f.size}`,
      'accept-ranges': 'bytes',
    },
    validatorsOf: f.name,
    body: { kind: 'bytes', file: f, start: first, length: last - first + 1 },
  };
}

function multipart(f: MediaFixture, ranges: readonly (readonly [number, number])[]): Expectation {
  return { status: 206, headers: { 'content-range': null, 'accept-ranges': 'bytes' }, validatorsOf: f.name, body: { kind: 'multipart', file: f, ranges } };
}

function unsatisfiable(f: MediaFixture): Expectation {
  return { status: 416, headers: { 'content-range': `bytes */${f.size}`, 'content-length': '0' }, body: { kind: 'empty' } };
}

function notModified(f: MediaFixture): Expectation {
  return { status: 304, headers: { 'content-range': null }, validatorsOf: f.name, body: { kind: 'empty' } };
}

const preconditionFailed: Expectation = { status: 412, headers: { 'content-length': '0' }, body: { kind: 'empty' } };

/** What HEAD gets: the GET's status and headers, no body (RFC 9110 9.3.2). */
function headOf(e: Expectation): Expectation {
  return { ...e, body: { kind: 'empty' } };
}

function refused(status: number | readonly number[], headers: Headers = {}): Expectation {
  return { status, headers, body: { kind: 'refusal' } };
}

const get = (name: string, f: MediaFixture, range: string | undefined, expect: Expectation): Case => ({
  name,
  path: mediaPath(f),
  ...(range === undefined ? {} : { headers: { range } }),
  expect,
});

// --- the table ---

const rangeList = (count: number): string => `bytes=${Array.from({ length: count }, (_, i) => `${i * 10}-${i * 10}`).join(',')}`;
const OLD_DATE = 'Sat, 01 Jan 2000 00:00:00 GMT';

const RANGE_CASES: Case[] = [
  get('200 full', SMALL, undefined, full(SMALL)),
  get('single range first-last', SMALL, 'bytes=100-199', partial(SMALL, 100, 199)),
  get('first byte only', SMALL, 'bytes=0-0', partial(SMALL, 0, 0)),
  get('open-ended range', SMALL, 'bytes=900-', partial(SMALL, 900, 999)),
  get('suffix range', SMALL, 'bytes=-100', partial(SMALL, 900, 999)),
  get('suffix longer than file', SMALL, 'bytes=-5000', partial(SMALL, 0, 999)),
  get('last-pos clamped to the size', SMALL, 'bytes=500-99999', partial(SMALL, 500, 999)),
  get('start at the size: 416', SMALL, 'bytes=1000-1100', unsatisfiable(SMALL)),
  get('start beyond the size: 416', SMALL, 'bytes=5000-', unsatisfiable(SMALL)),
  get('two disjoint ranges: multipart', SMALL, 'bytes=0-9,500-599', multipart(SMALL, [[0, 9], [500, 599]])),
  get('three disjoint ranges: multipart', SMALL, 'bytes=0-0,100-199,-10', multipart(SMALL, [[0, 0], [100, 199], [990, 999]])),
  get('exactly 16 ranges: multipart', SMALL, rangeList(16), multipart(SMALL, Array.from({ length: 16 }, (_, i) => [i * 10, i * 10] as const))),
  get('overlapping ranges coalesced into one 206', SMALL, 'bytes=0-99,50-149', partial(SMALL, 0, 149)),
  get('adjacent ranges coalesced into one 206', SMALL, 'bytes=100-199,200-299', partial(SMALL, 100, 299)),
  get('more than 16 ranges: 200 full', SMALL, rangeList(17), full(SMALL)),
  get('unknown unit: 200 full', SMALL, 'items=0-9', full(SMALL)),
  get('malformed range: 200 full', SMALL, 'bytes=abc', full(SMALL)),
  get('malformed range list: 200 full', SMALL, 'bytes=0-9,', full(SMALL)),
  get('invalid range-spec (last before first): 200 full', SMALL, 'bytes=5-1', full(SMALL)),
  get('empty file with Range: 200 empty', file('empty.mp4'), 'bytes=0-9', full(file('empty.mp4'))),
  get('range above 4 GiB', HUGE, `bytes=${HUGE_OFFSET}-${HUGE_OFFSET + MiB - 1}`, partial(HUGE, HUGE_OFFSET, HUGE_OFFSET + MiB - 1)),
  get('suffix range of a file above 4 GiB', HUGE, 'bytes=-4096', partial(HUGE, HUGE_SIZE - 4096, HUGE_SIZE - 1)),
  { name: 'HEAD of a file above 4 GiB', method: 'HEAD', path: mediaPath(HUGE), expect: headOf(full(HUGE)) },
  { name: 'HEAD without Range', method: 'HEAD', path: mediaPath(SMALL), expect: headOf(full(SMALL)) },
  { name: 'HEAD with Range', method: 'HEAD', path: mediaPath(SMALL), headers: { range: 'bytes=10-19' }, expect: headOf(partial(SMALL, 10, 19)) },
  get('nested folder: full', file('nested/deep/clip.webm'), undefined, full(file('nested/deep/clip.webm'))),
  get('nested folder: range', file('nested/deep/clip.webm'), 'bytes=700000-', partial(file('nested/deep/clip.webm'), 700_000, 777_776)),
  get('symlink inside the root serves its target', file('alias.mp4'), undefined, full(file('alias.mp4'))),
  get('symlink inside the root: range', file('alias.mp4'), 'bytes=-7', partial(file('alias.mp4'), 3 * MiB, 3 * MiB + 6)),
  // The Last-Modified <= Date check every response gets is the point here (RFC 9110 8.8.2.1).
  get('file dated in the future', FUTURE, 'bytes=0-9', { ...partial(FUTURE, 0, 9), validatorsOf: undefined }),
];

const withSmall = (name: string, headers: (v: Validators) => Headers, expect: Expectation): Case => ({
  name,
  path: mediaPath(SMALL),
  headers: (current) => headers(current(SMALL.name)),
  expect,
});

const CONDITIONAL_CASES: Case[] = [
  withSmall('If-Range current ETag: 206', (v) => ({ range: 'bytes=0-99', 'if-range': v.etag }), partial(SMALL, 0, 99)),
  withSmall('If-Range other strong ETag: 200 full', () => ({ range: 'bytes=0-99', 'if-range': '"not-the-current-etag"' }), full(SMALL)),
  withSmall('If-Range weak ETag: 200 full', (v) => ({ range: 'bytes=0-99', 'if-range': `W/${v.etag}` }), full(SMALL)),
  withSmall('If-Range exact Last-Modified: 206', (v) => ({ range: 'bytes=0-99', 'if-range': v.lastModified }), partial(SMALL, 0, 99)),
  withSmall('If-Range a second after Last-Modified: 200 full', () => ({ range: 'bytes=0-99', 'if-range': 'Wed, 01 Jan 2020 00:00:01 GMT' }), full(SMALL)),
  withSmall('If-Range older date: 200 full', () => ({ range: 'bytes=0-99', 'if-range': OLD_DATE }), full(SMALL)),
  withSmall('If-None-Match current ETag: 304', (v) => ({ 'if-none-match': v.etag }), notModified(SMALL)),
  withSmall('If-None-Match weak current ETag: 304', (v) => ({ 'if-none-match': `W/${v.etag}`, range: 'bytes=0-9' }), notModified(SMALL)),
  withSmall('If-None-Match other ETag: 200 full', () => ({ 'if-none-match': '"other"' }), full(SMALL)),
  withSmall('If-Modified-Since Last-Modified: 304', (v) => ({ 'if-modified-since': v.lastModified }), notModified(SMALL)),
  withSmall('If-Match other ETag: 412', () => ({ 'if-match': '"other"', range: 'bytes=0-9' }), preconditionFailed),
  withSmall('If-Match current ETag with Range: 206', (v) => ({ 'if-match': v.etag, range: 'bytes=0-9' }), partial(SMALL, 0, 9)),
  withSmall('If-Unmodified-Since an old date: 412', () => ({ 'if-unmodified-since': OLD_DATE }), preconditionFailed),
];

const TYPE_CASES: Case[] = TYPE_EXTENSIONS.map((ext) => get(`Content-Type of .${ext}`, file(`sample.${ext}`), undefined, full(file(`sample.${ext}`))));

const refusal = (name: string, rawPath: string, status: number | readonly number[]): Case => ({ name, path: rawPath, expect: refused(status) });

const REFUSAL_CASES: Case[] = [
  refusal('raw ../ traversal', '/media/../outside.mp4', [400, 403]),
  refusal('raw ../../ traversal from a folder', '/media/nested/../../outside.mp4', [400, 403]),
  refusal('%2e%2e traversal: 403', '/media/%2e%2e/outside.mp4', 403),
  refusal('..%2F traversal: 400', '/media/..%2Foutside.mp4', 400),
  refusal('%00 in the path: 400', '/media/small.txt%00', 400),
  refusal('backslash traversal: 400', '/media/..%5Coutside.mp4', 400),
  refusal('empty segment (absolute path): 400', '/media//etc/passwd', 400),
  refusal('hidden file: 404', '/media/.hidden.mp4', 404),
  refusal('file in a hidden folder: 404', '/media/.private/inside.mp4', 404),
  refusal('symlink escaping the root: 403', '/media/escape.mp4', 403),
  refusal('symlinked folder escaping the root: 403', '/media/escape-dir/outside.mp4', 403),
  refusal('missing file: 404', '/media/missing.mp4', 404),
  refusal('a folder: 404', '/media/nested', 404),
  { name: 'POST: 405', method: 'POST', path: mediaPath(SMALL), expect: refused(405, { allow: 'GET, HEAD' }) },
  // This server has no UPLOAD_TOKEN: writes are refused (uploads.test.ts covers them on).
  ...(['PUT', 'DELETE'] as const).map((method): Case => ({
    name: `${method} with uploads off: 403`,
    method,
    path: mediaPath(SMALL),
    expect: refused(403),
  })),
];

const API_CASES: Case[] = [
  { name: 'GET /api/media lists the library', path: '/api/media', expect: { status: 200, body: { kind: 'json', check: checkListing } } },
  {
    name: 'GET /healthz',
    path: '/healthz',
    expect: { status: 200, body: { kind: 'json', check: (value) => assert.equal((value as { status: unknown }).status, 'ok') } },
  },
  { name: 'GET /metrics', path: '/metrics', expect: { status: 200, body: { kind: 'text', includes: ['media_pool_slabs_in_use', 'media_responses_total'] } } },
];

const CASES: readonly Case[] = [...RANGE_CASES, ...CONDITIONAL_CASES, ...TYPE_CASES, ...REFUSAL_CASES, ...API_CASES];

function checkListing(value: unknown, current: CurrentValidators): void {
  const entries = (value as { files: LibraryEntry[] }).files;
  const byName = new Map(entries.map((e) => [e.name, e]));
  // Exactly the servable files: no hidden entries, no symlink that leads out of the root.
  assert.deepEqual([...byName.keys()].sort(), [...FILES.keys(), FUTURE.name].sort());
  for (const f of FILES.values()) {
    const entry = byName.get(f.name)!;
    assert.deepEqual(Object.keys(entry).sort(), ['etag', 'mtime', 'name', 'size', 'type', 'url']);
    assert.equal(entry.url, `/media/${f.name}`);
    assert.equal(entry.size, f.size, `${f.name} size`);
    assert.equal(entry.type, mime.lookup(f.name) || 'application/octet-stream', `${f.name} type`);
    assert.equal(entry.etag, current(f.name).etag, `${f.name} etag`);
    assert.equal(new Date(entry.mtime).toISOString(), entry.mtime, `${f.name} mtime is ISO 8601`);
    assert.equal(Math.floor(Date.parse(entry.mtime) / 1000) * 1000, Date.parse(current(f.name).lastModified), `${f.name} mtime`);
  }
  assert.equal(byName.get('nested/deep/clip.webm')?.url, '/media/nested/deep/clip.webm');
}

// --- checking one response ---

function checkResponse(res: FetchResult, method: Method, e: Expectation, current: CurrentValidators): void {
  const statuses = typeof e.status === 'number' ? [e.status] : e.status;
  assert.ok(statuses.includes(res.status), `status ${res.status}, want ${statuses.join(' or ')}; ${JSON.stringify(res.headers)}`);
  for (const [name, want] of Object.entries(e.headers ?? {})) {
    const got = res.headers[name];
    assert.equal(got === undefined ? null : String(got), want, `header ${name}`);
  }
  const lastModified = res.headers['last-modified'];
  if (lastModified !== undefined) {
    // RFC 9110 8.8.2.1: an origin server MUST NOT send a Last-Modified later than its Date.
    assert.ok(Date.parse(String(lastModified)) <= Date.parse(String(res.headers.date)), `last-modified ${lastModified} after date ${res.headers.date}`);
  }
  if (e.validatorsOf !== undefined) {
    const { etag, lastModified } = current(e.validatorsOf);
    assert.equal(res.headers.etag, etag, 'etag');
    assert.equal(res.headers['last-modified'], lastModified, 'last-modified');
    assert.equal(res.headers['cache-control'], CACHE_CONTROL, 'cache-control');
  }
  const contentLength = res.headers['content-length'];
  if (method !== 'HEAD' && contentLength !== undefined) assert.equal(Number(contentLength), res.body.length, 'content-length is the body length');
  checkBody(res, e.body, current);
}

function checkBody(res: FetchResult, body: BodyExpectation, current: CurrentValidators): void {
  const type = String(res.headers['content-type'] ?? '');
  switch (body.kind) {
    case 'bytes':
      return assertFileBytes(res.body, body.file, body.start, body.length);
    case 'multipart': {
      const parts = parseByteranges(type, res.body);
      assert.equal(parts.length, body.ranges.length, 'number of parts');
      body.ranges.forEach(([first, last], i) => {
        assert.equal(parts[i].headers['content-type'], body.file.type, `part ${i} content-type`);
        assert.equal(parts[i].headers['content-range'], `bytes ${first}-${last}/${body.file.size}`, `part ${i} content-range`);
        assertFileBytes(parts[i].bytes, body.file, first, last - first + 1);
      });
      return;
    }
    case 'empty':
      return assert.equal(res.body.length, 0, 'no body');
    case 'refusal': {
      const text = res.body.toString('latin1');
      assert.ok(!text.includes('secret') && !text.includes('outside the root'), `refusal leaked file bytes: ${text}`);
      assert.match(type, /^application\/json/);
      assert.equal(typeof (JSON.parse(text) as { error: unknown }).error, 'string', 'error code');
      return;
    }
    case 'json':
      assert.match(type, /^application\/json/);
      return body.check(JSON.parse(res.body.toString('utf8')), current);
    case 'text': {
      assert.match(type, /^text\/plain/);
      const text = res.body.toString('utf8');
      for (const needle of body.includes) assert.ok(text.includes(needle), `body contains ${needle}`);
      return;
    }
  }
}

function assertFileBytes(received: Buffer, f: MediaFixture, start: number, length: number): void {
  assert.equal(received.length, length, `${f.name}: body length`);
  const at = firstMismatch(received, start, f.salt);
  assert.equal(at, -1, `${f.name}: wrong byte at offset ${start + at}`);
}

interface BodyPart {
  readonly headers: Readonly<Record<string, string>>;
  readonly bytes: Buffer;
}

/** Splits a multipart/byteranges body (RFC 9110 14.6, RFC 2046 5.1.1) into its parts. */
function parseByteranges(contentType: string, body: Buffer): BodyPart[] {
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/i.exec(contentType);
  assert.ok(m, `content-type ${contentType} is multipart/byteranges with a boundary`);
  const delimiter = Buffer.from(`--${m[2]}`, 'latin1');
  const nextDelimiter = Buffer.concat([Buffer.from('\r\n'), delimiter]);
  const parts: BodyPart[] = [];
  let at = body.indexOf(delimiter);
  assert.equal(at, 0, 'the body starts with the first delimiter');
  for (;;) {
    at += delimiter.length;
    const lineEnd = body.subarray(at, at + 2).toString('latin1');
    if (lineEnd === '--') break;
    assert.equal(lineEnd, '\r\n', 'delimiter line ends in CRLF');
    const headEnd = body.indexOf('\r\n\r\n', at);
    assert.ok(headEnd >= 0, 'part headers end');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(at + 2, headEnd).toString('latin1').split('\r\n').filter(Boolean)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const end = body.indexOf(nextDelimiter, headEnd + 4);
    assert.ok(end >= 0, 'every part is followed by a delimiter');
    parts.push({ headers, bytes: body.subarray(headEnd + 4, end) });
    at = end + 2;
  }
  assert.equal(body.subarray(at + 2).toString('latin1'), '\r\n', 'close delimiter ends the body');
  return parts;
}

// --- transports: the one place that knows how a request is sent ---

const TRANSPORTS = ['h2-tls', 'h2c', 'h1-tls'] as const;
/** A response that never comes fails its case instead of hanging the file. */
const CASE_TIMEOUT_MS = 10_000;
type TransportName = (typeof TRANSPORTS)[number];

interface Transport {
  request(method: Method, rawPath: string, headers: Headers): Promise<FetchResult>;
  /** Every request so far went over the one connection opened first (keep-alive, one session). */
  isOnFirstConnection(): boolean;
  close(): void;
}

function openTransport(name: TransportName, server: TestServer): Transport {
  if (name === 'h1-tls') {
    const http1 = connectHttp1(server);
    return {
      request: (method, rawPath, headers) => http1.request(method, rawPath, headers),
      isOnFirstConnection: () => http1.connectionsOpened === 1,
      close: () => http1.close(),
    };
  }
  const session = connectH2(server, name === 'h2-tls' ? 'tls' : 'h2c');
  return {
    // :path is sent exactly as written, ".." included.
    request: (method, rawPath, headers) => h2Request(session, { ':method': method, ':path': rawPath, ...headers } satisfies OutgoingHttpHeaders),
    isOnFirstConnection: () => !session.closed && !session.destroyed,
    close: () => session.close(),
  };
}

// --- the run: one server, every case over every transport ---

let server: TestServer;
const validators = new Map<string, Validators>();
const current: CurrentValidators = (name) => validators.get(name) ?? assert.fail(`no validators for ${name}`);

// The validators come from a one-byte GET (not HEAD), so a HEAD bug fails only the HEAD cases.
before(async () => {
  server = await startTestServer(library.root);
  const probe = openTransport('h2-tls', server);
  try {
    for (const f of FILES.values()) {
      const res = await probe.request('GET', mediaPath(f), { range: 'bytes=0-0' });
      assert.equal(res.status, f.size === 0 ? 200 : 206, `GET ${f.name}`);
      const etag = String(res.headers.etag);
      const lastModified = String(res.headers['last-modified']);
      assert.match(etag, /^"[^"]+"$/, `${f.name}: a strong ETag (quoted, no W/)`);
      assert.equal(new Date(lastModified).toUTCString(), lastModified, `${f.name}: Last-Modified is an IMF-fixdate`);
      validators.set(f.name, { etag, lastModified });
    }
    assert.equal(current(SMALL.name).lastModified, SMALL_LAST_MODIFIED);
  } finally {
    probe.close();
  }
}, { timeout: CASE_TIMEOUT_MS });

after(async () => {
  await server?.close(0);
  await rm(path.dirname(library.root), { recursive: true, force: true });
});

for (const name of TRANSPORTS) {
  describe(name, () => {
    let transport: Transport;
    before(() => {
      transport = openTransport(name, server);
    });
    after(() => transport.close());
    afterEach(() => assertNoLeaks(server));

    for (const c of CASES) {
      it(`${name}: ${c.name}`, { timeout: CASE_TIMEOUT_MS }, async () => {
        const method = c.method ?? 'GET';
        const headers = typeof c.headers === 'function' ? c.headers(current) : (c.headers ?? {});
        const res = await transport.request(method, c.path, headers);
        checkResponse(res, method, c.expect, current);
      });
    }

    it(`${name}: one connection carried every case`, () => {
      assert.ok(transport.isOnFirstConnection());
    });
  });
}
