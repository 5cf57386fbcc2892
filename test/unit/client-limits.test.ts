// The per-client table (connection/client-limits.ts) without sockets: which addresses are one
// client, how a penalty grows with repeats and ends, and that the penalty box stays bounded.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientLimits, clientKey } from '../../server/connection/client-limits.ts';

describe('clientKey', () => {
  const cases: readonly [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ];
  for (const [address, key] of cases) it(`${address} -> ${key}`, () => assert.equal(clientKey(address), key));
});

describe('ClientLimits penalty box', () => {
  const make = (penaltyMs: number, maxPenalisedClients?: number) => {
    let now = 1_000_000;
    const limits = new ClientLimits({ maxConnectionsPerClient: 0, penaltyMs, maxPenalisedClients, onRefuse: () => {}, now: () => now });
    return { limits, advance: (ms: number) => (now += ms) };
  };

  it('refuses a penalised client for penaltyMs, doubling per repeat up to 16x', () => {
    const { limits, advance } = make(1000);
    limits.penalise('192.0.2.1');
    assert.equal(limits.isPenalised('::ffff:192.0.2.1'), true);
    assert.equal(limits.isPenalised('192.0.2.2'), false);
    advance(1000);
    assert.equal(limits.isPenalised('192.0.2.1'), false);
    const expected = [2000, 4000, 8000, 16_000, 16_000];
    for (const ms of expected) {
      limits.penalise('192.0.2.1');
      advance(ms - 1);
      assert.equal(limits.isPenalised('192.0.2.1'), true, `still penalised just before ${ms} ms`);
      advance(1);
      assert.equal(limits.isPenalised('192.0.2.1'), false, `free after ${ms} ms`);
    }
  });

  it('forgets old offences: a penalty long after the last one starts again at 1x', () => {
    const { limits, advance } = make(1000);
    limits.penalise('192.0.2.1');
    advance(1000 + 16 * 1000);
    limits.penalise('192.0.2.1');
    advance(1000);
    assert.equal(limits.isPenalised('192.0.2.1'), false);
  });

  it('penaltyMs 0 turns the box off', () => {
    const { limits } = make(0);
    limits.penalise('192.0.2.1');
    assert.equal(limits.isPenalised('192.0.2.1'), false);
  });

  it('keeps at most maxPenalisedClients, dropping the stalest', () => {
    const { limits, advance } = make(60_000, 3);
    for (const n of [1, 2, 3, 4]) {
      limits.penalise(`192.0.2.${n}`);
      advance(1);
    }
    assert.equal(limits.isPenalised('192.0.2.1'), false, 'the oldest entry was dropped');
    for (const n of [2, 3, 4]) assert.equal(limits.isPenalised(`192.0.2.${n}`), true);
  });
});
