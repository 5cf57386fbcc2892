// HAProxy (Debian's /usr/sbin/haproxy) as a child process with the deployment's own config,
// deploy/haproxy.cfg, for the scale-out test: foreground (-db), its log lines from stdout, and
// its runtime API on a unix socket (`show stat`) to see which servers are UP and what each got.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const HAPROXY_BINARY = '/usr/sbin/haproxy';
/** The config docker-compose.yml mounts (checked by test/unit/deploy.test.ts). */
export const HAPROXY_CONFIG = path.resolve('deploy/haproxy.cfg');

/** Every "${VAR}" the config reads; startHaproxy() sets them all (the stats socket itself). */
export const HAPROXY_CONFIG_VARIABLES = ['HAPROXY_BIND', 'HAPROXY_STATS_BIND', 'HAPROXY_STATS_SOCKET', 'MEDIA_1_ADDR', 'MEDIA_2_ADDR'] as const;

export type HaproxyEnv = Readonly<Record<Exclude<(typeof HAPROXY_CONFIG_VARIABLES)[number], 'HAPROXY_STATS_SOCKET'>, string>>;

/** One server's row of `show stat` (the CSV's columns we use). */
export interface ServerStat {
  readonly status: string; // UP, DOWN, UP 1/2, DOWN 1/2, ...
  readonly sessionsTotal: number; // stot: connections it was given
  readonly connectionErrors: number; // econ
  readonly retries: number; // wretr
  readonly redispatches: number; // wredis
  readonly checksFailed: number; // chkfail
  readonly downTransitions: number; // chkdown
}

export interface LogLine {
  readonly text: string;
  /** Date.now() when the line was read. */
  readonly atEpochMs: number;
}

export interface HaproxyProcess {
  readonly logLines: readonly LogLine[];
  /** `show stat` rows of the media backend's servers, by name. */
  stats(): Promise<Map<string, ServerStat>>;
  /** Waits until every named server has the given status (UP or DOWN). */
  waitForStatus(wanted: Readonly<Record<string, 'UP' | 'DOWN'>>, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function missingHaproxy(): string | undefined {
  return existsSync(HAPROXY_BINARY) ? undefined : `${HAPROXY_BINARY} not installed (apt-get install haproxy; .ci/run installs it)`;
}

export async function startHaproxy(env: HaproxyEnv): Promise<HaproxyProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'haproxy-'));
  const socketPath = path.join(dir, 'stats.sock');
  const child: ChildProcess = spawn(HAPROXY_BINARY, ['-db', '-f', HAPROXY_CONFIG], {
    env: { PATH: process.env.PATH, ...env, HAPROXY_STATS_SOCKET: socketPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logLines: LogLine[] = [];
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    const lines = output.split('\n');
    output = lines.pop() ?? '';
    for (const text of lines) if (text.trim()) logLines.push({ text, atEpochMs: Date.now() });
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));

  const stats = async (): Promise<Map<string, ServerStat>> => parseShowStat(await runtimeCommand(socketPath, 'show stat'));
  const waitForStatus = async (wanted: Readonly<Record<string, 'UP' | 'DOWN'>>, timeoutMs = 20_000): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`haproxy exited (${exitCode}): ${logLines.map((l) => l.text).join('\n')}`);
      const rows = await stats().catch(() => new Map<string, ServerStat>());
      if (Object.entries(wanted).every(([name, status]) => rows.get(name)?.status === status)) return;
      if (performance.now() > deadline) {
        throw new Error(`haproxy servers not ${JSON.stringify(wanted)} within ${timeoutMs} ms: ${JSON.stringify(Object.fromEntries(rows))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    logLines,
    stats,
    waitForStatus,
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function runtimeCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = '';
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** The media backend's server rows of `show stat` CSV (header line starts with "# "). */
export function parseShowStat(csv: string): Map<string, ServerStat> {
  const [headerLine, ...rows] = csv.split('\n').filter((line) => line.trim());
  if (!headerLine?.startsWith('# ')) return new Map();
  const columns = headerLine.slice(2).split(',');
  const out = new Map<string, ServerStat>();
  for (const row of rows) {
    const values = row.split(',');
    const field = (name: string): string => values[columns.indexOf(name)] ?? '';
    const count = (name: string): number => Number(field(name) || 0);
    if (field('pxname') !== 'media' || field('svname') === 'BACKEND' || field('svname') === 'FRONTEND') continue;
    out.set(field('svname'), {
      status: field('status'),
      sessionsTotal: count('stot'),
      connectionErrors: count('econ'),
      retries: count('wretr'),
      redispatches: count('wredis'),
      checksFailed: count('chkfail'),
      downTransitions: count('chkdown'),
    });
  }
  return out;
}
