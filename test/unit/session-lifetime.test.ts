// Rotation of healthy HTTP/2 sessions (server/http2/session-lifetime.ts) and the load tool's
// origin failover (loadtest/origins.ts): pure policies, as tables.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lifetimeRotation } from '../../server/http2/session-lifetime.ts';
import { OriginChoice } from '../../loadtest/origins.ts';

describe('lifetimeRotation', () => {
  const limits = { maxAgeMs: 600_000, maxStreams: 10_000 };
  const cases: [string, { maxAgeMs: number; maxStreams: number }, number, number, string | undefined][] = [
    ['young and few streams', limits, 1000, 10, undefined],
    ['the stream that reaches the limit', limits, 1000, 10_000, 'max-streams'],
    ['past the stream limit', limits, 1000, 10_001, 'max-streams'],
    ['one stream short', limits, 599_999, 9_999, undefined],
    ['at the age limit', limits, 600_000, 0, 'max-age'],
    ['both: streams named first', limits, 700_000, 20_000, 'max-streams'],
    ['age limit off', { maxAgeMs: 0, maxStreams: 10_000 }, 10 ** 12, 5, undefined],
    ['stream limit off', { maxAgeMs: 600_000, maxStreams: 0 }, 5, 10 ** 9, undefined],
    ['both off', { maxAgeMs: 0, maxStreams: 0 }, 10 ** 12, 10 ** 9, undefined],
  ];
  for (const [name, l, ageMs, streams, want] of cases) {
    it(`${name}: ${want ?? 'no rotation'}`, () => assert.equal(lifetimeRotation(l, ageMs, streams), want));
  }
});

describe('OriginChoice', () => {
  it('uses the URL origin until it refuses a connection, then the fallbacks in order', () => {
    const choice = new OriginChoice('https://127.0.0.1:1', ['https://127.0.0.1:2', 'https://127.0.0.1:3']);
    assert.equal(choice.current, 'https://127.0.0.1:1');
    assert.equal(choice.refused('https://127.0.0.1:1'), true);
    assert.equal(choice.current, 'https://127.0.0.1:2');
    assert.equal(choice.refused('https://127.0.0.1:2'), true);
    assert.equal(choice.current, 'https://127.0.0.1:3');
    assert.equal(choice.refused('https://127.0.0.1:3'), false, 'nothing left: the refusal is a failure');
  });
  it('with no fallback a refusal is a failure', () => {
    const choice = new OriginChoice('http://127.0.0.1:1', []);
    assert.equal(choice.refused('http://127.0.0.1:1'), false);
    assert.equal(choice.current, 'http://127.0.0.1:1');
  });
});
