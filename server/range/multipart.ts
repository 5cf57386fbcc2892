// Layout of a multipart/byteranges body (RFC 9110 14.6): the part headers and the exact
// Content-Length, computed before a byte is sent. Pure; the sender interleaves these
// preambles with file bytes.

import { randomBytes } from 'node:crypto';
import { contentRange } from './range-plan.ts';
import type { ByteRange } from './range-plan.ts';

export interface MultipartPart {
  /** Delimiter and part headers that precede this part's bytes. */
  readonly preamble: Buffer;
  readonly range: ByteRange;
}

export interface MultipartLayout {
  readonly contentType: string;
  readonly parts: readonly MultipartPart[];
  readonly epilogue: Buffer;
  readonly contentLength: number;
}

export function layoutMultipart(
  ranges: readonly ByteRange[],
  size: number,
  partContentType: string,
  boundary: string = randomBytes(12).toString('hex'),
): MultipartLayout {
  let contentLength = 0;
  const parts = ranges.map((range, i) => {
    const preamble = Buffer.from(
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\n` +
        `Content-Type: ${partContentType}\r\n` +
        `Content-Range: ${contentRange(range, size)}\r\n\r\n`,
      'latin1',
    );
    contentLength += preamble.length + (range.end - range.start + 1);
    return { preamble, range };
  });
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  contentLength += epilogue.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, epilogue, contentLength };
}
