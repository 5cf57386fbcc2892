// GET /api/media: the library as JSON, one entry per servable file.

import type { Context } from 'koa';
import mime from 'mime-types';
import { mediaUrl } from '../media-path.ts';
import type { Storage } from '../../storage/storage.ts';

export interface LibraryEntry {
  readonly name: string;
  readonly url: string;
  readonly size: number;
  readonly type: string;
  readonly mtime: string;
  readonly etag: string;
}

export function libraryRoute(storage: Storage) {
  return async function listLibrary(ctx: Context): Promise<void> {
    const files = await storage.list();
    const entries: LibraryEntry[] = files.map((f) => ({
      name: f.path,
      url: mediaUrl(f.path),
      size: f.size,
      type: mime.lookup(f.path) || 'application/octet-stream',
      mtime: new Date(f.mtimeMs).toISOString(),
      etag: `"${f.version}"`,
    }));
    ctx.set('cache-control', 'no-store');
    ctx.body = { files: entries };
  };
}
