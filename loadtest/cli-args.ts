// The storm's command line: the usage text, and argv -> validated run settings. Every
// mistake is one UsageError line naming the option and what was expected.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Profile } from './report.ts';
import { LIMITS, makeStormSettings, PROFILE_NAMES, PROFILES, SettingsError } from './settings.ts';
import type { FlowWindows, StormRunSettings } from './settings.ts';

export const USAGE = `Usage: npm run storm -- <url> [url...] [options]

Seek-storm load test for an HTTP/2 media server. Virtual viewers play the URLs as a <video>
element does (Range: bytes=0-, reading at the bitrate behind a forward buffer, pauses) and
seek at random: RST_STREAM(CANCEL), then a new open-ended Range. https:// URLs use TLS
(ALPN h2); http:// URLs use cleartext h2c with prior knowledge. Every run is bounded in time
and in seeks and stops by itself.

LOOPBACK ONLY: load on any address other than 127.0.0.0/8, localhost or ::1 is forbidden in
this workplace, and the tool refuses such URLs. --allow-remote lifts the check; use it only
for a deployment you own and may load.

Options:
  --profile NAME              ${PROFILE_NAMES.join(' | ')} (default chrome-like)
  --viewers N                 virtual viewers, spread over the URLs (default 10, max ${LIMITS.maxViewers})
  --connections-per-viewer N  HTTP/2 connections per viewer, used in turn (default 1)
  --duration TIME             30s, 2m, 1h, 500ms; a bare number is seconds (default 30s, at most 1h)
  --max-seeks N               the run also ends after this many seeks (default 100000)
  --seek-interval-ms MS       mean time between one viewer's seeks (default: the profile's;
                              not for max-rate, which seeks again as soon as each read is done)
  --bitrate RATE              playback bitrate: 4M, 2.5M, 800k (bits/s), or max = unpaced
                              (default 4M; max for max-rate)
  --buffer-ahead-s S          media seconds buffered ahead before a viewer stops reading (default 10)
  --windows node|chrome       HTTP/2 receive windows: node = 64 KiB per stream (data queues on the
                              server soon after a viewer stops reading); chrome = 6 MiB per stream,
                              15 MiB per connection, as Chrome advertises (default node)
  --ttfb-timeout-ms MS        a seek with no first byte by then is a 'timeout' failure (default 5000)
  --verify                    check every received byte against a reference (one full GET first)
  --verify-file PATH          reference bytes from a local file (one URL only; implies --verify)
  --seed N                    seed for offsets, intervals and pauses (default: random, reported)
  --json FILE                 write the report (loadtest/report.ts schema) as JSON
  --html FILE                 write the report as an HTML page with charts
  --metrics-url URL           Prometheus endpoint scraped before and after (default: <origin>/metrics)
  --no-metrics                do not scrape the server's metrics
  --insecure                  accept any TLS certificate (self-signed test servers)
  --ca FILE                   also trust this CA certificate (PEM)
  --allow-remote              allow non-loopback hosts (see above)
  --fallback-origin ORIGIN    another server with the same files (https://host:port); when an
                              origin refuses a connection (e.g. it is draining), its unsent
                              streams are retried here. Repeatable, tried in order
  --quiet                     no progress output on stderr
  -h, --help                  show this text

Profiles:
${PROFILE_NAMES.map((name) => `  ${name.padEnd(13)} ${PROFILES[name].describe}`).join('\n')}

A seek counts every Range request a viewer issues (its first bytes=0- included); its TTFB
runs from issuing it to its first DATA byte, retries included. A graceful GOAWAY or a
REFUSED_STREAM before any response is retried on a fresh connection (at most 3 times per
seek) and counted as a retry, not a failure. Failure classes: server-reset, goaway-error,
protocol-error, timeout, connection-error, wrong-status, corrupt (streams with wrong bytes);
a connection that fails counts once, however many streams it cut.

Exit status: 0 clean run; 1 any failure or corrupt byte, or the storm could not start;
2 usage error.`;

export class UsageError extends Error {}

export type CliCommand =
  | { readonly kind: 'help' }
  | {
      readonly kind: 'run';
      readonly settings: StormRunSettings;
      readonly jsonFile?: string;
      readonly htmlFile?: string;
      readonly isQuiet: boolean;
    };

const OPTIONS = {
  profile: { type: 'string' },
  viewers: { type: 'string' },
  'connections-per-viewer': { type: 'string' },
  duration: { type: 'string' },
  'max-seeks': { type: 'string' },
  'seek-interval-ms': { type: 'string' },
  bitrate: { type: 'string' },
  'buffer-ahead-s': { type: 'string' },
  windows: { type: 'string' },
  'ttfb-timeout-ms': { type: 'string' },
  verify: { type: 'boolean' },
  'verify-file': { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  'metrics-url': { type: 'string' },
  'no-metrics': { type: 'boolean' },
  insecure: { type: 'boolean' },
  ca: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'fallback-origin': { type: 'string', multiple: true },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommandLine(argv: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(firstSentence((err as Error).message));
  }
  const { values: v, positionals: urls } = parsed;
  if (v.help) return { kind: 'help' };
  if (urls.length === 0) throw new UsageError('give at least one media URL, e.g. https://localhost:8443/media/sample-h264-aac.mp4');
  if (v['no-metrics'] && v['metrics-url'] !== undefined) throw new UsageError('--metrics-url and --no-metrics contradict each other');
  const profile = v.profile as Profile | undefined;
  if (profile !== undefined && !PROFILE_NAMES.includes(profile)) {
    throw new UsageError(`--profile: expected one of ${PROFILE_NAMES.join(', ')}, got "${profile}"`);
  }
  const optional = <T>(name: keyof typeof OPTIONS, read: (name: string, raw: string) => T): T | undefined => {
    const raw = v[name];
    return typeof raw === 'string' ? read(`--${name}`, raw) : undefined;
  };
  try {
    const settings = makeStormSettings({
      urls,
      profile,
      viewers: optional('viewers', positiveInt),
      connectionsPerViewer: optional('connections-per-viewer', positiveInt),
      durationMs: optional('duration', durationMs),
      maxSeeks: optional('max-seeks', positiveInt),
      seekIntervalMs: optional('seek-interval-ms', positiveInt),
      bitrateBps: optional('bitrate', bitrateBps),
      bufferAheadS: optional('buffer-ahead-s', positiveNumber),
      windows: optional('windows', flowWindows),
      ttfbTimeoutMs: optional('ttfb-timeout-ms', positiveInt),
      verify: v.verify ?? false,
      verifyFile: optional('verify-file', existingFile),
      seed: optional('seed', nonNegativeInt),
      metricsUrl: v['no-metrics'] ? null : v['metrics-url'],
      tls: { insecure: v.insecure ?? false, caPem: optional('ca', readPem) },
      allowRemote: v['allow-remote'] ?? false,
      fallbackOrigins: v['fallback-origin'] ?? [],
    });
    return {
      kind: 'run',
      settings,
      jsonFile: optional('json', writableFile),
      htmlFile: optional('html', writableFile),
      isQuiet: v.quiet ?? false,
    };
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}

function firstSentence(message: string): string {
  return message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
}

function positiveInt(name: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`${name}: expected a positive integer, got "${raw}"`);
  return Number(raw);
}

function nonNegativeInt(name: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 2 ** 32 - 1) throw new UsageError(`${name}: expected an integer from 0 to 4294967295, got "${raw}"`);
  return Number(raw);
}

function positiveNumber(name: string, raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) <= 0) throw new UsageError(`${name}: expected a number above 0, got "${raw}"`);
  return Number(raw);
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

function durationMs(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|min|h)?$/.exec(raw.trim());
  if (!match) throw new UsageError(`${name}: expected a duration like 30s, 2m or 1h, got "${raw}"`);
  const ms = Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 's']);
  if (ms < 1) throw new UsageError(`${name}: must be at least 1ms, got "${raw}"`);
  if (ms > LIMITS.maxDurationMs) throw new UsageError(`${name}: at most 1h (every run is bounded), got "${raw}"`);
  return ms;
}

const BITRATE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };

function bitrateBps(name: string, raw: string): number {
  if (raw.toLowerCase() === 'max') return 0;
  const match = /^(\d+(?:\.\d+)?)([kmg]?)(?:bps|bit\/s)?$/i.exec(raw.trim());
  if (!match || Number(match[1]) <= 0) throw new UsageError(`${name}: expected bits per second like 4M, 800k or max, got "${raw}"`);
  return Math.round(Number(match[1]) * BITRATE_UNITS[match[2].toLowerCase()]);
}

function existingFile(name: string, raw: string): string {
  if (!existsSync(raw) || !statSync(raw).isFile()) throw new UsageError(`${name}: no such file: ${raw}`);
  return raw;
}

function readPem(name: string, raw: string): string {
  const pem = readFileSync(existingFile(name, raw), 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`${name}: ${raw} holds no PEM certificate`);
  return pem;
}

function writableFile(name: string, raw: string): string {
  const dir = path.dirname(path.resolve(raw));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${name}: folder ${dir} does not exist`);
  return raw;
}

function flowWindows(name: string, raw: string): FlowWindows {
  if (raw === 'node' || raw === 'chrome') return raw;
  throw new UsageError(`${name}: expected node or chrome, got "${raw}"`);
}
