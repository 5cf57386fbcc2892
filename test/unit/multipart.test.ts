// layoutMultipart: exact part headers and epilogue for a fixed boundary, a Content-Length
// equal to the assembled body, and a body that parses back into the requested ranges
// (RFC 9110 14.6, RFC 2046 5.1.1).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { layoutMultipart } from '../../server/range/multipart.ts';
import type { MultipartLayout } from '../../server/range/multipart.ts';
import type { ByteRange } from '../../server/range/range-plan.ts';

const BOUNDARY = 'THIS_STRING_SEPARATES';
const TYPE = 'video/mp4';

/** A file whose byte at offset i is i mod 251 (a prime, so runs never line up with ranges). */
function fakeFile(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

/** What the sender writes: each preamble, then that part's file bytes, then the epilogue. */
function assemble(layout: MultipartLayout, file: Buffer): Buffer {
  const chunks: Buffer[] = [];
  for (const part of layout.parts) {
    chunks.push(part.preamble, file.subarray(part.range.start, part.range.end + 1));
  }
  chunks.push(layout.epilogue);
  return Buffer.concat(chunks);
}

interface ParsedPart {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * A deliberately small multipart parser: split on CRLF "--boundary", stop at the close
 * delimiter, and read each part's headers up to the blank line.
 */
function parseMultipart(body: Buffer, boundary: string): ParsedPart[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  assert.ok(body.subarray(0, delimiter.length).equals(delimiter), 'body starts with the first delimiter');
  const parts: ParsedPart[] = [];
  let at = delimiter.length;
  for (;;) {
    const after = body.subarray(at, at + 2).toString('latin1');
    if (after === '--') {
      assert.equal(body.subarray(at + 2).toString('latin1'), '\r\n', 'only CRLF after the close delimiter');
      return parts;
    }
    assert.equal(after, '\r\n', 'delimiter line ends in CRLF');
    const headerEnd = body.indexOf('\r\n\r\n', at + 2, 'latin1');
    assert.ok(headerEnd > 0, 'part headers end in a blank line');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(at + 2, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), bodyStart);
    assert.ok(next >= 0, 'every part is followed by a delimiter');
    parts.push({ headers, body: body.subarray(bodyStart, next) });
    at = next + 2 + delimiter.length;
  }
}

function r(start: number, end: number): ByteRange {
  return { start, end };
}

describe('layoutMultipart exact bytes', () => {
  const layout = layoutMultipart([r(0, 9), r(50, 59)], 100, TYPE, BOUNDARY);

  it('content type names the boundary', () => {
    assert.equal(layout.contentType, `multipart/byteranges; boundary=${BOUNDARY}`);
  });

  const preambles: readonly { index: number; expected: string }[] = [
    {
      index: 0,
      expected: `--${BOUNDARY}\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-9/100\r\n\r\n`,
    },
    {
      index: 1,
      expected: `\r\n--${BOUNDARY}\r\nContent-Type: video/mp4\r\nContent-Range: bytes 50-59/100\r\n\r\n`,
    },
  ];
  for (const c of preambles) {
    it(`preamble ${c.index}`, () => {
      assert.equal(layout.parts[c.index]!.preamble.toString('latin1'), c.expected);
      assert.deepEqual(layout.parts[c.index]!.range, [r(0, 9), r(50, 59)][c.index]);
    });
  }

  it('epilogue', () => {
    assert.equal(layout.epilogue.toString('latin1'), `\r\n--${BOUNDARY}--\r\n`);
  });

  it('contentLength adds preambles, bytes and epilogue', () => {
    const preambleBytes = preambles.reduce((sum, c) => sum + Buffer.byteLength(c.expected, 'latin1'), 0);
    assert.equal(layout.contentLength, preambleBytes + 10 + 10 + `\r\n--${BOUNDARY}--\r\n`.length);
  });
});

describe('layoutMultipart assembled body', () => {
  const cases: readonly { name: string; size: number; ranges: readonly ByteRange[] }[] = [
    { name: 'two ranges', size: 100, ranges: [r(0, 9), r(50, 59)] },
    { name: 'single-byte parts', size: 10, ranges: [r(0, 0), r(9, 9), r(4, 4)] },
    { name: 'out of order', size: 1000, ranges: [r(900, 999), r(0, 99), r(500, 500)] },
    { name: 'bytes that look like CRLF', size: 300, ranges: [r(10, 13), r(13, 13), r(250, 299)] },
    { name: 'many parts', size: 4096, ranges: Array.from({ length: 16 }, (_, i) => r(i * 256, i * 256 + 99)) },
  ];
  const file = fakeFile(4096);
  // 13 and 10 are CR and LF, so the "bytes that look like CRLF" case carries them in its body.
  assert.equal(file[13], 13);

  for (const c of cases) {
    const layout = layoutMultipart(c.ranges, c.size, TYPE, BOUNDARY);
    const body = assemble(layout, file.subarray(0, c.size));

    it(`${c.name}: contentLength is the assembled byte length`, () => {
      assert.equal(layout.contentLength, body.length);
    });

    it(`${c.name}: parses back into the requested parts`, () => {
      const parsed = parseMultipart(body, BOUNDARY);
      assert.deepEqual(
        parsed.map((p) => p.headers),
        c.ranges.map((range) => ({
          'content-type': TYPE,
          'content-range': `bytes ${range.start}-${range.end}/${c.size}`,
        })),
      );
      for (const [i, range] of c.ranges.entries()) {
        assert.ok(parsed[i]!.body.equals(file.subarray(range.start, range.end + 1)), `part ${i} bytes`);
      }
    });
  }

  it('large offsets: Content-Range and contentLength stay exact above 4 GiB', () => {
    const size = 5 * 1024 * 1024 * 1024;
    const layout = layoutMultipart([r(0, 99), r(4831838208, 4831838307)], size, TYPE, BOUNDARY);
    assert.match(layout.parts[1]!.preamble.toString('latin1'), /Content-Range: bytes 4831838208-4831838307\/5368709120\r\n/);
    const framing = layout.parts.reduce((sum, p) => sum + p.preamble.length, 0) + layout.epilogue.length;
    assert.equal(layout.contentLength, framing + 200);
  });

  it('a random boundary by default, different each time', () => {
    const a = layoutMultipart([r(0, 0), r(2, 2)], 3, TYPE);
    const b = layoutMultipart([r(0, 0), r(2, 2)], 3, TYPE);
    assert.match(a.contentType, /^multipart\/byteranges; boundary=[0-9a-f]{24}$/);
    assert.notEqual(a.contentType, b.contentType);
  });
});
