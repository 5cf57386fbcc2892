// HPACK (RFC 7541) for the raw HTTP/2 test client.
//
// Encoding is deliberately dumb: every request header goes out as a literal
// without indexing, so the server's view of our headers never depends on
// dynamic-table state we could get wrong. Decoding is complete, because
// servers (nghttp2 inside Node) index response headers such as ":status: 416"
// and refer back to them later; a decoder that skips the dynamic table would
// misread every response after the first.

export type HeaderField = [name: string, value: string];

export class HpackError extends Error {
  override name = 'HpackError';
}

// Appendix A. Index 1 is the first entry.
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

// --- Huffman code (Appendix B) ---
//
// The code is canonical: within one bit length, codes are consecutive in symbol
// order, and each length starts where the previous one left off, shifted left.
// So the bit lengths alone (symbols 0..255, then EOS = 256) define every code;
// the tests pin known codes from the RFC to catch a typo here.
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30, // EOS
];
const EOS = 256;

/** Huffman code of each symbol (0..256), right-aligned in a number. */
export const HUFFMAN_CODES: readonly number[] = (() => {
  const codes = new Array<number>(CODE_LENGTHS.length);
  let code = 0;
  for (let len = 1; len <= 30; len++) {
    for (let sym = 0; sym < CODE_LENGTHS.length; sym++) {
      if (CODE_LENGTHS[sym] === len) codes[sym] = code++;
    }
    code *= 2; // not << : codes of 30 bits overflow int32 sign
  }
  return codes;
})();

// Binary decoding tree: node n has children tree[2n] (bit 0) and tree[2n+1]
// (bit 1). A positive entry is the next node; a negative one is a leaf holding
// -(symbol + 1). Zero means "no code here" (impossible for a complete code).
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 2 * CODE_LENGTHS.length);
  let nodes = 1;
  for (let sym = 0; sym < CODE_LENGTHS.length; sym++) {
    const len = CODE_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const slot = 2 * node + (Math.floor(HUFFMAN_CODES[sym] / 2 ** i) & 1);
      if (i === 0) tree[slot] = -(sym + 1);
      else node = tree[slot] > 0 ? tree[slot] : (tree[slot] = nodes++);
    }
  }
  return tree;
})();

export function huffmanDecode(input: Uint8Array): Buffer {
  const out: number[] = [];
  let node = 0;
  // Bits read since the last complete symbol, and whether they were all 1s:
  // together they tell legal padding (a prefix of EOS, at most 7 bits) apart.
  let pendingBits = 0;
  let pendingAllOnes = true;
  for (const byte of input) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      const next = TREE[2 * node + bit];
      pendingBits++;
      pendingAllOnes &&= bit === 1;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HpackError('Huffman string contains EOS');
        out.push(sym);
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (pendingBits > 7) throw new HpackError('Huffman padding longer than 7 bits');
  if (!pendingAllOnes) throw new HpackError('Huffman padding is not a prefix of EOS');
  return Buffer.from(out);
}

export function huffmanEncode(input: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0; // pending bits, fewer than 8 between symbols
  let accBits = 0;
  for (const byte of input) {
    const len = CODE_LENGTHS[byte];
    const code = HUFFMAN_CODES[byte];
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) & 1);
      if (++accBits === 8) {
        out.push(acc);
        acc = 0;
        accBits = 0;
      }
    }
  }
  // Pad with the most significant bits of EOS, which are all 1s.
  if (accBits > 0) out.push((acc << (8 - accBits)) | (0xff >> accBits));
  return Buffer.from(out);
}

// --- Integers and strings (5.1, 5.2) ---

/** Encode `value` with an N-bit prefix; `flags` fills the bits above the prefix. */
export function encodeInteger(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function encodeString(text: string): Buffer {
  // Header bytes are octets; latin1 keeps them one-to-one with string chars.
  const raw = Buffer.from(text, 'latin1');
  return Buffer.concat([encodeInteger(raw.length, 7), raw]);
}

/** Every field as "literal header field without indexing, new name" (6.2.2). */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) parts.push(Buffer.from([0x00]), encodeString(name), encodeString(value));
  return Buffer.concat(parts);
}

// --- Decoder ---

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  byte(): number {
    if (this.done) throw new HpackError('header block truncated');
    return this.buf[this.pos++];
  }
  integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.byte() & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      // 2^53 is far beyond any legal size; stop before precision is lost.
      if (shift > 28) throw new HpackError('integer too large');
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
  }
  string(): string {
    const huffman = (this.buf[this.pos] & 0x80) !== 0;
    const length = this.integer(7);
    if (this.pos + length > this.buf.length) throw new HpackError('string literal runs past the header block');
    const raw = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return (huffman ? huffmanDecode(raw) : Buffer.from(raw)).toString('latin1');
  }
}

export class HpackDecoder {
  /** Newest first, so HPACK index 62 is dynamic[0]. */
  readonly dynamic: HeaderField[] = [];
  /** Sum of entry sizes (name + value + 32 each, 4.1). */
  size = 0;
  /** Current limit, changed by dynamic table size updates. */
  maxSize: number;
  /** The ceiling we advertised (SETTINGS_HEADER_TABLE_SIZE); updates may not exceed it. */
  readonly settingsMaxSize: number;

  constructor(settingsMaxSize = 4096) {
    this.settingsMaxSize = settingsMaxSize;
    this.maxSize = settingsMaxSize;
  }

  /** Decode one complete header block. Throws HpackError; the state is then unusable. */
  decode(block: Uint8Array): HeaderField[] {
    const r = new Reader(block);
    const fields: HeaderField[] = [];
    while (!r.done) {
      const first = r.buf[r.pos];
      if (first & 0x80) {
        // 6.1 Indexed header field.
        const index = r.integer(7);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        fields.push(this.lookup(index));
      } else if (first & 0x40) {
        // 6.2.1 Literal with incremental indexing.
        const field = this.literal(r, 6);
        this.insert(field);
        fields.push(field);
      } else if (first & 0x20) {
        // 6.3 Dynamic table size update: only before the first field (4.2).
        if (fields.length > 0) throw new HpackError('table size update after a header field');
        const newSize = r.integer(5);
        if (newSize > this.settingsMaxSize) {
          throw new HpackError(`table size update to ${newSize} exceeds ${this.settingsMaxSize}`);
        }
        this.maxSize = newSize;
        this.evict(0);
      } else {
        // 6.2.2 without indexing (0000), 6.2.3 never indexed (0001): same shape.
        fields.push(this.literal(r, 4));
      }
    }
    return fields;
  }

  private literal(r: Reader, prefixBits: number): HeaderField {
    const nameIndex = r.integer(prefixBits);
    const name = nameIndex === 0 ? r.string() : this.lookup(nameIndex)[0];
    return [name, r.string()];
  }

  private lookup(index: number): HeaderField {
    if (index <= STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index - 1];
      return [name, value];
    }
    const entry = this.dynamic[index - STATIC_TABLE.length - 1];
    if (!entry) throw new HpackError(`index ${index} is beyond the dynamic table (${this.dynamic.length} entries)`);
    return [entry[0], entry[1]];
  }

  private insert(field: HeaderField): void {
    // Sizes count octets, and strings here hold one char per octet (latin1).
    const entrySize = field[0].length + field[1].length + 32;
    this.evict(entrySize);
    // An entry larger than the whole table just empties it (4.4).
    if (entrySize > this.maxSize) return;
    this.dynamic.unshift(field);
    this.size += entrySize;
  }

  /** Evict oldest entries until `incoming` more octets fit under maxSize. */
  private evict(incoming: number): void {
    while (this.dynamic.length > 0 && this.size + incoming > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.size -= name.length + value.length + 32;
    }
  }
}
