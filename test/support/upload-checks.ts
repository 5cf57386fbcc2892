// Checks shared by the upload tests: the server's log lines for a body that was not whole,
// and "this HTTP/2 connection still serves" on a raw connection.

import assert from 'node:assert/strict';
import type { RawH2Connection } from './raw-h2.ts';
import type { TestServer } from './server-harness.ts';
import { rawSend } from './upload-client.ts';

export type LogLine = Record<string, unknown>;
export const WARN = 40;

/** Request headers for the raw client, pseudo-headers first. */
export const h2Headers = (method: string, urlPath: string, extra: Record<string, string> = {}): [string, string][] => [
  [':method', method],
  [':scheme', 'https'],
  [':authority', 'localhost'],
  [':path', urlPath],
  ...Object.entries(extra),
];

/** Waits until `count` lines logged since `since` match, then gives every line since `since`. */
export async function waitForLog(server: TestServer, since: number, match: (line: LogLine) => boolean, count = 1): Promise<LogLine[]> {
  const deadline = Date.now() + 5000;
  while (server.logLines.slice(since).filter(match).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return server.logLines.slice(since);
}

/** Exactly one warning for `urlPath`, its upload not whole; nothing at error, no stack. */
export function assertOneCutOffLine(lines: readonly LogLine[], urlPath: string): LogLine {
  const mine = lines.filter((l) => l.path === urlPath);
  assert.equal(mine.length, 1, `one log line for ${urlPath}: ${JSON.stringify(lines)}`);
  assert.equal(mine[0]!.level, WARN);
  assert.equal(mine[0]!.ended, 'incomplete');
  assert.ok(!lines.some((l) => (l.level as number) > WARN), `nothing logged as an error: ${JSON.stringify(lines)}`);
  assert.ok(!lines.some((l) => 'stack' in l || (typeof l.err === 'object' && l.err !== null)), 'no stack');
  return mine[0]!;
}

/** Another request on the same HTTP/2 connection still succeeds: GET `urlPath` gives `size` bytes. */
export async function assertSameConnectionServes(conn: RawH2Connection, urlPath: string, size: number): Promise<void> {
  assert.equal(conn.isClosed, false, 'the connection is still open');
  assert.equal(conn.lastGoaway, undefined, 'no GOAWAY');
  const { reply } = rawSend(conn, h2Headers('GET', urlPath), undefined, { end: true });
  const res = await reply;
  assert.equal(res.status, 200);
  assert.equal(res.body.length, size);
}
