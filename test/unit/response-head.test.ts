// responseHead as a table: request headers and a file in, the plan (range-plan.ts) made for
// them, then the exact status, header fields in wire order, and body segments out
// (RFC 9110 section 13 for the conditionals, section 14 for ranges, 15 for the statuses).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { planRange } from '../../server/range/range-plan.ts';
import type { ConditionalHeaders } from '../../server/range/range-plan.ts';
import { representationOf, responseHead } from '../../server/range/response-head.ts';
import type { ResponseHead } from '../../server/range/response-head.ts';
import type { FileInfo } from '../../storage/storage.ts';

const NOW_SEC = 1_700_000_100;
const DATE = 'Tue, 14 Nov 2023 22:15:00 GMT';
const LAST_MODIFIED = 'Tue, 14 Nov 2023 22:13:20 GMT';
const EARLIER = 'Tue, 14 Nov 2023 22:13:19 GMT';
const ETAG = '"v1"';
const TYPE = 'video/mp4';
const CACHE = 'public, max-age=60';
const BOUNDARY = 'B0UNDARY';

/** 1000 bytes, last modified 100 s before the response's Date (so Last-Modified is strong). */
const FILE: FileInfo = { path: 'clip.mp4', size: 1000, mtimeMs: 1_700_000_000_500, version: 'v1' };
const EMPTY: FileInfo = { path: 'empty.mp4', size: 0, mtimeMs: 1_700_000_000_500, version: 'v1' };
/** Dated 1000 s after the response's Date. */
const FUTURE: FileInfo = { path: 'future.mp4', size: 1000, mtimeMs: (NOW_SEC + 1000) * 1000, version: 'v1' };

type Field = readonly [string, string | number];

const VALIDATORS: readonly Field[] = [
  ['etag', ETAG],
  ['last-modified', LAST_MODIFIED],
  ['cache-control', CACHE],
  ['accept-ranges', 'bytes'],
  ['date', DATE],
];

function whole(size: number): Field[] {
  return [...VALIDATORS, ['content-type', TYPE], ['content-length', size]];
}

function part(start: number, end: number): Field[] {
  return [...VALIDATORS, ['content-type', TYPE], ['content-length', end - start + 1], ['content-range', `bytes ${start}-${end}/1000`]];
}

const MULTIPART: Field[] = [...VALIDATORS, ['content-type', `multipart/byteranges; boundary=${BOUNDARY}`], ['content-length', 182]];
const MULTIPART_BODY = [
  `--${BOUNDARY}\r\nContent-Type: ${TYPE}\r\nContent-Range: bytes 0-9/1000\r\n\r\n`,
  'file 0-9',
  `\r\n--${BOUNDARY}\r\nContent-Type: ${TYPE}\r\nContent-Range: bytes 100-109/1000\r\n\r\n`,
  'file 100-109',
  `\r\n--${BOUNDARY}--\r\n`,
];

const NOT_MODIFIED: Field[] = [
  ['etag', ETAG],
  ['last-modified', LAST_MODIFIED],
  ['cache-control', CACHE],
  ['date', DATE],
];
const PRECONDITION_FAILED: Field[] = [
  ['etag', ETAG],
  ['content-length', 0],
  ['date', DATE],
];

interface Case {
  readonly name: string;
  readonly method?: 'GET' | 'HEAD';
  readonly request: ConditionalHeaders;
  readonly file?: FileInfo;
  readonly status: number;
  readonly headers: readonly Field[];
  /** Literal segments as their text, file segments as "file first-last". */
  readonly body: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'whole file', request: {}, status: 200, headers: whole(1000), body: ['file 0-999'] },
  { name: 'single range', request: { range: 'bytes=100-199' }, status: 206, headers: part(100, 199), body: ['file 100-199'] },
  { name: 'suffix range', request: { range: 'bytes=-100' }, status: 206, headers: part(900, 999), body: ['file 900-999'] },
  { name: 'open-ended range', request: { range: 'bytes=990-' }, status: 206, headers: part(990, 999), body: ['file 990-999'] },
  { name: 'range past the end, clamped', request: { range: 'bytes=900-5000' }, status: 206, headers: part(900, 999), body: ['file 900-999'] },
  { name: 'two ranges: multipart', request: { range: 'bytes=0-9,100-109' }, status: 206, headers: MULTIPART, body: MULTIPART_BODY },
  { name: 'overlapping ranges coalesce into one', request: { range: 'bytes=0-9,5-19' }, status: 206, headers: part(0, 19), body: ['file 0-19'] },
  {
    name: 'unsatisfiable range: 416 with bytes */size',
    request: { range: 'bytes=1000-' },
    status: 416,
    headers: [...VALIDATORS, ['content-range', 'bytes */1000'], ['content-length', 0]],
    body: [],
  },
  { name: 'the fields of a GET, no body', method: 'HEAD', request: {}, status: 200, headers: whole(1000), body: [] },
  { name: 'a range: its fields, no body', method: 'HEAD', request: { range: 'bytes=100-199' }, status: 206, headers: part(100, 199), body: [] },
  { name: 'a multipart range: its fields, no body', method: 'HEAD', request: { range: 'bytes=0-9,100-109' }, status: 206, headers: MULTIPART, body: [] },
  { name: 'empty file ignores Range', request: { range: 'bytes=0-' }, file: EMPTY, status: 200, headers: whole(0), body: [] },
  { name: 'If-None-Match matching: 304', request: { ifNoneMatch: ETAG, range: 'bytes=0-9' }, status: 304, headers: NOT_MODIFIED, body: [] },
  { name: 'If-None-Match weakly matching: 304', request: { ifNoneMatch: `"x", W/${ETAG}` }, status: 304, headers: NOT_MODIFIED, body: [] },
  { name: 'If-None-Match not matching: 200', request: { ifNoneMatch: '"old"' }, status: 200, headers: whole(1000), body: ['file 0-999'] },
  { name: 'If-Modified-Since at Last-Modified: 304', request: { ifModifiedSince: LAST_MODIFIED }, status: 304, headers: NOT_MODIFIED, body: [] },
  { name: 'If-Range ETag matching: 206', request: { range: 'bytes=0-9', ifRange: ETAG }, status: 206, headers: part(0, 9), body: ['file 0-9'] },
  { name: 'If-Range ETag mismatch: 200 full', request: { range: 'bytes=0-9', ifRange: '"old"' }, status: 200, headers: whole(1000), body: ['file 0-999'] },
  { name: 'If-Range date matching: 206', request: { range: 'bytes=0-9', ifRange: LAST_MODIFIED }, status: 206, headers: part(0, 9), body: ['file 0-9'] },
  { name: 'If-Range date mismatch: 200 full', request: { range: 'bytes=0-9', ifRange: EARLIER }, status: 200, headers: whole(1000), body: ['file 0-999'] },
  { name: 'If-Match mismatch: 412', request: { ifMatch: '"old"', range: 'bytes=0-9' }, status: 412, headers: PRECONDITION_FAILED, body: [] },
  { name: 'If-Match matching: the range', request: { ifMatch: ETAG, range: 'bytes=0-9' }, status: 206, headers: part(0, 9), body: ['file 0-9'] },
  { name: 'If-Unmodified-Since before Last-Modified: 412', request: { ifUnmodifiedSince: EARLIER }, status: 412, headers: PRECONDITION_FAILED, body: [] },
  {
    name: 'file dated in the future: Last-Modified is the Date, too recent for If-Range',
    request: { range: 'bytes=0-9', ifRange: DATE },
    file: FUTURE,
    status: 200,
    headers: [['etag', ETAG], ['last-modified', DATE], ...whole(1000).slice(2)],
    body: ['file 0-999'],
  },
];

function headFor(c: Case): ResponseHead {
  const method = c.method ?? 'GET';
  const rep = representationOf(c.file ?? FILE, NOW_SEC);
  const plan = planRange(method, c.request, rep, { maxRangeParts: 4, nowSec: NOW_SEC });
  return responseHead(plan, method, rep, TYPE, CACHE, NOW_SEC, BOUNDARY);
}

function bodyOf(head: ResponseHead): string[] {
  return head.segments.map((s) => (s.kind === 'file' ? `file ${s.start}-${s.end}` : s.bytes.toString('latin1')));
}

describe('responseHead', () => {
  for (const c of CASES) {
    it(`${c.method ?? 'GET'}: ${c.name}`, () => {
      const head = headFor(c);
      assert.equal(head.status, c.status);
      assert.deepEqual(Object.entries(head.headers), c.headers, 'fields and their order');
      assert.deepEqual(bodyOf(head), c.body);
    });
  }

  it('a multipart Content-Length counts exactly the bytes of its body', () => {
    const head = headFor(CASES.find((c) => c.name === 'two ranges: multipart')!);
    let bytes = 0;
    for (const s of head.segments) bytes += s.kind === 'file' ? s.end - s.start + 1 : s.bytes.length;
    assert.equal(head.headers['content-length'], bytes);
  });

  it('without a given boundary, a random one, the same in the Content-Type and the delimiters', () => {
    const rep = representationOf(FILE, NOW_SEC);
    const plan = planRange('GET', { range: 'bytes=0-9,100-109' }, rep, { maxRangeParts: 4, nowSec: NOW_SEC });
    const head = responseHead(plan, 'GET', rep, TYPE, CACHE, NOW_SEC);
    const boundary = /^multipart\/byteranges; boundary=([0-9a-f]{24})$/.exec(String(head.headers['content-type']))?.[1];
    assert.ok(boundary, String(head.headers['content-type']));
    assert.ok(bodyOf(head)[0]!.startsWith(`--${boundary}\r\n`));
  });

  it('makes the representation once per file, and caps a future Last-Modified per response', () => {
    assert.equal(representationOf(FILE, NOW_SEC), representationOf(FILE, NOW_SEC + 1));
    assert.deepEqual(representationOf(FUTURE, NOW_SEC), { size: 1000, etag: ETAG, lastModifiedSec: NOW_SEC, lastModified: DATE });
  });
});
