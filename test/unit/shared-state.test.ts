// The in-memory halves of the shared state: the per-client quota (streams and token bucket),
// percentiles from merged histogram counts, and the catalog's compare-and-set rescan.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryQuota } from '../../server/shared/client-quota.ts';
import { percentilesOf, TTFB_BOUNDS_MS } from '../../server/shared/instance-stats.ts';
import { Catalog, MemoryRecordStore, recordOf } from '../../server/shared/catalog.ts';
import type { CatalogRecord } from '../../server/shared/catalog.ts';
import { createLogger } from '../../server/log.ts';
import type { FileInfo, Storage } from '../../storage/storage.ts';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFacts, probeMedia } from '../../storage/media-probe.ts';

describe('MemoryQuota', () => {
  it('holds at most maxStreamsPerClient per client, frees a slot on release (once), and keeps clients apart', () => {
    const quota = new MemoryQuota({ maxStreamsPerClient: 2, maxRequestsPerSec: 0 });
    const a1 = quota.admit('10.0.0.1');
    const a2 = quota.admit('10.0.0.1');
    assert.ok(a1.ok && a2.ok);
    assert.deepEqual(quota.admit('10.0.0.1'), { ok: false, reason: 'streams', retryAfterSec: 1 });
    assert.ok(quota.admit('10.0.0.2').ok, 'another client is not affected');
    a1.release();
    a1.release(); // a second release must not free a second slot
    assert.ok(quota.admit('10.0.0.1').ok);
    assert.equal(quota.admit('10.0.0.1').ok, false);
  });

  it('admits a burst of one second, then refills at the rate, with Retry-After in whole seconds', () => {
    let now = 1_000_000;
    const quota = new MemoryQuota({ maxStreamsPerClient: 0, maxRequestsPerSec: 3 }, () => now);
    const admitted = () => quota.admit('c').ok;
    assert.deepEqual([admitted(), admitted(), admitted(), admitted()], [true, true, true, false]);
    const refused = quota.admit('c');
    assert.ok(!refused.ok && refused.reason === 'rate' && refused.retryAfterSec === 1);
    now += 340; // 1.02 tokens back
    assert.deepEqual([admitted(), admitted()], [true, false]);
    now += 10_000;
    assert.deepEqual([admitted(), admitted(), admitted(), admitted()], [true, true, true, false], 'never more than one second of burst');
  });

  it('admits a request without a client address (its socket is gone) and counts nothing', () => {
    const quota = new MemoryQuota({ maxStreamsPerClient: 1, maxRequestsPerSec: 1 });
    assert.ok(quota.admit(undefined).ok && quota.admit(undefined).ok);
    assert.equal(quota.streamsByClient().size, 0);
  });
});

describe('percentilesOf', () => {
  it('reads percentiles as bucket upper bounds from counts that were summed across instances', () => {
    const a = TTFB_BOUNDS_MS.map(() => 0);
    const b = TTFB_BOUNDS_MS.map(() => 0);
    a[1] = 90; // 90 first bytes within 1 ms on one instance
    b[5] = 9; // 9 within 25 ms on another
    b[8] = 1; // 1 within 250 ms
    const merged = a.map((n, i) => n + b[i]!);
    assert.deepEqual(percentilesOf(merged), { p50: 1, p90: 1, p99: 25 });
    assert.equal(percentilesOf(TTFB_BOUNDS_MS.map(() => 0)), null);
    const slow = TTFB_BOUNDS_MS.map(() => 0);
    slow[TTFB_BOUNDS_MS.length - 1] = 1; // only +Inf: reported as the last finite bound
    assert.deepEqual(percentilesOf(slow), { p50: 2500, p90: 2500, p99: 2500 });
  });
});

/** A storage stand-in whose listing the test sets. */
function fakeStorage(files: FileInfo[]): Storage & { files: FileInfo[]; invalidations: number } {
  const fake = {
    files,
    invalidations: 0,
    list: async () => fake.files,
    stat: async (p: string) => {
      const info = fake.files.find((f) => f.path === p);
      if (!info) throw new Error('missing');
      return info;
    },
    invalidate: () => {
      fake.invalidations++;
    },
    probe: async (p: string) => (p.endsWith('.webm') ? { durationSec: 60, codecs: ['vp9', 'opus'] } : undefined),
  };
  return fake as unknown as Storage & { files: FileInfo[]; invalidations: number };
}

const info = (path: string, version: string, size = 10): FileInfo => ({ path, size, mtimeMs: 1000, version });

describe('Catalog', () => {
  it('indexes the folder, lists sorted records, and follows changes made through this instance', async () => {
    const storage = fakeStorage([info('b.mp4', 'v1'), info('a.webm', 'v1')]);
    const catalog = new Catalog({ storage, store: new MemoryRecordStore(), rescanMs: 0, isProbing: false, log: createLogger('silent') });
    await catalog.start();
    assert.deepEqual((await catalog.list()).map((r) => [r.path, r.etag, r.type]), [['a.webm', '"v1"', 'video/webm'], ['b.mp4', '"v1"', 'video/mp4']]);
    storage.files = [info('a.webm', 'v2', 20)];
    await catalog.noteChanged('a.webm');
    await catalog.noteChanged('b.mp4');
    assert.deepEqual((await catalog.list()).map((r) => [r.path, r.etag, r.size]), [['a.webm', '"v2"', 20]]);
    await catalog.stop();
  });

  it('a rescan applies its changes as compare-and-set: a record changed meanwhile is not overwritten', async () => {
    const store = new MemoryRecordStore();
    const newer: CatalogRecord = recordOf(info('a.webm', 'uploaded-elsewhere'));
    // The rescan read the store before another instance's upload landed: its expectation is stale.
    const stale = recordOf(info('a.webm', 'v0'));
    await store.set('a.webm', newer);
    const applied = await store.apply([{ path: 'a.webm', expected: stale, next: recordOf(info('a.webm', 'v1')) }]);
    assert.equal(applied, 0);
    assert.equal((await store.all()).get('a.webm')?.etag, '"uploaded-elsewhere"');
    assert.equal(await store.apply([{ path: 'a.webm', expected: newer, next: undefined }]), 1, 'a matching expectation applies');
    assert.equal((await store.all()).size, 0);
  });

  it('an announcement from another instance drops the open-file cache and the cached list', async () => {
    let announce: ((paths: readonly string[]) => void) | undefined;
    const store = new (class extends MemoryRecordStore {
      override onAnnounce(listener: (paths: readonly string[]) => void): void {
        announce = listener;
      }
    })();
    const storage = fakeStorage([info('a.webm', 'v1')]);
    const catalog = new Catalog({ storage, store, rescanMs: 0, isProbing: false, log: createLogger('silent') });
    await catalog.start();
    await catalog.list();
    await store.set('a.webm', recordOf(info('a.webm', 'v2')));
    assert.equal((await catalog.list())[0]!.etag, '"v1"', 'the cached list until told');
    announce!(['a.webm']);
    assert.equal(storage.invalidations, 1);
    assert.equal((await catalog.list())[0]!.etag, '"v2"');
    await catalog.stop();
  });
});

describe('media facts', () => {
  it('a new record gets duration and codecs in the background; a file with none keeps only its identity', async () => {
    const storage = fakeStorage([info('a.webm', 'v1'), info('b.bin', 'v1')]);
    const catalog = new Catalog({ storage, store: new MemoryRecordStore(), rescanMs: 0, isProbing: true, log: createLogger('silent') });
    await catalog.start();
    await catalog.stop(); // waits for the probe under way
    const [a, b] = await catalog.list();
    assert.deepEqual([a!.durationSec, a!.codecs], [60, ['vp9', 'opus']]);
    assert.deepEqual([b!.durationSec, b!.codecs], [undefined, undefined]);
  });

  it('parses ffprobe JSON and leaves out what it does not give', () => {
    assert.deepEqual(parseFacts('{"streams":[{"codec_name":"h264"},{"codec_name":"aac"}],"format":{"duration":"12.3456"}}'), {
      durationSec: 12.346,
      codecs: ['h264', 'aac'],
    });
    assert.deepEqual(parseFacts('{"streams":[{"codec_name":"webvtt"}],"format":{}}'), { codecs: ['webvtt'] });
    assert.equal(parseFacts('{"streams":[],"format":{}}'), undefined);
    assert.equal(parseFacts('not json'), undefined);
  });

  const sample = fileURLToPath(new URL('../../storage/sample-library/sample-vp9-opus.webm', import.meta.url));
  it('ffprobe reads the WebM sample: 60 s, VP9 and Opus', { skip: existsSync('/usr/bin/ffprobe') ? undefined : '/usr/bin/ffprobe not installed (apt-get install ffmpeg; .ci/run installs it)' }, async () => {
    const facts = await probeMedia(sample);
    assert.deepEqual(facts?.codecs, ['vp9', 'opus']);
    assert.ok(Math.abs((facts?.durationSec ?? 0) - 60) < 0.1, `duration ${facts?.durationSec}`);
  });
});
