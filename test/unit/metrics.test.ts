// The media tally (server/metrics.ts): the hot path bumps plain numbers and a scrape turns them
// into Prometheus text. A scrape must read exactly what prom-client's own Counter and Histogram
// would have shown for the same responses, so dashboards and instance-stats.ts see no change.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { BucketCounts, MediaTally, TTFB_BUCKETS_SEC, TallyHistogram } from '../../server/metrics.ts';
import type { SendOutcome } from '../../server/streaming/send-body.ts';

/** First-byte times that land on, just under and just over bucket bounds, and past the last one. */
const TTFB_SAMPLES = [0.0001, 0.0005, 0.00050001, 0.001, 0.003, 0.0099, 0.01, 0.3, 2.5, 2.6, 17];

describe('TallyHistogram', () => {
  it("exposes the same text as prom-client's Histogram for the same observations", async () => {
    const ours = new Registry();
    const tally = new BucketCounts(TTFB_BUCKETS_SEC);
    ours.registerMetric(new TallyHistogram('ttfb_seconds', 'help text', tally) as never);
    const theirs = new Registry();
    const histogram = new Histogram({ name: 'ttfb_seconds', help: 'help text', buckets: [...TTFB_BUCKETS_SEC], registers: [theirs] });
    for (const seconds of TTFB_SAMPLES) {
      tally.observe(seconds);
      histogram.observe(seconds);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    // A bound is inclusive (le): an observation equal to a bound counts in that bucket.
    assert.equal(tally.counts[0], 2, '0.0001 and 0.0005 are both <= 0.0005');
    assert.equal(tally.counts[TTFB_BUCKETS_SEC.length], 2, '2.6 and 17 are past the last bound');
  });

  it('resets with the registry', async () => {
    const registry = new Registry();
    const tally = new BucketCounts([1]);
    registry.registerMetric(new TallyHistogram('h', 'h', tally) as never);
    tally.observe(0.5);
    registry.resetMetrics();
    assert.deepEqual([...tally.counts, tally.sum, tally.count], [0, 0, 0, 0]);
  });
});

describe('MediaTally', () => {
  it("counts responses by status and outcome as prom-client's labelled Counter did, bytes and resets too", async () => {
    const tally = new MediaTally();
    const responses = new Registry();
    new Counter({
      name: 'responses_total',
      help: 'h',
      labelNames: ['status', 'outcome'] as const,
      registers: [responses],
      collect() {
        this.reset();
        for (const [status, outcome, count] of tally.responseCounts()) this.inc({ status: String(status), outcome }, count);
      },
    });
    const expected = new Registry();
    const direct = new Counter({ name: 'responses_total', help: 'h', labelNames: ['status', 'outcome'] as const, registers: [expected] });
    const done: [number, SendOutcome, number][] = [
      [206, 'complete', 65536],
      [206, 'client-reset', 1000],
      [206, 'complete', 10],
      [200, 'server-cancel', 5],
      [500, 'error', 7],
      [304, 'complete', 0],
      [206, 'client-reset', 24],
    ];
    for (const [status, outcome, bytes] of done) {
      tally.responseDone(status, outcome, bytes);
      direct.inc({ status: String(status), outcome });
    }
    assert.equal(await responses.metrics(), await expected.metrics());
    assert.equal(tally.bytesSent, 65536 + 1000 + 10 + 5 + 7 + 24);
    assert.equal(tally.resetsReceived, 2);
    assert.equal(tally.cancelledStreamBytes, 1024);
  });
});
