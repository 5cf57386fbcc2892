// Reading Chrome's net log (support/net-log.ts) on a small synthetic log: event types come
// from the file's constants, GOAWAY codes other than NO_ERROR and sessions closed with an
// error (not ERR_ABORTED) are counted, and a log cut off mid-way is still read.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { readNetLogHttp2 } from '../support/net-log.ts';

const TYPES = { HTTP2_SESSION_SEND_RST_STREAM: 11, HTTP2_SESSION_RECV_RST_STREAM: 12, HTTP2_SESSION_RECV_GOAWAY: 13, HTTP2_SESSION_CLOSE: 14, OTHER: 15 };
const EVENTS = [
  { type: 11, params: { error_code: '8 (CANCEL)' } },
  { type: 11, params: { error_code: '8 (CANCEL)' } },
  { type: 15 },
  { type: 12, params: { error_code: '8 (CANCEL)' } },
  { type: 13, params: { error_code: '0 (NO_ERROR)' } },
  { type: 13, params: { error_code: '2 (INTERNAL_ERROR)' } },
  { type: 14, params: { net_error: 0 } },
  { type: 14, params: { net_error: -101 } },
  { type: 14, params: { net_error: -3 } },
];

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'netlog-unit-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The layout Chrome writes: constants first, then one event per line. */
function netLogText(events: readonly object[], isComplete: boolean): string {
  const lines = events.map((e) => JSON.stringify(e)).join(',\n');
  return `{"constants":${JSON.stringify({ logEventTypes: TYPES })},\n"events": [\n${lines}${isComplete ? '\n]}\n' : ',\n{"type": 1'}`;
}

it('counts RST_STREAM sent and received, GOAWAY codes, and sessions closed with an error', async () => {
  const file = path.join(dir, 'complete.json');
  await writeFile(file, netLogText(EVENTS, true));
  assert.deepEqual(await readNetLogHttp2(file), {
    rstStreamsSent: 2,
    rstStreamsReceived: { '8 (CANCEL)': 1 },
    goawaysReceived: ['0 (NO_ERROR)', '2 (INTERNAL_ERROR)'],
    goawayErrors: 1,
    sessionErrors: 1,
  });
});

it('reads a log whose browser did not shut down cleanly (the events array left open)', async () => {
  const file = path.join(dir, 'cut.json');
  await writeFile(file, netLogText(EVENTS, false));
  const summary = await readNetLogHttp2(file);
  assert.equal(summary.rstStreamsSent, 2);
  assert.equal(summary.goawayErrors, 1);
});
