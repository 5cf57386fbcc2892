// Runs one peer as a child process: a free loopback port, a folder of its own under the
// bench's workDir, stdout/stderr into a log file, readiness = a TLS handshake that picks h2,
// and a stop that escalates from SIGTERM to SIGKILL. Each child leads its own process group
// (nginx forks a worker), so stopping or cleaning up reaches the whole tree; children still
// running when the bench exits or is interrupted are killed, and a small reaper process
// (reaper.ts) kills them if the bench itself is killed with SIGKILL.

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants, readdirSync, readFileSync } from 'node:fs';
import { access, mkdtemp, open, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { PeerHandle } from './peer.ts';
import { projectNodeBinary } from './project-node.ts';

const peersDir = path.dirname(fileURLToPath(import.meta.url));

export const READY_TIMEOUT_MS = 10_000;
export const STOP_TIMEOUT_MS = 5_000;
const READY_POLL_MS = 50;
const GROUP_GONE_TIMEOUT_MS = 2_000;
const PROBE_TIMEOUT_MS = 1_000;
const LOG_TAIL_LINES = 30;

export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** The loopback port the child was told to listen on. */
  readonly port: number;
  /** The child's own folder; its log goes to `<dir>/<name>.log`. */
  readonly dir: string;
}

/** A port that was free on 127.0.0.1 a moment ago (listen on 0, read it, close). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh folder for one start of one peer, so restarts never share configs, pids or logs. */
export function makePeerDir(workDir: string, name: string): Promise<string> {
  return mkdtemp(path.join(workDir, `peer-${name}-`));
}

export async function isExecutable(file: string): Promise<boolean> {
  return access(file, fsConstants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Spawns the child and resolves once it accepts TLS with ALPN h2; fails with the log's tail. */
export async function startChild(spec: ChildSpec): Promise<PeerHandle> {
  const logFile = path.join(spec.dir, `${spec.name}.log`);
  const log = await open(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', log.fd, log.fd],
      detached: true, // its own process group: stop() and cleanup signal the whole tree
    });
  } finally {
    await log.close(); // the child holds its own copy of the descriptor
  }
  const exited = trackChild(child);
  child.unref(); // a running peer must not keep the bench alive; stop() or the cleanup ends it
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = once(() => stopChild(child, exited));
  try {
    await waitUntilReady(spec, exited, spawnError);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- ${logFile} (last ${LOG_TAIL_LINES} lines) ---\n${await logTail(logFile)}`);
  }
  return { name: spec.name, url: `https://localhost:${spec.port}`, pid: child.pid, logFile, stop };
}

async function waitUntilReady(spec: ChildSpec, exited: Promise<ExitStatus>, spawnError: Promise<Error>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let status: ExitStatus | undefined;
  let failure: Error | undefined;
  void exited.then((s) => (status = s));
  void spawnError.then((e) => (failure = e));
  let lastProblem = 'no connection yet';
  while (Date.now() < deadline) {
    if (failure) throw new Error(`${spec.name}: could not spawn ${spec.command}: ${failure.message}`);
    if (status) throw new Error(`${spec.name} exited before accepting connections (${describeExit(status)})`);
    const alpn = await probeAlpn(spec.port).catch((err: Error) => err);
    if (alpn === 'h2') return;
    lastProblem = alpn instanceof Error ? alpn.message : `TLS handshake chose ALPN ${JSON.stringify(alpn)}, not h2`;
    await sleep(READY_POLL_MS);
  }
  throw new Error(`${spec.name} did not accept TLS with ALPN h2 on 127.0.0.1:${spec.port} within ${READY_TIMEOUT_MS / 1000} s (${lastProblem})`);
}

/** One TLS handshake offering only h2; resolves with the protocol the server chose. */
function probeAlpn(port: number): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false });
    socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('secureConnect', () => {
      resolve(socket.alpnProtocol);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function describeExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** SIGTERM to the group, SIGKILL after STOP_TIMEOUT_MS, then SIGKILL to any straggler in the group. */
async function stopChild(child: ChildProcess, exited: Promise<ExitStatus>): Promise<void> {
  if (child.pid === undefined) return; // never spawned
  child.ref(); // an unref'd child would let the event loop end before its 'exit' arrives
  signalGroup(child.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout')));
  const outcome = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    signalGroup(child.pid, 'SIGKILL');
    await exited;
  }
  // The leader is gone; a forked helper (nginx's worker, h2o's neverbleed key process) must
  // not outlive it. Wait until the kernel has removed the whole group.
  signalGroup(child.pid, 'SIGKILL');
  const deadline = Date.now() + GROUP_GONE_TIMEOUT_MS;
  while (isGroupAlive(child.pid) && Date.now() < deadline) await sleep(10);
  liveGroups.delete(child.pid);
  tellReaper({ remove: child.pid });
}

function isGroupAlive(pgid: number): boolean {
  return liveGroupMembers(pgid).length > 0;
}

/**
 * Processes of a process group that are still running. Zombies do not count: a helper that
 * outlived its leader (h2o's neverbleed) is reparented to init, which reaps it when it gets to
 * it, possibly seconds later. Without /proc, any member (zombie or not) counts.
 */
export function liveGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? [pgid] : [];
    }
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so cut at the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

// --- children never outlive the bench ---

/** Process groups started and not yet stopped (a leader that died alone may leave helpers). */
const liveGroups = new Set<number>();
let isCleanupInstalled = false;

function trackChild(child: ChildProcess): Promise<ExitStatus> {
  installCleanup();
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    tellReaper({ add: pid });
  }
  return new Promise((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => resolve({ code, signal });
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
    child.once('error', () => {
      if (child.pid === undefined) done(null, null); // spawn failed: no process to wait for
    });
  });
}

let reaper: ChildProcess | undefined;

/** Registers (or, once stopped, unregisters) a group with the reaper, started on first use. */
function tellReaper(message: { add: number } | { remove: number }): void {
  if (!reaper) {
    reaper = spawn(projectNodeBinary(), [path.join(peersDir, 'reaper.ts')], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], detached: true });
    reaper.on('error', () => {}); // a reaper that could not start leaves the 'exit' handler as the safety net
    reaper.unref();
    reaper.channel?.unref();
  }
  if (reaper.connected) reaper.send(message);
}

function killAllChildren(): void {
  for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
  liveGroups.clear();
}

function installCleanup(): void {
  if (isCleanupInstalled) return;
  isCleanupInstalled = true;
  process.once('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllChildren();
      process.off(signal, onSignal);
      // Keep the signal's usual effect when nobody else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// --- small helpers ---

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.trimEnd().split('\n');
  return lines.slice(-LOG_TAIL_LINES).join('\n') || '(empty)';
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= fn());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The first line of `command args` (stdout or stderr) that matches, e.g. a version. */
export function commandOutputLine(command: string, args: readonly string[], pattern: RegExp): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000 }, (_err, stdout, stderr) => {
      const line = `${stdout}\n${stderr}`.split('\n').find((l) => pattern.test(l));
      resolve(line?.trim());
    });
  });
}
