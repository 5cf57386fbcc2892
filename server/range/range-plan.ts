// Decides which bytes a GET or HEAD for a file gets: a pure function of the request's
// headers and the file's validators, no I/O (RFC 9110 section 13 and section 14).
//
// Policy, written down because RFC 9110 leaves it to the server:
// - A malformed Range header, one with an invalid range-spec ("bytes=5-3", RFC 9110 14.1.1),
//   or one with a unit other than "bytes", is ignored: 200 full (RFC 9110 14.2 lets a server
//   ignore an invalid ranges-specifier; 416 is kept for well-formed but unsatisfiable ones).
// - Dates in conditionals must be HTTP-dates (RFC 9110 5.6.7); anything else is ignored.
// - If-Range with a date honours the range only if Last-Modified is a strong validator: the
//   file was last modified at least one second before now (RFC 9110 8.8.2.2, 13.1.5).
// - A zero-length file ignores Range (there is no byte to select): 200 with an empty body.
// - A suffix range longer than the file selects the whole file (RFC 9110 14.1.3).
// - Overlapping and adjacent ranges are coalesced. A coalesced single range is a plain 206.
// - Abuse guard (the Apache "Range: bytes=0-,0-,..." lesson, CVE-2011-3192): if the header
//   names more than `maxRangeParts` ranges, or the ranges it names add up to more bytes than
//   the file has, the server ignores Range and answers 200 with the full file. It never
//   answers 416 for these, because the request is satisfiable.
// - 416 only when no range is satisfiable, with Content-Range "bytes */size".

import parseRange from 'range-parser';

export interface Representation {
  readonly size: number;
  /** Strong entity tag, quoted: "\"abc\"". */
  readonly etag: string;
  /** Last-Modified in whole seconds since the epoch (HTTP dates have second precision). */
  readonly lastModifiedSec: number;
}

export interface ConditionalHeaders {
  readonly range?: string | undefined;
  readonly ifRange?: string | undefined;
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
}

export interface ByteRange {
  readonly start: number;
  /** Inclusive last byte position. */
  readonly end: number;
}

export type RangePlan =
  | { readonly kind: 'full'; readonly status: 200 }
  | { readonly kind: 'partial'; readonly status: 206; readonly range: ByteRange }
  | { readonly kind: 'multipart'; readonly status: 206; readonly ranges: readonly ByteRange[] }
  | { readonly kind: 'unsatisfiable'; readonly status: 416 }
  | { readonly kind: 'not-modified'; readonly status: 304 }
  | { readonly kind: 'precondition-failed'; readonly status: 412 };

export interface RangePolicy {
  readonly maxRangeParts: number;
  /** The response's Date, in seconds; defaults to the clock. */
  readonly nowSec?: number;
}

export function planRange(
  method: 'GET' | 'HEAD',
  headers: ConditionalHeaders,
  rep: Representation,
  policy: RangePolicy,
): RangePlan {
  const precondition = evaluatePreconditions(headers, rep);
  if (precondition) return precondition;
  // RFC 9110 14.2: Range applies to GET; HEAD answers with the same headers a GET would get.
  if (headers.range === undefined || rep.size === 0) return FULL;
  const nowSec = policy.nowSec ?? Math.floor(Date.now() / 1000);
  if (headers.ifRange !== undefined && !ifRangeMatches(headers.ifRange, rep, nowSec)) return FULL;
  return planByteRanges(headers.range, rep.size, policy);
}

const FULL = { kind: 'full', status: 200 } as const;

/** RFC 9110 13.2.2: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, in this order. */
function evaluatePreconditions(h: ConditionalHeaders, rep: Representation): RangePlan | undefined {
  if (h.ifMatch !== undefined) {
    if (!matchesAny(h.ifMatch, rep.etag, 'strong')) return { kind: 'precondition-failed', status: 412 };
  } else if (h.ifUnmodifiedSince !== undefined) {
    const since = parseHttpDate(h.ifUnmodifiedSince);
    if (since !== undefined && rep.lastModifiedSec > since) return { kind: 'precondition-failed', status: 412 };
  }
  if (h.ifNoneMatch !== undefined) {
    if (matchesAny(h.ifNoneMatch, rep.etag, 'weak')) return { kind: 'not-modified', status: 304 };
  } else if (h.ifModifiedSince !== undefined) {
    const since = parseHttpDate(h.ifModifiedSince);
    if (since !== undefined && rep.lastModifiedSec <= since) return { kind: 'not-modified', status: 304 };
  }
  return undefined;
}

/** RFC 9110 13.1.5: a strong ETag compared strongly, or an HTTP-date equal to a strong Last-Modified. */
function ifRangeMatches(value: string, rep: Representation, nowSec: number): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    return !trimmed.startsWith('W/') && trimmed === rep.etag;
  }
  const date = parseHttpDate(trimmed);
  const isLastModifiedStrong = rep.lastModifiedSec <= nowSec - 1;
  return date !== undefined && date === rep.lastModifiedSec && isLastModifiedStrong;
}

/** RFC 9110 8.8.3.2: "*" matches any current representation; weak tags never match strongly. */
function matchesAny(list: string, etag: string, comparison: 'strong' | 'weak'): boolean {
  if (list.trim() === '*') return true;
  const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);
  for (const raw of list.split(',')) {
    const tag = raw.trim();
    if (comparison === 'strong' ? tag === etag : opaque(tag) === opaque(etag)) return true;
  }
  return false;
}

/** The form players send on every seek: one first-last or first- spec, no whitespace. */
const SIMPLE_RANGE = /^bytes=(\d{1,15})-(\d{0,15})$/;

function planByteRanges(header: string, size: number, policy: RangePolicy): RangePlan {
  // The same plans the general path below makes (the unit tests compare the two), without its
  // splits, regular expressions and range-parser: this runs for every seek.
  const simple = SIMPLE_RANGE.exec(header);
  if (simple) {
    const first = Number(simple[1]);
    const last = simple[2] === '' ? Infinity : Number(simple[2]);
    if (last < first) return FULL; // an invalid range-spec (RFC 9110 14.1.1): ignored
    if (first >= size) return { kind: 'unsatisfiable', status: 416 };
    return { kind: 'partial', status: 206, range: { start: first, end: Math.min(last, size - 1) } };
  }
  return planAnyByteRanges(header, size, policy);
}

function planAnyByteRanges(header: string, size: number, policy: RangePolicy): RangePlan {
  const eq = header.indexOf('=');
  // Unknown units are ignored (RFC 9110 14.2); the unit name is case-insensitive.
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL;
  if (hasInvalidSpec(header.slice(eq + 1))) return FULL;
  const normalized = `bytes=${clampLongSuffixes(header.slice(eq + 1), size)}`;
  const requested = parseRange(size, normalized);
  if (requested === -2) return FULL; // malformed
  if (requested === -1) return { kind: 'unsatisfiable', status: 416 };
  const named = normalized.split(',').length;
  const requestedBytes = requested.reduce((sum, r) => sum + (r.end - r.start + 1), 0);
  if (named > policy.maxRangeParts || requestedBytes > size) return FULL;
  // The common case (a player's single range) needs no second parse to coalesce.
  if (requested.length === 1) return { kind: 'partial', status: 206, range: pick(requested[0]!) };
  const coalesced = parseRange(size, normalized, { combine: true });
  if (coalesced === -1 || coalesced === -2) return { kind: 'unsatisfiable', status: 416 };
  if (coalesced.length === 1) return { kind: 'partial', status: 206, range: pick(coalesced[0]!) };
  return { kind: 'multipart', status: 206, ranges: coalesced.map(pick) };
}

function pick(r: { start: number; end: number }): ByteRange {
  return { start: r.start, end: r.end };
}

/**
 * range-parser drops a suffix range longer than the file ("bytes=-999999" on a 10-byte file)
 * as unsatisfiable; RFC 9110 14.1.3 says it selects the whole representation.
 */
function clampLongSuffixes(rangeSet: string, size: number): string {
  return rangeSet
    .split(',')
    .map((spec) => {
      const m = /^\s*-\s*(\d+)\s*$/.exec(spec);
      return m && Number(m[1]) > size ? '0-' : spec;
    })
    .join(',');
}

/** A first-last spec whose last is below its first makes the whole set invalid (RFC 9110 14.1.1). */
function hasInvalidSpec(rangeSet: string): boolean {
  return rangeSet.split(',').some((spec) => {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(spec);
    return m !== null && Number(m[2]) < Number(m[1]);
  });
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
const HTTP_DATE_FORMS = [
  new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`), // IMF-fixdate
  new RegExp(`^${LONG_DAY}, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`), // obsolete RFC 850
  new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`), // obsolete asctime, no zone
];

/** An HTTP-date (RFC 9110 5.6.7, all three forms) to whole seconds; anything else: undefined. */
export function parseHttpDate(value: string): number | undefined {
  const trimmed = value.trim();
  if (!HTTP_DATE_FORMS.some((form) => form.test(trimmed))) return undefined;
  // asctime has no zone and Date.parse would read it as local time; HTTP-dates are GMT.
  const ms = Date.parse(trimmed.endsWith('GMT') ? trimmed : `${trimmed} GMT`);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}
