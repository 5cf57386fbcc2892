// The storm engine: checks the URLs (probe, reference bytes), scrapes the server's figures,
// runs the virtual viewers until the duration, the seek budget or an abort ends the run,
// and returns the report (loadtest/report.ts). Usable from tests without the CLI.

import { performance } from 'node:perf_hooks';
import { Connection } from './connection.ts';
import { fetchOnce } from './fetch-once.ts';
import { OriginChoice } from './origins.ts';
import { seededRandom } from './random.ts';
import { ByteVerifier, loadReferences, ReferenceError } from './reference.ts';
import { FAILURE_CLASSES } from './report.ts';
import type { FailureClass, StormReport } from './report.ts';
import { RunControl } from './run-control.ts';
import type { StopReason } from './run-control.ts';
import { scrapeServerMetrics } from './server-metrics.ts';
import type { ScrapeResult } from './server-metrics.ts';
import { makeStormSettings, reportedSettings, SettingsError } from './settings.ts';
import type { StormInput, StormRunSettings } from './settings.ts';
import { histogram, percentiles, StormRecorder, TTFB_BOUNDS_MS } from './stats.ts';
import type { StormProgress } from './stats.ts';
import { Viewer } from './viewer.ts';

export interface StormHooks {
  /** About once a second while the storm runs. */
  readonly onProgress?: (progress: StormProgress) => void;
  /** Each failure as it is counted, with a one-line detail (the report keeps only counts). */
  readonly onFailure?: (cls: FailureClass, detail: string) => void;
  /** Each retry of an unprocessed stream, with why it was unprocessed. */
  readonly onRetry?: (detail: string) => void;
  /** Things the user should know that are not failures: why the run stopped, why no server figures. */
  readonly onNote?: (note: string, topic: 'run' | 'server') => void;
  readonly signal?: AbortSignal;
}

const SERVER_SETTLE_MS = 200;

/** The storm could not start: bad settings, URL not answering, reference not loadable. */
export class StormSetupError extends Error {}

export async function runStorm(input: StormInput | StormRunSettings, hooks: StormHooks = {}): Promise<StormReport> {
  const settings = validated(input);
  const references = settings.verify ? await loadReferencesOrFail(settings) : undefined;
  const sizes = await probeSizes(settings, references);
  for (const note of smallFileNotes(settings, sizes)) hooks.onNote?.(note, 'run');
  const before = settings.metricsUrl ? await scrapeServerMetrics(settings.metricsUrl, settings.tls) : undefined;

  const startedAt = new Date();
  const t0 = performance.now();
  let elapsedMs = 0;
  const recorder = new StormRecorder(t0, hooks.onFailure, hooks.onRetry);
  const control = new RunControl(settings.maxSeeks, () => {
    elapsedMs = performance.now() - t0;
    recorder.stop();
  });
  const verifier = references ? new ByteVerifier(references) : undefined;
  const durationTimer = setTimeout(() => control.stop('duration'), settings.durationMs);
  const onAbort = (): void => control.stop('aborted');
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  if (hooks.signal?.aborted) onAbort();
  const progressTimer = setInterval(() => hooks.onProgress?.(recorder.progress(performance.now(), verifier?.corruptBytes ?? 0)), 1000);

  let reason: StopReason;
  try {
    await Promise.all(createViewers(settings, sizes, recorder, verifier, control).map((v) => v.run()));
    reason = await control.stopped;
  } finally {
    control.stop('aborted'); // a no-op after a normal end; after a bug, winds the other viewers down
    clearTimeout(durationTimer);
    clearInterval(progressTimer);
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  hooks.onNote?.(stopNote(reason, settings), 'run');

  // The server counts a cancel when its handler winds down, a moment after our RST_STREAM.
  if (settings.metricsUrl) await new Promise((resolve) => setTimeout(resolve, SERVER_SETTLE_MS));
  const after = settings.metricsUrl ? await scrapeServerMetrics(settings.metricsUrl, settings.tls) : undefined;
  const server = serverFigures(before, after, hooks);
  return buildReport(settings, recorder, verifier, startedAt, elapsedMs, server);
}

function createViewers(
  settings: StormRunSettings,
  sizes: ReadonlyMap<string, number>,
  recorder: StormRecorder,
  verifier: ByteVerifier | undefined,
  control: RunControl,
): Viewer[] {
  const choices = new Map<string, OriginChoice>();
  return Array.from({ length: settings.viewers }, (_, i) => {
    const url = new URL(settings.urls[i % settings.urls.length]);
    const origins = choices.get(url.origin) ?? new OriginChoice(url.origin, settings.fallbackOrigins);
    choices.set(url.origin, origins);
    return new Viewer({
      url,
      size: sizes.get(url.href) ?? 1,
      settings,
      random: seededRandom((settings.seed + Math.imul(i + 1, 0x9e3779b9)) >>> 0),
      recorder,
      verifier,
      control,
      openConnection: () => {
        recorder.connectionOpened();
        const origin = origins.current;
        return new Connection(
          origin,
          settings.tls,
          settings.allowRemote,
          {
            onGracefulGoaway: () => recorder.gracefulGoaway(),
            onFailure: (cls, detail) => recorder.failure(cls, detail),
            onConnectRefused: () => origins.refused(origin),
          },
          settings.windows,
        );
      },
    });
  });
}

function validated(input: StormInput | StormRunSettings): StormRunSettings {
  try {
    return makeStormSettings(input);
  } catch (err) {
    if (err instanceof SettingsError) throw new StormSetupError(err.message);
    throw err;
  }
}

async function loadReferencesOrFail(settings: StormRunSettings): Promise<Map<string, Buffer>> {
  try {
    return await loadReferences(settings.urls, settings.tls, settings.verifyFile);
  } catch (err) {
    if (err instanceof ReferenceError) throw new StormSetupError(err.message);
    throw err;
  }
}

/** One `Range: bytes=0-0` per URL before the storm: is it there, and how big is it? */
async function probeSizes(settings: StormRunSettings, references: Map<string, Buffer> | undefined): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const href of new Set(settings.urls.map((u) => new URL(u).href))) {
    const response = await fetchOnce(new URL(href), {
      trust: settings.tls,
      headers: { range: 'bytes=0-0' },
      maxBytes: 1,
      timeoutMs: settings.ttfbTimeoutMs + 5000,
    }).catch((err: Error) => {
      throw new StormSetupError(`${href}: ${err.message}`);
    });
    const total = /\/(\d+)$/.exec(String(response.headers['content-range'] ?? ''));
    const size = response.status === 206 && total ? Number(total[1]) : Number(response.headers['content-length'] ?? NaN);
    if (response.status !== 206 && response.status !== 200) {
      throw new StormSetupError(`${href} answered ${response.status} to Range: bytes=0-0; nothing to storm`);
    }
    if (!(size > 0)) throw new StormSetupError(`${href}: cannot tell the file size (empty, or no Content-Range/Content-Length)`);
    const referenceSize = references?.get(href)?.length;
    if (referenceSize !== undefined && referenceSize !== size) {
      throw new StormSetupError(`${href} is ${size} bytes but the reference is ${referenceSize} bytes: not the same file`);
    }
    sizes.set(href, size);
  }
  return sizes;
}

/** A file smaller than the forward buffer is downloaded whole at once: seeks then cancel little. */
function smallFileNotes(settings: StormRunSettings, sizes: ReadonlyMap<string, number>): string[] {
  const bufferBytes = (settings.bitrateBps / 8) * settings.bufferAheadS;
  if (settings.profile !== 'chrome-like' || settings.bitrateBps === 0) return [];
  return [...sizes]
    .filter(([, size]) => size <= bufferBytes)
    .map(([url, size]) => {
      const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
      return `${url} (${mib(size)}) fits in one viewer's ${settings.bufferAheadS} s forward buffer (${mib(bufferBytes)}): viewers fetch it whole, so seeks cancel little`;
    });
}

function stopNote(reason: StopReason, settings: StormRunSettings): string {
  if (reason === 'max-seeks') return `stopped after --max-seeks ${settings.maxSeeks}`;
  if (reason === 'aborted') return 'stopped early (interrupted)';
  return `ran for the full --duration`;
}

function serverFigures(before: ScrapeResult | undefined, after: ScrapeResult | undefined, hooks: StormHooks): StormReport['server'] {
  if (!before || !after) return undefined;
  const problem = 'problem' in before ? before.problem : 'problem' in after ? after.problem : undefined;
  if (problem !== undefined || !('figures' in before) || !('figures' in after)) {
    hooks.onNote?.(`no server figures: ${problem}`, 'server');
    return undefined;
  }
  return { before: before.figures, after: after.figures };
}

function buildReport(
  settings: StormRunSettings,
  recorder: StormRecorder,
  verifier: ByteVerifier | undefined,
  startedAt: Date,
  elapsedMs: number,
  server: StormReport['server'],
): StormReport {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const corruptBytes = verifier?.corruptBytes ?? 0;
  const failures = { ...recorder.failures };
  const isOk = corruptBytes === 0 && FAILURE_CLASSES.every((c) => failures[c] === 0);
  return {
    tool: 'seekable-storm',
    version: 1,
    startedAt: startedAt.toISOString(),
    elapsedMs: Math.round(elapsedMs),
    settings: reportedSettings(settings),
    seeksStarted: recorder.seeksStarted,
    seeksCompleted: recorder.seeksCompleted,
    seeksPerSec: Math.round((recorder.seeksCompleted / seconds) * 100) / 100,
    ttfbMs: percentiles(recorder.ttfbMs),
    ttfbHistogram: { boundsMs: [...TTFB_BOUNDS_MS], counts: histogram(recorder.ttfbMs, TTFB_BOUNDS_MS) },
    bytesReceived: recorder.bytesReceived,
    wastedBytes: recorder.wastedBytes,
    goodputBytesPerSec: Math.round((recorder.bytesReceived - recorder.wastedBytes) / seconds),
    bytesVerified: verifier?.bytesVerified ?? 0,
    corruptBytes,
    corruptions: verifier ? [...verifier.corruptions] : [],
    retries: recorder.retries,
    gracefulGoaways: recorder.gracefulGoaways,
    connections: recorder.connections,
    failures,
    timeline: recorder.timeline(elapsedMs),
    ...(server ? { server } : {}),
    ok: isOk,
  };
}
