// What a storm run is told to do: the report's StormSettings plus what the engine needs and
// the report does not record (trust, buffer size, reference file, metrics URL). Profiles give
// defaults; explicit values override them. Validated here, in one place, then frozen.

import type { Profile, StormSettings } from './report.ts';
import { remoteRefusal } from './loopback.ts';

export interface TlsTrust {
  /** Accept any certificate (self-signed test servers). */
  readonly insecure: boolean;
  /** PEM of an extra CA to trust. */
  readonly caPem?: string;
}

/**
 * HTTP/2 receive windows the viewers advertise. 'node': Node's defaults (64 KiB per stream),
 * so a paused viewer makes data queue on the server early; 'chrome': what Chrome advertises
 * (6 MiB per stream, 15 MiB per connection), so a paused viewer buffers far more first.
 */
export type FlowWindows = 'node' | 'chrome';

export const CHROME_WINDOWS = { streamBytes: 6 * 1024 * 1024, connectionBytes: 15 * 1024 * 1024 } as const;

export interface StormRunSettings extends StormSettings {
  readonly windows: FlowWindows;
  /** Seconds of media a viewer buffers ahead of its playhead before it stops reading. */
  readonly bufferAheadS: number;
  /** Reference file for --verify with a single URL; otherwise the URL is downloaded first. */
  readonly verifyFile?: string;
  readonly tls: TlsTrust;
  /** Prometheus endpoint scraped before and after; null: do not scrape. */
  readonly metricsUrl: string | null;
  readonly allowRemote: boolean;
  /**
   * Origins (scheme://host:port) serving the same files, tried in order when an origin refuses
   * a connection (loadtest/origins.ts); streams it left unsent are retried there.
   */
  readonly fallbackOrigins: readonly string[];
}

/** How a profile's viewers behave; seekIntervalMs and bitrate are overridable defaults. */
export interface ProfileDefaults {
  readonly seekIntervalMs: number;
  readonly bitrateBps: number;
  readonly describe: string;
}

export const PROFILES: Readonly<Record<Profile, ProfileDefaults>> = {
  'chrome-like': {
    seekIntervalMs: 5000,
    bitrateBps: 4_000_000,
    describe: 'plays at the bitrate with a forward buffer, seeks every ~5 s (exponential), pauses 1-5 s now and then',
  },
  scrubbing: {
    seekIntervalMs: 100,
    bitrateBps: 4_000_000,
    describe: 'fast drag: a seek every 50-150 ms, each reading only 32-256 KiB',
  },
  'paused-seeks': {
    seekIntervalMs: 1100,
    bitrateBps: 4_000_000,
    describe: 'reads 16-512 KiB, stops reading for 0.2-2 s (data queues behind flow control), then seeks',
  },
  // No pacing: seeks/s is what the server (TTFB + transfer) and the client allow.
  'max-rate': {
    seekIntervalMs: 0,
    bitrateBps: 0,
    describe: 'no pacing: reads 16-128 KiB, cancels, seeks again at once; seeks/s is the server\'s and the client\'s limit',
  },
};

export const PROFILE_NAMES = Object.keys(PROFILES) as Profile[];

export const LIMITS = {
  maxViewers: 2000,
  maxConnectionsPerViewer: 16,
  maxDurationMs: 60 * 60 * 1000,
  maxSeeks: 10_000_000,
  maxTtfbTimeoutMs: 10 * 60 * 1000,
  maxSeekIntervalMs: 60 * 60 * 1000,
  maxBufferAheadS: 600,
} as const;

export type StormInput = Partial<Omit<StormRunSettings, 'urls'>> & { readonly urls: readonly string[] };

/** Fills defaults from the profile, validates, freezes. Throws SettingsError with one line. */
export function makeStormSettings(input: StormInput): StormRunSettings {
  const profile = input.profile ?? 'chrome-like';
  const defaults = PROFILES[profile];
  if (!defaults) throw new SettingsError(`unknown profile "${profile}" (one of ${PROFILE_NAMES.join(', ')})`);
  const urls = input.urls;
  const settings: StormRunSettings = {
    urls,
    profile,
    viewers: input.viewers ?? 10,
    connectionsPerViewer: input.connectionsPerViewer ?? 1,
    durationMs: input.durationMs ?? 30_000,
    seekIntervalMs: input.seekIntervalMs ?? defaults.seekIntervalMs,
    bitrateBps: input.bitrateBps ?? defaults.bitrateBps,
    ttfbTimeoutMs: input.ttfbTimeoutMs ?? 5000,
    maxSeeks: input.maxSeeks ?? 100_000,
    verify: (input.verify ?? false) || input.verifyFile !== undefined,
    seed: input.seed ?? (Date.now() % 2 ** 31),
    bufferAheadS: input.bufferAheadS ?? 10,
    verifyFile: input.verifyFile,
    tls: input.tls ?? { insecure: false },
    metricsUrl: input.metricsUrl === undefined ? defaultMetricsUrl(urls) : input.metricsUrl,
    allowRemote: input.allowRemote ?? false,
    windows: input.windows ?? 'node',
    fallbackOrigins: (input.fallbackOrigins ?? []).map(originOf),
  };
  if (settings.windows !== 'node' && settings.windows !== 'chrome') {
    throw new SettingsError(`windows must be node or chrome, got "${String(settings.windows)}"`);
  }
  validate(settings);
  return Object.freeze(settings);
}

export class SettingsError extends Error {}

function originOf(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.pathname !== '/' || url.search !== '') throw new SettingsError(`fallback origin ${raw}: give scheme://host:port only`);
    return url.origin;
  } catch (err) {
    if (err instanceof SettingsError) throw err;
    throw new SettingsError(`fallback origin ${raw}: not a URL`);
  }
}

function defaultMetricsUrl(urls: readonly string[]): string | null {
  try {
    return new URL('/metrics', new URL(urls[0] ?? '').origin).href;
  } catch {
    return null;
  }
}

function validate(s: StormRunSettings): void {
  if (s.urls.length === 0) throw new SettingsError('give at least one URL to storm');
  for (const raw of [...s.urls, ...(s.metricsUrl ? [s.metricsUrl] : []), ...s.fallbackOrigins]) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new SettingsError(`not a URL: ${raw}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SettingsError(`${raw}: only https:// (h2) and http:// (h2c) URLs`);
    const refusal = remoteRefusal(url, s.allowRemote);
    if (refusal) throw new SettingsError(refusal);
  }
  const intIn = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isInteger(value) || value < min || value > max) throw new SettingsError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  };
  intIn('viewers', s.viewers, 1, LIMITS.maxViewers);
  intIn('connectionsPerViewer', s.connectionsPerViewer, 1, LIMITS.maxConnectionsPerViewer);
  intIn('durationMs', s.durationMs, 1, LIMITS.maxDurationMs);
  if (s.profile === 'max-rate') {
    if (s.seekIntervalMs !== 0) throw new SettingsError(`the max-rate profile has no seek interval (each viewer seeks again as soon as its read is done), got ${s.seekIntervalMs} ms`);
  } else intIn('seekIntervalMs', s.seekIntervalMs, 1, LIMITS.maxSeekIntervalMs);
  intIn('ttfbTimeoutMs', s.ttfbTimeoutMs, 1, LIMITS.maxTtfbTimeoutMs);
  intIn('maxSeeks', s.maxSeeks, 1, LIMITS.maxSeeks);
  intIn('seed', s.seed, 0, 2 ** 32 - 1);
  if (!Number.isFinite(s.bitrateBps) || s.bitrateBps < 0) throw new SettingsError(`bitrateBps must be >= 0 (0 = as fast as possible)`);
  if (!(s.bufferAheadS > 0 && s.bufferAheadS <= LIMITS.maxBufferAheadS)) {
    throw new SettingsError(`bufferAheadS must be above 0 and at most ${LIMITS.maxBufferAheadS}`);
  }
  if (s.verifyFile !== undefined && s.urls.length !== 1) throw new SettingsError('--verify-file is the reference for a single URL; give one URL');
}

/** The part of the settings the report records (exactly the schema's fields). */
export function reportedSettings(s: StormRunSettings): StormSettings {
  return {
    urls: [...s.urls],
    profile: s.profile,
    viewers: s.viewers,
    connectionsPerViewer: s.connectionsPerViewer,
    durationMs: s.durationMs,
    seekIntervalMs: s.seekIntervalMs,
    bitrateBps: s.bitrateBps,
    ttfbTimeoutMs: s.ttfbTimeoutMs,
    maxSeeks: s.maxSeeks,
    verify: s.verify,
    seed: s.seed,
  };
}
