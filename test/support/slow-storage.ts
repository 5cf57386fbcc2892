// A storage whose open() takes a while: what a slow handler looks like to the connection
// lifecycle (a request being worked on, no response head yet). Tests inject it
// (TestOverrides.decorateStorage) to show that such a connection is never closed as idle
// (the Jetty 8 bug), and as a browser negative control (every range answered 12 s late).

import { setTimeout as sleep } from 'node:timers/promises';
import type { MediaFile, Storage } from '../../storage/storage.ts';

/** Wraps a storage so that every open() waits `delayMs` first; everything else is unchanged. */
export function slowOpen(delayMs: number): (storage: Storage) => Storage {
  return (storage) =>
    new Proxy(storage, {
      get(target, property) {
        if (property === 'open') {
          return async (path: string): Promise<MediaFile> => {
            await sleep(delayMs);
            return target.open(path);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
}
