// The catalog's records in one Redis hash (field: path, value: the record as JSON) and its
// change announcements on one pub/sub channel. A rescan's changes are compare-and-set in a
// script, so an instance whose listing raced another's upload does not put the old record back.

import type { Redis } from 'ioredis';
import type { CatalogRecord, RecordChange, RecordStore } from './catalog.ts';
import type { RedisLink } from './redis-link.ts';

// KEYS: the hash. ARGV: triples of path, expected JSON ('' for absent), next JSON ('' to remove).
const APPLY_SCRIPT = `
local applied = 0
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i]) or ''
  if current == ARGV[i + 1] then
    if ARGV[i + 2] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
    applied = applied + 1
  end
end
return applied
`;

interface CatalogCommands extends Redis {
  catalogApply(hashKey: string, ...triples: string[]): Promise<number>;
}

interface Announcement {
  readonly from: string;
  readonly paths: readonly string[];
}

export class RedisRecordStore implements RecordStore {
  readonly #link: RedisLink;
  readonly #instanceId: string;
  readonly #redis: CatalogCommands;
  readonly #hashKey: string;
  readonly #channel: string;
  readonly #listeners: ((paths: readonly string[]) => void)[] = [];

  constructor(link: RedisLink, instanceId: string) {
    this.#link = link;
    this.#instanceId = instanceId;
    this.#hashKey = link.key('catalog');
    this.#channel = link.key('catalog:changed');
    link.commands.defineCommand('catalogApply', { numberOfKeys: 1, lua: APPLY_SCRIPT });
    this.#redis = link.commands as CatalogCommands;
    const subscriber = link.subscriber;
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      let message: Announcement;
      try {
        message = JSON.parse(text) as Announcement;
      } catch {
        return;
      }
      if (message.from !== this.#instanceId) this.#notify(message.paths);
    });
    // Subscribe on every (re)connect: without an offline queue a SUBSCRIBE sent before the
    // connection is ready fails, and autoResubscribe only repeats subscriptions that took.
    // Announcements made while we were away are lost: treat everything as changed.
    subscriber.on('ready', () => {
      subscriber.subscribe(this.#channel).catch(() => {});
      this.#notify([]);
    });
  }

  async all(): Promise<Map<string, CatalogRecord>> {
    const fields = await this.#redis.hgetall(this.#hashKey);
    const out = new Map<string, CatalogRecord>();
    for (const [path, text] of Object.entries(fields)) out.set(path, JSON.parse(text) as CatalogRecord);
    return out;
  }

  async apply(changes: readonly RecordChange[]): Promise<number> {
    const triples: string[] = [];
    for (const c of changes) triples.push(c.path, c.expected ? serialise(c.expected) : '', c.next ? serialise(c.next) : '');
    return this.#redis.catalogApply(this.#hashKey, ...triples);
  }

  async set(path: string, record: CatalogRecord | undefined): Promise<void> {
    if (record) await this.#redis.hset(this.#hashKey, path, serialise(record));
    else await this.#redis.hdel(this.#hashKey, path);
  }

  async announce(paths: readonly string[]): Promise<void> {
    const message: Announcement = { from: this.#instanceId, paths };
    await this.#redis.publish(this.#channel, JSON.stringify(message));
  }

  onAnnounce(listener: (paths: readonly string[]) => void): void {
    this.#listeners.push(listener);
  }

  #notify(paths: readonly string[]): void {
    for (const listener of this.#listeners) listener(paths);
  }
}

/** One spelling per record (fixed key order), so a compare-and-set compares like with like. */
function serialise(r: CatalogRecord): string {
  return JSON.stringify({ path: r.path, size: r.size, mtimeMs: r.mtimeMs, etag: r.etag, type: r.type, durationSec: r.durationSec, codecs: r.codecs });
}
