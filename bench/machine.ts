// The machine a benchmark ran on, written next to its figures.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MachineDescription {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly kernel: string;
  readonly node: string;
  readonly peerVersions: Readonly<Record<string, string>>;
}

async function versionOf(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: 5000 });
    return (stdout || stderr).split('\n')[0]!.trim();
  } catch {
    return undefined;
  }
}

export async function describeMachine(): Promise<MachineDescription> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const peerVersions: Record<string, string> = {};
  const probes: [string, string, string[]][] = [
    ['nginx', 'nginx', ['-v']],
    ['h2o', 'h2o', ['--version']],
    ['caddy', 'caddy', ['version']],
    ['h2load', 'h2load', ['--version']],
  ];
  for (const [name, command, args] of probes) {
    const v = await versionOf(command, args);
    if (v) peerVersions[name] = v;
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: /PRETTY_NAME="([^"]+)"/.exec(osRelease)?.[1] ?? os.type(),
    kernel: os.release(),
    node: process.version,
    peerVersions,
  };
}
