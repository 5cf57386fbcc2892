// What the Node peer scripts (respondwithfd, fastify-static, koa-send) share: their settings
// from the environment, read and checked in one place, and a prompt exit on SIGTERM.

import { readFileSync } from 'node:fs';

export interface ScriptSettings {
  readonly port: number;
  readonly host: string;
  readonly mediaRoot: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function readScriptSettings(env: NodeJS.ProcessEnv = process.env): ScriptSettings {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) {
      process.stderr.write(`${name} is required (PORT, MEDIA_ROOT, TLS_CERT, TLS_KEY; HOST defaults to 127.0.0.1)\n`);
      process.exit(1);
    }
    return value;
  };
  const port = Number(required('PORT'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`PORT must be a port number, got ${JSON.stringify(env.PORT)}\n`);
    process.exit(1);
  }
  return {
    port,
    host: env.HOST || '127.0.0.1',
    mediaRoot: required('MEDIA_ROOT'),
    cert: readPem('TLS_CERT', required('TLS_CERT')),
    key: readPem('TLS_KEY', required('TLS_KEY')),
  };
}

function readPem(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    process.stderr.write(`${name}: cannot read ${file}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

/** Exit at once on SIGTERM/SIGINT: open HTTP/2 sessions would keep a graceful close waiting. */
export function exitOnSignal(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
}
