// Turns the raw URL path after "/media/" into clean relative segments, or says why not.
// Pure: no filesystem. Storage confines the result again by real path (symlinks).
//
// Decoding happens once, per segment, so "%2F" can never become a separator and "%2e%2e"
// is caught as "..". Each refusal has its own status: malformed input is 400, an attempt to
// climb out is 403, hidden entries are 404 (we do not confirm they exist).

import { boundedMemo } from './bounded-memo.ts';

export type MediaPathResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly status: 400 | 403 | 404; readonly reason: string };

export function parseMediaPath(rawPath: string): MediaPathResult {
  if (rawPath === '') return refuse(404, 'no file named');
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return refuse(400, 'malformed percent-encoding');
    }
    if (segment === '') return refuse(400, 'empty path segment');
    if (segment.includes('\0')) return refuse(400, 'NUL in path');
    if (segment.includes('/') || segment.includes('\\')) return refuse(400, 'separator inside a segment');
    if (segment === '..' || segment === '.') return refuse(403, 'path climbs out of the media root');
    if (segment.startsWith('.')) return refuse(404, 'hidden entries are not served');
    segments.push(segment);
  }
  return { ok: true, path: segments.join('/') };
}

/**
 * parseMediaPath for the request path: players ask for the same few paths again and again, so
 * answers are kept, up to a bound (long paths are not kept).
 */
export const parseMediaPathRemembered = boundedMemo(parseMediaPath, { maxEntries: 1024, maxKeyChars: 512 });

function refuse(status: 400 | 403 | 404, reason: string): MediaPathResult {
  return { ok: false, status, reason };
}

/** URL path for a relative media path, each segment percent-encoded. */
export function mediaUrl(relPath: string): string {
  return `/media/${relPath.split('/').map(encodeURIComponent).join('/')}`;
}
