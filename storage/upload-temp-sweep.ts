// Startup sweep: removes the temporary upload files (fs-write.ts) that a crash left behind.
//
// Several server instances may share one media folder, so a sweep must never remove a
// temporary file that another instance is still writing. Every upload in progress touches its
// file at least every UPLOAD_TEMP_TOUCH_MS, even while its client sends nothing; a file
// untouched for STALE_UPLOAD_TEMP_MS therefore has no live writer. Only regular files named
// like an upload's temporary file are judged; symlinks and hidden folders are not entered,
// since uploads never write there.

import { promises as fsp } from 'node:fs';
import type { Dirent } from 'node:fs';
import path from 'node:path';
import { UPLOAD_TEMP_PREFIX, UPLOAD_TEMP_TOUCH_MS } from './fs-write.ts';

/**
 * 30 touch intervals: room for an event loop stalled for minutes, and for the clocks of
 * instances that share the folder over a network filesystem disagreeing by a few minutes.
 * A leftover younger than this is removed by a later start.
 */
export const STALE_UPLOAD_TEMP_MS = 30 * UPLOAD_TEMP_TOUCH_MS;

/** Removes stale upload temporary files under `root`; resolves with how many it removed. */
export async function removeStaleUploadTemps(root: string, staleMs = STALE_UPLOAD_TEMP_MS): Promise<number> {
  const staleBefore = Date.now() - staleMs;
  let removed = 0;
  const folders = [root];
  for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable, or removed meanwhile: nothing of ours to judge there
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.')) folders.push(full);
      } else if (entry.isFile() && entry.name.startsWith(UPLOAD_TEMP_PREFIX) && (await isUntouchedSince(full, staleBefore))) {
        removed += await unlinkIfThere(full);
      }
    }
  }
  return removed;
}

async function isUntouchedSince(file: string, time: number): Promise<boolean> {
  const stats = await fsp.lstat(file).catch(() => undefined);
  return stats !== undefined && stats.isFile() && stats.mtimeMs < time;
}

/**
 * 1 if this call removed it; 0 if it was gone already (another instance's sweep) or cannot be
 * removed (a read-only folder): leftovers never keep the server from starting.
 */
async function unlinkIfThere(file: string): Promise<number> {
  return fsp.unlink(file).then(() => 1, () => 0);
}
