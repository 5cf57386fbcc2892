#!/usr/bin/env node
// `npm run storm -- <url> [url...] [options]`: parses the command line, runs the storm with
// progress on stderr, prints the summary table on stdout, writes --json / --html, and exits
// 0 (clean), 1 (failures, corrupt bytes, or the storm could not start) or 2 (usage error).

import { writeFile } from 'node:fs/promises';
import { parseCommandLine, USAGE, UsageError } from './cli-args.ts';
import type { CliCommand } from './cli-args.ts';
import { formatDuration } from './format.ts';
import { createProgressDisplay } from './progress.ts';
import type { FailureClass, StormReport } from './report.ts';
import { runStorm, StormSetupError } from './storm.ts';
import { renderSummary } from './summary.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function main(argv: readonly string[]): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`storm: ${err.message} (see --help)\n`);
    return EXIT_USAGE;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const { settings, isQuiet } = command;
  const display = createProgressDisplay(process.stderr, settings.durationMs, settings.maxSeeks, isQuiet);
  const failureDetails = new Map<FailureClass, string>();
  const runNotes: string[] = [];
  let serverProblem: string | undefined;
  const abort = new AbortController();
  let interrupts = 0;
  const onInterrupt = (): void => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nstorm: stopping, the report follows (Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onInterrupt);
  if (!isQuiet) {
    const verification = settings.verify ? 'every byte verified' : 'bytes NOT verified (no --verify)';
    process.stderr.write(
      `storm: ${settings.viewers} viewers, ${settings.profile}, ${formatDuration(settings.durationMs)} at most, seed ${settings.seed}, ${verification}\n`,
    );
  }
  let report: StormReport;
  try {
    report = await runStorm(settings, {
      signal: abort.signal,
      onProgress: (p) => display.update(p),
      onFailure: (cls, detail) => {
        if (!failureDetails.has(cls)) failureDetails.set(cls, detail);
      },
      onNote: (note, topic) => {
        if (topic === 'server') serverProblem = note.replace(/^no server figures: /, '');
        else runNotes.push(note);
      },
    });
  } catch (err) {
    if (!(err instanceof StormSetupError)) throw err;
    display.finish();
    process.stderr.write(`storm: cannot start: ${err.message}\n`);
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  display.finish();
  process.stdout.write(renderSummary(report, { failureDetails, runNotes, serverProblem, metricsUrl: settings.metricsUrl }));
  try {
    if (command.jsonFile) await writeFile(command.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    if (command.htmlFile) {
      // Loaded only when asked for: a run without --html does not depend on the renderer.
      const { renderHtmlReport } = await import('./html-report.ts');
      await writeFile(command.htmlFile, renderHtmlReport(report));
    }
  } catch (err) {
    process.stderr.write(`storm: could not write the report: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  }
  if (!isQuiet) {
    for (const file of [command.jsonFile, command.htmlFile]) if (file) process.stderr.write(`storm: wrote ${file}\n`);
  }
  return report.ok ? EXIT_OK : EXIT_FAILED;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Connections are closed by now; should anything still hold the event loop, do not hang.
setTimeout(() => process.exit(code), 3000).unref();
