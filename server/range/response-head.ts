// The response head for a range plan (range-plan.ts): status, header fields, and what the body
// is (file ranges and multipart delimiters, for send-body.ts). Pure like the plan: no I/O, no
// clock (the caller passes the second the Date names), so one table of cases checks every kind
// of answer (test/unit/response-head.test.ts). The one exception: a multipart boundary is
// random unless the caller passes one.
//
// This runs for every request, so it stays cheap: the file's validator texts are made once per
// FileInfo and the Date once per second, and the heads are built field by field on one shared
// start, not spread from it: spreads made their shapes vary, and every reader of them slower.

import type { OutgoingHttpHeaders } from 'node:http2';
import type { FileInfo } from '../../storage/storage.ts';
import type { BodySegment } from '../streaming/send-body.ts';
import { layoutMultipart } from './multipart.ts';
import { contentRange } from './range-plan.ts';
import type { ByteRange, RangePlan, Representation } from './range-plan.ts';

/** The Representation a plan is made for, with its Last-Modified as header text. */
export interface FileRepresentation extends Representation {
  /** IMF-fixdate of lastModifiedSec. */
  readonly lastModified: string;
}

/** Shaped as send-body.ts takes a head, so the route hands this object over as it is. */
export interface ResponseHead {
  readonly status: RangePlan['status'];
  readonly headers: OutgoingHttpHeaders;
  /** The body, in order; empty when there is none (HEAD, 304, 412, 416, an empty file). */
  readonly segments: readonly BodySegment[];
}

const NO_BODY: readonly BodySegment[] = Object.freeze([]);

/**
 * Made once per open file (FileInfo objects are shared by every request on one descriptor, and
 * never change): formatting the validators per request was ~2% of the CPU of a 64 KiB range in
 * a profile.
 */
const representations = new WeakMap<FileInfo, FileRepresentation>();

/** The file as a response at `nowSec` describes it. */
export function representationOf(info: FileInfo, nowSec: number): FileRepresentation {
  let rep = representations.get(info);
  if (!rep) {
    const mtimeSec = Math.floor(info.mtimeMs / 1000);
    const lastModified = new Date(mtimeSec * 1000).toUTCString();
    rep = { size: info.size, etag: `"${info.version}"`, lastModifiedSec: mtimeSec, lastModified };
    representations.set(info, rep);
  }
  if (rep.lastModifiedSec <= nowSec) return rep;
  // RFC 9110 8.8.2.1: a Last-Modified later than the response's Date (a file dated in the
  // future) MUST be replaced by the Date; being that recent, it is then weak for If-Range.
  return { size: rep.size, etag: rep.etag, lastModifiedSec: nowSec, lastModified: httpDate(nowSec) };
}

/**
 * Status, fields and body of the answer to `plan` (RFC 9110 15.3.7 and 14.4 for 206, 15.5.17
 * for 416, 15.4.5 for 304). HEAD gets the fields a GET would get, and no body.
 */
export function responseHead(
  plan: RangePlan,
  method: 'GET' | 'HEAD',
  rep: FileRepresentation,
  contentType: string,
  cacheControl: string,
  nowSec: number,
  boundary?: string,
): ResponseHead {
  const date = httpDate(nowSec);
  const isGet = method === 'GET';
  switch (plan.kind) {
    case 'full': {
      const headers = validatorHeaders(rep, cacheControl, date);
      headers['content-type'] = contentType;
      headers['content-length'] = rep.size;
      const segments = isGet && rep.size > 0 ? fileBody(0, rep.size - 1) : NO_BODY;
      return { status: plan.status, headers, segments };
    }
    case 'partial': {
      const { start, end } = plan.range;
      const headers = validatorHeaders(rep, cacheControl, date);
      headers['content-type'] = contentType;
      headers['content-length'] = end - start + 1;
      headers['content-range'] = contentRange(plan.range, rep.size);
      return { status: plan.status, headers, segments: isGet ? fileBody(start, end) : NO_BODY };
    }
    case 'multipart':
      return multipartHead(plan.ranges, isGet, rep, contentType, cacheControl, date, boundary);
    case 'unsatisfiable': {
      // RFC 9110 14.4: an unsatisfied range's Content-Range names the current length.
      const headers = validatorHeaders(rep, cacheControl, date);
      headers['content-range'] = `bytes */${rep.size}`;
      headers['content-length'] = 0;
      return { status: plan.status, headers, segments: NO_BODY };
    }
    case 'not-modified': {
      const headers = { etag: rep.etag, 'last-modified': rep.lastModified, 'cache-control': cacheControl, date };
      return { status: plan.status, headers, segments: NO_BODY };
    }
    case 'precondition-failed':
      return { status: plan.status, headers: { etag: rep.etag, 'content-length': 0, date }, segments: NO_BODY };
  }
}

/** The validators and caching fields every 2xx and 416 answer carries (RFC 9110 8.8, 14.3). */
function validatorHeaders(rep: FileRepresentation, cacheControl: string, date: string): OutgoingHttpHeaders {
  return { etag: rep.etag, 'last-modified': rep.lastModified, 'cache-control': cacheControl, 'accept-ranges': 'bytes', date };
}

function fileBody(start: number, end: number): BodySegment[] {
  return [{ kind: 'file', start, end }];
}

/** 206 multipart/byteranges (RFC 9110 14.6): each range after its part's delimiter and fields. */
function multipartHead(
  ranges: readonly ByteRange[],
  isGet: boolean,
  rep: FileRepresentation,
  partType: string,
  cacheControl: string,
  date: string,
  boundary: string | undefined,
): ResponseHead {
  const layout = layoutMultipart(ranges, rep.size, partType, boundary);
  const headers = validatorHeaders(rep, cacheControl, date);
  headers['content-type'] = layout.contentType;
  headers['content-length'] = layout.contentLength;
  if (!isGet) return { status: 206, headers, segments: NO_BODY };
  const segments: BodySegment[] = [];
  for (const part of layout.parts) {
    segments.push({ kind: 'literal', bytes: part.preamble }, { kind: 'file', start: part.range.start, end: part.range.end });
  }
  segments.push({ kind: 'literal', bytes: layout.epilogue });
  return { status: 206, headers, segments };
}

let dateCache = { sec: -1, text: '' };

/** IMF-fixdate for a second, formatted once per second. */
function httpDate(sec: number): string {
  if (dateCache.sec !== sec) dateCache = { sec, text: new Date(sec * 1000).toUTCString() };
  return dateCache.text;
}
