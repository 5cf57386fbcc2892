// Debian's Chromium driven by playwright-core for the browser tests: headless, a fresh
// profile per launch, the test server's self-signed certificate accepted, every failed
// request recorded; and the player demo's seek storm run through its own controls.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { writePaddedCopy } from './padded-media.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can (CI installs Chromium). */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} is not installed (apt-get install chromium; .ci/run does)`;
}

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** "url errorText" of every request that failed, in order. */
  readonly failedRequests: string[];
  /** Uncaught errors in the page's own scripts, and crashes. */
  readonly pageErrors: string[];
  /** Closes the browser (which also finishes the net log) and removes the profile. */
  close(): Promise<void>;
}

export async function openBrowser(options: { netLogPath?: string } = {}): Promise<BrowserSession> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'chromium-profile-'));
  const args = [...FLAGS];
  if (options.netLogPath) args.push(`--log-net-log=${options.netLogPath}`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args,
    ignoreHTTPSErrors: true,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const failedRequests: string[] = [];
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('crash', () => pageErrors.push('the page crashed'));
  page.on('requestfailed', (r) => failedRequests.push(`${r.url()} ${r.failure()?.errorText ?? 'unknown'}`));
  return {
    context,
    page,
    failedRequests,
    pageErrors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The two samples padded to the size of 8 Mbit/s video (about 60 MB each). A 2 MB file is
 * buffered whole before the first seek, so seeking it never cancels a stream; at this size
 * Chrome buffers about ten seconds ahead and a seek elsewhere cancels the request in flight.
 */
export const STORM_FILES = ['sample-vp9-opus.padded.webm', 'sample-h264-aac.padded.mp4'] as const;

export async function makeStormLibrary(): Promise<{ root: string; remove(): Promise<void> }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'browser-media-'));
  const samples = fileURLToPath(new URL('../../storage/sample-library/', import.meta.url));
  await writePaddedCopy(path.join(samples, 'sample-vp9-opus.webm'), path.join(root, STORM_FILES[0]), 60e6);
  await writePaddedCopy(path.join(samples, 'sample-h264-aac.mp4'), path.join(root, STORM_FILES[1]), 60e6);
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}

/** The page's seek figures (the [data-seek] cells) and what the <video> says. */
export interface StormFigures {
  readonly issued: number;
  readonly completed: number;
  readonly advanced: number;
  readonly superseded: number;
  readonly stuck: number;
  readonly stalls: number;
  readonly lastFirstFrameMs: string;
  readonly errorShown: string;
  readonly videoError: string | null;
  readonly finalPhase: string;
  /** currentTime one second apart, after the storm settled. */
  readonly timeAfter: readonly [number, number];
}

/**
 * Opens the demo, clicks `file` in its library, waits for playback, then runs the page's own
 * seek storm and waits until the last seek has settled (advanced, or stuck after 5 s).
 */
export async function stormThroughPage(
  page: Page,
  origin: string,
  file: string,
  storm: { ratePerSec: number; durationSec: number; screenshotPath?: string },
): Promise<StormFigures> {
  await page.goto(`${origin}/`);
  await page.click(`#library button[data-file="${file}"]`);
  await waitForVideo(page, (v) => v.currentTime > 0.5, 'playback started', 20_000);
  await page.fill('input[name="storm-rate"]', String(storm.ratePerSec));
  await page.fill('input[name="storm-duration"]', String(storm.durationSec));
  await page.click('button[value="storm"]');
  await page.waitForSelector('body[data-run="storm"]');
  if (storm.screenshotPath) {
    await page.waitForTimeout((storm.durationSec * 1000) / 2);
    await page.screenshot({ path: storm.screenshotPath, fullPage: true });
  }
  await page.waitForSelector('body[data-run="idle"]', { timeout: storm.durationSec * 1000 + 30_000 });
  // The last seek settles: it advanced, or the page called it stuck (no progress for 5 s).
  await page
    .waitForSelector('body[data-seek-phase="advanced"], body[data-seek-phase="stuck"]', { state: 'attached', timeout: 20_000 })
    .catch(async (err: Error) => {
      throw new Error(`the last seek did not settle: ${JSON.stringify(await videoState(page))}; ${err.message}`);
    });
  const t0 = (await videoState(page)).currentTime;
  await page.waitForTimeout(1000);
  const t1 = (await videoState(page)).currentTime;
  const cells = await page.$$eval('[data-seek]', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-seek') ?? '', e.textContent ?? ''])));
  return {
    issued: Number(cells.issued),
    completed: Number(cells.completed),
    advanced: Number(cells.advanced),
    superseded: Number(cells.superseded),
    stuck: Number(cells.stuck),
    stalls: Number(cells.stalls),
    lastFirstFrameMs: cells.lastFirstFrameMs,
    errorShown: cells.error,
    videoError: (await videoState(page)).error,
    finalPhase: (await page.getAttribute('body', 'data-seek-phase')) ?? '',
    timeAfter: [t0, t1],
  };
}

interface VideoState {
  readonly currentTime: number;
  readonly paused: boolean;
  readonly readyState: number;
  readonly seeking: boolean;
  readonly error: string | null;
  readonly phase: string | undefined;
}

/** What the <video> says (evaluated in the page; the tests' TypeScript has no DOM types). */
function videoState(page: Page): Promise<VideoState> {
  return page.evaluate(`(() => {
    const v = document.querySelector('video');
    return { currentTime: v.currentTime, paused: v.paused, readyState: v.readyState, seeking: v.seeking,
      error: v.error ? v.error.code + ' ' + v.error.message : null, phase: document.body.dataset.seekPhase };
  })()`);
}

/** Polls videoState (waitForFunction would compile a string in the page, which its CSP forbids). */
async function waitForVideo(page: Page, isDone: (v: VideoState) => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await videoState(page);
    if (isDone(state)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms: ${JSON.stringify(state)}`);
    await page.waitForTimeout(100);
  }
}

/** Failed requests whose error is anything but ERR_ABORTED (a cancelled load: a seek). */
export function unexpectedFailures(failedRequests: readonly string[]): string[] {
  return failedRequests.filter((line) => !line.endsWith(' net::ERR_ABORTED'));
}
