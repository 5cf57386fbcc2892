// GET /api/media: the library as JSON, one entry per servable file, from the catalog
// (shared/catalog.ts): the same list on every instance.

import type { Context } from 'koa';
import { mediaUrl } from '../media-path.ts';
import type { Catalog } from '../shared/catalog.ts';

export interface LibraryEntry {
  readonly name: string;
  readonly url: string;
  readonly size: number;
  readonly type: string;
  readonly mtime: string;
  readonly etag: string;
  /** When known (ffprobe, MEDIA_PROBE). */
  readonly durationSec?: number;
  readonly codecs?: readonly string[];
}

export function libraryRoute(catalog: Catalog) {
  return async function listLibrary(ctx: Context): Promise<void> {
    const records = await catalog.list();
    const entries: LibraryEntry[] = records.map((r) => ({
      name: r.path,
      url: mediaUrl(r.path),
      size: r.size,
      type: r.type,
      mtime: new Date(r.mtimeMs).toISOString(),
      etag: r.etag,
      durationSec: r.durationSec,
      codecs: r.codecs,
    }));
    ctx.set('cache-control', 'no-store');
    ctx.body = { files: entries };
  };
}
