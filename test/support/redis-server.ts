// A private redis-server (Debian's /usr/bin/redis-server) on a free loopback port for one test
// run: no persistence, stopped at the end. Tests still give each run its own key prefix.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './ports.ts';

export const REDIS_BINARY = '/usr/bin/redis-server';

export interface RedisProcess {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections but nothing answers (a hung Redis). */
  pause(): void;
  resume(): void;
}

export function missingRedis(): string | undefined {
  return existsSync(REDIS_BINARY) ? undefined : `${REDIS_BINARY} not installed (apt-get install redis-server; .ci/run installs it)`;
}

/** Starts redis-server on `port` (a free one when not given: a restart passes the old one). */
export async function startRedis(timeoutMs = 10_000, port?: number): Promise<RedisProcess> {
  port ??= await freePort();
  const child = spawn(REDIS_BINARY, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready within ${timeoutMs} ms: ${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (!output.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${exitCode}): ${output}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
