// Big copies of the small sample videos, for browser seek storms. Chrome buffers a 2 MB file
// whole before the first seek, so seeking it never cancels a stream and the server sees no
// reset (docs/browser-demo.md). The copies keep every frame of the sample and add padding
// that the demuxers skip, so the file has the size (and, to the player, the bitrate) of a
// real high-bitrate video:
//   WebM: an EBML Void element before every Cluster; SeekHead and Cues are re-encoded with
//         the moved positions (fixed 8-byte widths, so their size does not depend on values).
//   MP4:  unused bytes inside mdat before every chunk; stco/co64 entries shifted to match.
// No tool is needed (CI has no ffmpeg); test/unit/padded-media.test.ts checks the offsets.

import { readFile, writeFile } from 'node:fs/promises';

/** Writes a copy of `src` (WebM or MP4, by extension) about `extraBytes` larger to `dst`. */
export async function writePaddedCopy(src: string, dst: string, extraBytes: number): Promise<void> {
  const input = await readFile(src);
  const parts = src.endsWith('.webm') ? padWebm(input, extraBytes) : padMp4(input, extraBytes);
  await writeFile(dst, parts);
}

// ---- EBML (Matroska / WebM) ----

const ID = {
  segment: 0x18538067,
  seekHead: 0x114d9b74,
  seek: 0x4dbb,
  seekPosition: 0x53ac,
  cues: 0x1c53bb6b,
  cuePoint: 0xbb,
  cueTrackPositions: 0xb7,
  cueClusterPosition: 0xf1,
  cluster: 0x1f43b675,
  void: 0xec,
} as const;
const MASTERS: ReadonlySet<number> = new Set([ID.seekHead, ID.seek, ID.cues, ID.cuePoint, ID.cueTrackPositions]);

export interface EbmlElement {
  readonly id: number;
  readonly start: number;
  readonly dataStart: number;
  readonly end: number;
}

function readVint(buf: Buffer, pos: number, keepMarker: boolean): { value: number; length: number } {
  const first = buf[pos];
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
  if (length > 8) throw new Error(`bad EBML vint at ${pos}`);
  let value = keepMarker ? first : first & (0xff >> length);
  for (let i = 1; i < length; i++) value = value * 256 + buf[pos + i];
  return { value, length };
}

/** The elements directly inside [start, end). Unknown sizes are refused (not in our samples). */
export function ebmlChildren(buf: Buffer, start: number, end: number): EbmlElement[] {
  const out: EbmlElement[] = [];
  for (let pos = start; pos < end; ) {
    const id = readVint(buf, pos, true);
    const size = readVint(buf, pos + id.length, false);
    if (size.value === 2 ** (7 * size.length) - 1) throw new Error(`unknown-size element at ${pos}`);
    const dataStart = pos + id.length + size.length;
    out.push({ id: id.value, start: pos, dataStart, end: dataStart + size.value });
    pos = dataStart + size.value;
  }
  return out;
}

export function readEbmlUint(buf: Buffer, el: EbmlElement): number {
  let value = 0;
  for (let i = el.dataStart; i < el.end; i++) value = value * 256 + buf[i];
  return value;
}

function idBytes(id: number): Buffer {
  const length = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  const out = Buffer.alloc(length);
  out.writeUIntBE(id, 0, length);
  return out;
}

/** An 8-byte size vint: any size, and always the same width. */
function size8(size: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(size) | (1n << 56n));
  return out;
}

function uint8(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

/** Re-encodes the masters in [start, end) with 8-byte sizes; `leaf` may replace a leaf's data. */
function reencode(buf: Buffer, start: number, end: number, leaf: (el: EbmlElement) => Buffer | undefined): Buffer {
  const parts: Buffer[] = [];
  for (const el of ebmlChildren(buf, start, end)) {
    const data = MASTERS.has(el.id) ? reencode(buf, el.dataStart, el.end, leaf) : leaf(el);
    if (data) parts.push(idBytes(el.id), size8(data.length), data);
    else parts.push(buf.subarray(el.start, el.end));
  }
  return Buffer.concat(parts);
}

function voidElement(totalBytes: number): Buffer {
  const out = Buffer.alloc(totalBytes);
  out[0] = ID.void;
  size8(totalBytes - 9).copy(out, 1);
  return out;
}

function padWebm(input: Buffer, extraBytes: number): Buffer[] {
  const top = ebmlChildren(input, 0, input.length);
  const segment = top.find((el) => el.id === ID.segment);
  if (!segment) throw new Error('no Segment');
  const children = ebmlChildren(input, segment.dataStart, segment.end);
  const clusterCount = children.filter((el) => el.id === ID.cluster).length;
  const voidBytes = Math.max(9, Math.floor(extraBytes / clusterCount));
  // Positions in SeekHead and Cues are relative to the Segment's data. Pass 1 lays out with
  // the real sizes (value-independent), pass 2 writes the moved positions.
  const moved = new Map<number, number>(); // old relative start -> new relative start
  const encode = (el: EbmlElement, position: (old: number) => number): Buffer => {
    if (el.id !== ID.seekHead && el.id !== ID.cues) return input.subarray(el.start, el.end);
    const data = reencode(input, el.dataStart, el.end, (leaf) =>
      leaf.id === ID.seekPosition || leaf.id === ID.cueClusterPosition ? uint8(position(readEbmlUint(input, leaf))) : undefined,
    );
    return Buffer.concat([idBytes(el.id), size8(data.length), data]);
  };
  let offset = 0;
  for (const el of children) {
    if (el.id === ID.cluster) offset += voidBytes;
    moved.set(el.start - segment.dataStart, offset);
    offset += encode(el, () => 0).length;
  }
  const position = (old: number): number => {
    const now = moved.get(old);
    if (now === undefined) throw new Error(`a position (${old}) that is no element's start`);
    return now;
  };
  const body: Buffer[] = [];
  for (const el of children) {
    if (el.id === ID.cluster) body.push(voidElement(voidBytes));
    body.push(encode(el, position));
  }
  const bodyBytes = body.reduce((n, b) => n + b.length, 0);
  const head = input.subarray(0, segment.start);
  const tail = input.subarray(segment.end);
  return [head, idBytes(ID.segment), size8(bodyBytes), ...body, tail];
}

// ---- ISO BMFF (MP4) ----

const CONTAINER_BOXES: ReadonlySet<string> = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);

export interface Mp4Box {
  readonly type: string;
  readonly start: number;
  readonly dataStart: number;
  readonly end: number;
}

export function mp4Boxes(buf: Buffer, start: number, end: number): Mp4Box[] {
  const out: Mp4Box[] = [];
  for (let pos = start; pos < end; ) {
    let size = buf.readUInt32BE(pos);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(pos + 8));
      header = 16;
    } else if (size === 0) size = end - pos;
    out.push({ type: buf.toString('latin1', pos + 4, pos + 8), start: pos, dataStart: pos + header, end: pos + size });
    pos += size;
  }
  return out;
}

/** Every stco/co64 box under moov, depth first. */
export function chunkOffsetBoxes(buf: Buffer, start: number, end: number): Mp4Box[] {
  return mp4Boxes(buf, start, end).flatMap((box) => {
    if (box.type === 'stco' || box.type === 'co64') return [box];
    return CONTAINER_BOXES.has(box.type) ? chunkOffsetBoxes(buf, box.dataStart, box.end) : [];
  });
}

/** [entry position in the file, byte width] of every chunk offset of one stco/co64 box. */
export function chunkOffsetEntries(buf: Buffer, box: Mp4Box): [number, 4 | 8][] {
  const width = box.type === 'co64' ? 8 : 4;
  const count = buf.readUInt32BE(box.dataStart + 4); // after version and flags
  return Array.from({ length: count }, (_, i) => [box.dataStart + 8 + i * width, width]);
}

export function readChunkOffset(buf: Buffer, [at, width]: [number, 4 | 8]): number {
  return width === 8 ? Number(buf.readBigUInt64BE(at)) : buf.readUInt32BE(at);
}

function padMp4(input: Buffer, extraBytes: number): Buffer[] {
  const top = mp4Boxes(input, 0, input.length);
  const moov = top.find((b) => b.type === 'moov');
  const mdat = top.find((b) => b.type === 'mdat');
  if (!moov || !mdat) throw new Error('no moov or mdat');
  if (moov.start > mdat.start) throw new Error('moov after mdat: not supported (run qt-faststart first)');
  const entries = chunkOffsetBoxes(input, moov.dataStart, moov.end).flatMap((box) => chunkOffsetEntries(input, box));
  const starts = [...new Set(entries.map((e) => readChunkOffset(input, e)))].sort((a, b) => a - b);
  if (starts[0] < mdat.dataStart || starts.at(-1)! >= mdat.end) throw new Error('a chunk outside mdat: not supported');
  const gap = Math.floor(extraBytes / starts.length);
  const newSize = mdat.end - mdat.start + gap * starts.length;
  if (newSize > 0xffffffff || mdat.dataStart - mdat.start !== 8) throw new Error('mdat would need a 64-bit size');
  // Everything up to mdat keeps its size: offsets are rewritten in place, same width.
  const head = Buffer.from(input.subarray(0, mdat.start));
  const rank = new Map(starts.map((s, i) => [s, i + 1]));
  for (const entry of entries) {
    const old = readChunkOffset(input, entry);
    const now = old + gap * rank.get(old)!;
    if (entry[1] === 8) head.writeBigUInt64BE(BigInt(now), entry[0]);
    else if (now > 0xffffffff) throw new Error('chunk offset beyond stco range');
    else head.writeUInt32BE(now, entry[0]);
  }
  const mdatHeader = Buffer.alloc(8);
  mdatHeader.writeUInt32BE(newSize);
  mdatHeader.write('mdat', 4, 'latin1');
  const padding = Buffer.alloc(gap);
  const parts: Buffer[] = [head, mdatHeader];
  let from = mdat.dataStart;
  for (const s of starts) {
    parts.push(input.subarray(from, s), padding);
    from = s;
  }
  parts.push(input.subarray(from));
  return parts;
}
