// The player demo: wires the library, the <video>, the seek patterns, the figures and the
// server's live stats together. `?file=<name>` opens that file at once.

import { loadLibrary, renderLibrary } from './library.ts';
import type { LibraryFile } from './library.ts';
import { runScrub, runStorm } from './seek-patterns.ts';
import { SeekTracker } from './seek-tracker.ts';
import type { SeekFigures } from './seek-tracker.ts';
import { renderServerStats, watchServerStats } from './server-stats.ts';
import { Timeline } from './timeline.ts';

function element<T extends HTMLElement>(selector: string): T {
  const found = document.querySelector<T>(selector);
  if (!found) throw new Error(`missing ${selector}`);
  return found;
}

const video = element<HTMLVideoElement>('#video');
const form = element<HTMLFormElement>('#seek-form');
const status = element<HTMLElement>('#status');

let isRenderQueued = false;
const tracker = new SeekTracker(video, () => {
  if (isRenderQueued) return;
  isRenderQueued = true;
  requestAnimationFrame(() => {
    isRenderQueued = false;
    renderFigures(tracker.figures);
    document.body.dataset.seekPhase = tracker.phase;
  });
});
new Timeline(element('#timeline'), element('#buffered'), video, tracker);

function renderFigures(figures: Readonly<SeekFigures>): void {
  const text: Record<keyof SeekFigures, string> = {
    issued: String(figures.issued),
    completed: String(figures.completed),
    advanced: String(figures.advanced),
    superseded: String(figures.superseded),
    stuck: String(figures.stuck),
    stalls: String(figures.stalls),
    lastFirstFrameMs: figures.lastFirstFrameMs === undefined ? '-' : `${figures.lastFirstFrameMs.toFixed(0)} ms`,
    error: figures.error ?? 'none',
  };
  for (const [name, value] of Object.entries(text)) {
    const cell = document.querySelector(`[data-seek="${name}"]`);
    if (cell) cell.textContent = value;
  }
  document.querySelector('[data-seek="stuck"]')?.classList.toggle('is-bad', figures.stuck > 0);
  document.querySelector('[data-seek="error"]')?.classList.toggle('is-bad', figures.error !== undefined);
}

function play(file: LibraryFile): void {
  controller?.abort();
  tracker.reset();
  video.src = file.url;
  element('#now-playing').textContent = file.name;
  form.querySelectorAll('button').forEach((b) => (b.disabled = false));
  void video.play().catch(() => {}); // without a user gesture autoplay may be refused: the controls still work
}

// Storm and scrub share the form: which submit button was pressed picks the pattern.
let controller: AbortController | undefined;
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const pattern = (event.submitter as HTMLButtonElement | null)?.value;
  if (pattern === 'stop') return controller?.abort();
  if (pattern !== 'storm' && pattern !== 'scrub') return;
  const data = new FormData(form);
  const run = {
    ratePerSec: Number(data.get(`${pattern}-rate`)),
    durationMs: Number(data.get(`${pattern}-duration`)) * 1000,
    signal: (controller = new AbortController()).signal,
  };
  const current = controller;
  document.body.dataset.run = pattern;
  status.textContent = `${pattern === 'storm' ? 'Seek storm' : 'Scrubbing'}: ${run.ratePerSec} seeks/s for ${run.durationMs / 1000} s`;
  const done = pattern === 'storm' ? runStorm(video, tracker, run) : runScrub(video, tracker, run);
  void done.finally(() => {
    if (controller !== current) return; // a newer run took over
    document.body.dataset.run = 'idle';
    status.textContent = current.signal.aborted ? 'Stopped.' : 'Done.';
  });
});

const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
element('#protocol').textContent = navigation?.nextHopProtocol || 'unknown';

const serverPanel = element('#server');
watchServerStats(
  (snapshot) => {
    renderServerStats(serverPanel, snapshot);
    element('#server-error').textContent = '';
  },
  (message) => (element('#server-error').textContent = message),
);

try {
  const files = await loadLibrary();
  renderLibrary(element('#library'), files, video, play);
  const wanted = new URLSearchParams(location.search).get('file');
  if (wanted) document.querySelector<HTMLButtonElement>(`#library button[data-file="${CSS.escape(wanted)}"]`)?.click();
} catch (err) {
  element('#library').textContent = `Could not load the library: ${err instanceof Error ? err.message : String(err)}`;
}
renderFigures(tracker.figures);
