// The real server process, started as `npm start` starts it (`node server/start.js`, which runs
// server/main.ts) for lifecycle tests: JSON log lines read from its stdout, the port learnt
// from the 'listening' line (PORT=0), signals, and how it exited.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const NODE = path.resolve('node_modules/.bin/node');
const MAIN = path.resolve('server/start.js');

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when it exited. */
  readonly atMs: number;
}

export interface ServerProcess {
  /** https://127.0.0.1:PORT (self-signed: clients connect with insecure / rejectUnauthorized false). */
  readonly origin: string;
  readonly logLines: ReadonlyArray<Record<string, unknown>>;
  readonly exited: Promise<ProcessExit>;
  /** Sends a signal; returns performance.now() at that moment. */
  signal(signal: NodeJS.Signals): number;
  /** The first log line whose msg starts with `prefix`, waiting for it up to timeoutMs. */
  waitForLog(prefix: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILL if it is still running (test cleanup). */
  kill(): void;
}

export async function spawnServer(env: Record<string, string>, startTimeoutMs = 20_000): Promise<ServerProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'media-process-'));
  const child: ChildProcess = spawn(NODE, [MAIN], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logLines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let stderr = '';
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logLines.push({ msg: line });
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let hasExited = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      for (const wake of waiters.splice(0)) wake();
      resolve({ code, signal, atMs: performance.now() });
    });
  });
  const waitForLog = async (prefix: string, timeoutMs = 10_000): Promise<Record<string, unknown>> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = logLines.find((l) => typeof l.msg === 'string' && l.msg.startsWith(prefix));
      if (line) return line;
      if (hasExited) throw new Error(`server exited without logging "${prefix}"; stderr: ${stderr}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no "${prefix}" log line within ${timeoutMs} ms; stderr: ${stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const kill = (): void => {
    if (!hasExited) child.kill('SIGKILL');
  };
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog('listening', startTimeoutMs);
  } catch (err) {
    kill();
    throw err;
  }
  const port = new URL(String(listening.url)).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    logLines,
    exited,
    signal(signal) {
      const at = performance.now();
      child.kill(signal);
      return at;
    },
    waitForLog,
    kill,
  };
}
