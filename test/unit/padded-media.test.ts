// The padded copies the browser tests play (support/padded-media.ts) must still be the same
// video: every position the container records (WebM SeekHead and Cues, MP4 chunk offsets)
// points at the same bytes as in the sample. Negative controls: one stale position in each
// format is caught.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  chunkOffsetBoxes, chunkOffsetEntries, ebmlChildren, mp4Boxes, readChunkOffset, readEbmlUint, writePaddedCopy,
} from '../support/padded-media.ts';
import type { EbmlElement } from '../support/padded-media.ts';

const SAMPLES = path.resolve('storage/sample-library');
const EXTRA = 3_000_000;
const SEGMENT = 0x18538067;
const SEEK_POSITION = 0x53ac;
const CUE_CLUSTER_POSITION = 0xf1;
const CLUSTER = 0x1f43b675;

/** Elements (depth first) with the given id under `parent`, descending into every master listed. */
function findAll(buf: Buffer, parent: EbmlElement, id: number, masters: readonly number[]): EbmlElement[] {
  return ebmlChildren(buf, parent.dataStart, parent.end).flatMap((el) =>
    el.id === id ? [el] : masters.includes(el.id) ? findAll(buf, el, id, masters) : [],
  );
}

const WEBM_MASTERS = [0x114d9b74, 0x4dbb, 0x1c53bb6b, 0xbb, 0xb7]; // SeekHead, Seek, Cues, CuePoint, CueTrackPositions

/**
 * What each position points at, in order: for a SeekPosition the element's 4-byte ID (Cues and
 * SeekHead are re-encoded, so only their kind must match), for a CueClusterPosition the first
 * 64 bytes of the cluster.
 */
function webmTargets(buf: Buffer): Buffer[] {
  const segment = ebmlChildren(buf, 0, buf.length).find((el) => el.id === SEGMENT)!;
  const at = (p: EbmlElement, length: number) => buf.subarray(segment.dataStart + readEbmlUint(buf, p), segment.dataStart + readEbmlUint(buf, p) + length);
  return [
    ...findAll(buf, segment, SEEK_POSITION, WEBM_MASTERS).map((p) => at(p, 4)),
    ...findAll(buf, segment, CUE_CLUSTER_POSITION, WEBM_MASTERS).map((p) => at(p, 64)),
  ];
}

/** For each chunk offset in order: the first 32 bytes of that chunk. */
function mp4Targets(buf: Buffer): Buffer[] {
  const moov = mp4Boxes(buf, 0, buf.length).find((b) => b.type === 'moov')!;
  const entries = chunkOffsetBoxes(buf, moov.dataStart, moov.end).flatMap((box) => chunkOffsetEntries(buf, box));
  return entries.map((e) => buf.subarray(readChunkOffset(buf, e), readChunkOffset(buf, e) + 32));
}

function countDifferent(a: Buffer[], b: Buffer[]): number {
  assert.equal(a.length, b.length);
  return a.filter((x, i) => !x.equals(b[i])).length;
}

describe('padded copies of the samples', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'padded-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('WebM: every SeekHead and Cues position points at the same element bytes; clusters intact', async () => {
    const original = await readFile(path.join(SAMPLES, 'sample-vp9-opus.webm'));
    await writePaddedCopy(path.join(SAMPLES, 'sample-vp9-opus.webm'), path.join(dir, 'p.webm'), EXTRA);
    const padded = await readFile(path.join(dir, 'p.webm'));
    assert.ok(Math.abs(padded.length - original.length - EXTRA) < EXTRA / 100, `size ${padded.length}`);
    const targets = webmTargets(original);
    assert.ok(targets.length > 30, 'the sample has a SeekHead and a cue per cluster');
    assert.equal(countDifferent(targets, webmTargets(padded)), 0);
    const clusters = (buf: Buffer) => {
      const segment = ebmlChildren(buf, 0, buf.length).find((el) => el.id === SEGMENT)!;
      return ebmlChildren(buf, segment.dataStart, segment.end).filter((el) => el.id === CLUSTER).map((el) => buf.subarray(el.start, el.end));
    };
    assert.equal(countDifferent(clusters(original), clusters(padded)), 0, 'every cluster copied byte for byte');

    // Negative control: one CueClusterPosition put back to its old value is caught.
    const segment = ebmlChildren(padded, 0, padded.length).find((el) => el.id === SEGMENT)!;
    const cue = findAll(padded, segment, CUE_CLUSTER_POSITION, WEBM_MASTERS)[5];
    const originalSegment = ebmlChildren(original, 0, original.length).find((el) => el.id === SEGMENT)!;
    const oldValue = readEbmlUint(original, findAll(original, originalSegment, CUE_CLUSTER_POSITION, WEBM_MASTERS)[5]);
    const stale = Buffer.from(padded);
    stale.writeBigUInt64BE(BigInt(oldValue), cue.dataStart); // the copy writes 8-byte positions
    assert.equal(countDifferent(targets, webmTargets(stale)), 1);
  });

  it('MP4: every chunk offset points at the same chunk bytes', async () => {
    const original = await readFile(path.join(SAMPLES, 'sample-h264-aac.mp4'));
    await writePaddedCopy(path.join(SAMPLES, 'sample-h264-aac.mp4'), path.join(dir, 'p.mp4'), EXTRA);
    const padded = await readFile(path.join(dir, 'p.mp4'));
    assert.ok(Math.abs(padded.length - original.length - EXTRA) < EXTRA / 100, `size ${padded.length}`);
    const mdat = mp4Boxes(padded, 0, padded.length).find((b) => b.type === 'mdat')!;
    assert.equal(mdat.end, padded.length, 'mdat size covers the padding');
    const targets = mp4Targets(original);
    assert.ok(targets.length > 1000);
    assert.equal(countDifferent(targets, mp4Targets(padded)), 0);

    // Negative control: one chunk offset left unshifted is caught.
    const moov = mp4Boxes(padded, 0, padded.length).find((b) => b.type === 'moov')!;
    const [entry] = chunkOffsetEntries(padded, chunkOffsetBoxes(padded, moov.dataStart, moov.end)[0]);
    const stale = Buffer.from(padded);
    stale.writeUInt32BE(readChunkOffset(original, entry), entry[0]);
    assert.equal(countDifferent(targets, mp4Targets(stale)), 1);
  });
});
