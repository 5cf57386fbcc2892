// The load tool's --windows switch: what the viewers' HTTP/2 connections advertise.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { openSession } from '../../loadtest/connection.ts';
import { parseCommandLine } from '../../loadtest/cli-args.ts';
import { CHROME_WINDOWS, makeStormSettings } from '../../loadtest/settings.ts';

async function advertised(windows: 'node' | 'chrome'): Promise<{ streamWindow: number; connectionWindow: number }> {
  const server = http2.createServer();
  const seen = new Promise<number>((resolve) =>
    server.on('session', (s) => s.once('remoteSettings', (settings) => resolve(settings.initialWindowSize ?? 65535))),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = openSession(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { insecure: false }, windows);
  await new Promise((r) => session.once('connect', r));
  await new Promise((r) => setImmediate(r));
  const streamWindow = await seen;
  const connectionWindow = session.state.localWindowSize ?? 0;
  session.close();
  server.close();
  return { streamWindow, connectionWindow };
}

describe('load tool --windows', () => {
  it('node (default): Node client defaults, 64 KiB per stream', async () => {
    assert.equal(makeStormSettings({ urls: ['http://127.0.0.1:1/x'] }).windows, 'node');
    const { streamWindow } = await advertised('node');
    assert.equal(streamWindow, 65535);
  });

  it("chrome: 6 MiB per stream and 15 MiB per connection, as Chrome advertises", async () => {
    const { streamWindow, connectionWindow } = await advertised('chrome');
    assert.equal(streamWindow, CHROME_WINDOWS.streamBytes);
    assert.equal(connectionWindow, CHROME_WINDOWS.connectionBytes);
  });

  it('the command line takes node or chrome, and refuses anything else', () => {
    const run = parseCommandLine(['http://127.0.0.1:1/x', '--windows', 'chrome']);
    assert.equal(run.kind === 'run' && run.settings.windows, 'chrome');
    assert.throws(() => parseCommandLine(['http://127.0.0.1:1/x', '--windows', 'firefox']), /node or chrome/);
  });
});
