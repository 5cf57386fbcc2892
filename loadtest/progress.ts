// Progress on stderr while the storm runs: a bar redrawn every second on a terminal, a plain
// line every 5 s otherwise (CI logs, pipes), nothing with --quiet.

import { formatBytes, formatCount } from './format.ts';
import type { StormProgress } from './stats.ts';

const PLAIN_EVERY_MS = 5000;
const BAR_WIDTH = 24;

export interface ProgressDisplay {
  update(progress: StormProgress): void;
  /** Clears the bar so the summary starts on a clean line. */
  finish(): void;
}

export function createProgressDisplay(out: NodeJS.WriteStream, durationMs: number, maxSeeks: number, isQuiet: boolean): ProgressDisplay {
  if (isQuiet) return { update() {}, finish() {} };
  let lastPlainMs = 0;
  let isBarShown = false;
  return {
    update(p) {
      const share = Math.min(1, Math.max(p.elapsedMs / durationMs, p.seeksStarted / maxSeeks));
      const figures =
        `seeks ${formatCount(p.seeksStarted)} (${formatCount(p.seeksCompleted)} answered, ${(p.seeksCompleted / Math.max(p.elapsedMs / 1000, 0.001)).toFixed(0)}/s)` +
        `  failures ${formatCount(p.failures)}  retries ${formatCount(p.retries)}  ${formatBytes(p.bytesReceived)}` +
        (p.corruptBytes > 0 ? `  CORRUPT ${formatCount(p.corruptBytes)} B` : '');
      const time = `${(p.elapsedMs / 1000).toFixed(0)}/${(durationMs / 1000).toFixed(0)} s`;
      if (out.isTTY) {
        const filled = Math.round(share * BAR_WIDTH);
        const line = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${time}  ${figures}`;
        out.write(`\r\x1b[2K${line.slice(0, Math.max(40, (out.columns || 120) - 1))}`);
        isBarShown = true;
      } else if (p.elapsedMs - lastPlainMs >= PLAIN_EVERY_MS) {
        lastPlainMs = p.elapsedMs;
        out.write(`storm: ${time} (${Math.round(share * 100)}%)  ${figures}\n`);
      }
    },
    finish() {
      if (isBarShown) out.write('\r\x1b[2K');
    },
  };
}
