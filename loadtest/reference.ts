// Byte verification: the reference bytes of each URL (a local file given by path, or one
// full download of the URL before the storm), kept in memory, and a check of every DATA
// chunk at its offset. Corrupt bytes are counted; the first few are reported with where.

import { readFile, stat } from 'node:fs/promises';
import { fetchOnce } from './fetch-once.ts';
import type { Corruption } from './report.ts';
import type { TlsTrust } from './settings.ts';

export const MAX_REFERENCE_BYTES = 1024 * 1024 * 1024;
export const MAX_CORRUPTIONS_LISTED = 20;

export class ReferenceError extends Error {}

/** url -> its bytes. Downloads each distinct URL once, with a plain GET (no Range). */
export async function loadReferences(
  urls: readonly string[],
  trust: TlsTrust,
  verifyFile: string | undefined,
): Promise<Map<string, Buffer>> {
  const references = new Map<string, Buffer>();
  if (verifyFile !== undefined) {
    const info = await stat(verifyFile).catch((err: NodeJS.ErrnoException) => {
      throw new ReferenceError(`--verify-file ${verifyFile}: ${err.code ?? err.message}`);
    });
    if (info.size > MAX_REFERENCE_BYTES) throw new ReferenceError(`--verify-file ${verifyFile}: larger than 1 GiB, too big to keep in memory`);
    references.set(new URL(urls[0]).href, await readFile(verifyFile));
    return references;
  }
  for (const raw of new Set(urls.map((u) => new URL(u).href))) {
    const url = new URL(raw);
    const response = await fetchOnce(url, { trust, maxBytes: MAX_REFERENCE_BYTES + 1, timeoutMs: 120_000 }).catch((err: Error) => {
      throw new ReferenceError(`reference download of ${raw} failed: ${err.message}`);
    });
    if (response.status !== 200) throw new ReferenceError(`reference download of ${raw}: status ${response.status}, expected 200`);
    if (response.isTruncated) throw new ReferenceError(`reference download of ${raw}: larger than 1 GiB; give --verify-file or a smaller file`);
    references.set(raw, response.body);
  }
  return references;
}

export class ByteVerifier {
  bytesVerified = 0;
  corruptBytes = 0;
  readonly corruptions: Corruption[] = [];
  private readonly references: ReadonlyMap<string, Buffer>;

  constructor(references: ReadonlyMap<string, Buffer>) {
    this.references = references;
  }

  /** Size of the reference for a URL, if there is one. */
  sizeOf(url: string): number | undefined {
    return this.references.get(url)?.length;
  }

  /** Compares one chunk with the reference at its offset; undefined when every byte matches. */
  check(url: string, streamId: number, offset: number, chunk: Buffer): Corruption | undefined {
    const reference = this.references.get(url);
    if (!reference) return undefined;
    this.bytesVerified += chunk.length;
    const expected = reference.subarray(offset, offset + chunk.length);
    if (expected.length === chunk.length && expected.equals(chunk)) return undefined;
    let bad = chunk.length - expected.length; // bytes past the end of the file are all wrong
    let first = expected.length;
    for (let i = expected.length - 1; i >= 0; i--) {
      if (chunk[i] !== expected[i]) {
        bad++;
        first = i;
      }
    }
    this.corruptBytes += bad;
    const corruption: Corruption = { url, streamId, offset: offset + first, bytes: bad };
    if (this.corruptions.length < MAX_CORRUPTIONS_LISTED) this.corruptions.push(corruption);
    return corruption;
  }
}
