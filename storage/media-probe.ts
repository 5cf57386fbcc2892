// What a media file holds, when ffprobe (Debian's ffmpeg package) is there to say: duration
// and the codec of each stream. Optional by design: without ffprobe, or for a file it cannot
// read, the answer is "unknown" and nothing else changes. One short-lived process per file,
// bounded in time and output; the catalog probes a file only when its ETag changed.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface MediaFacts {
  readonly durationSec?: number;
  /** Codec names by stream order, e.g. ["vp9", "opus"]. */
  readonly codecs?: readonly string[];
}

const FFPROBE = '/usr/bin/ffprobe';
const PROBE_TIMEOUT_MS = 5_000;
const MAX_OUTPUT_BYTES = 256 * 1024;

let isAvailable: boolean | undefined;

/** Facts about the file at `absolutePath`, or undefined when they cannot be known. */
export async function probeMedia(absolutePath: string): Promise<MediaFacts | undefined> {
  isAvailable ??= existsSync(FFPROBE);
  if (!isAvailable) return undefined;
  const args = ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name', '-of', 'json', '--', absolutePath];
  const output = await new Promise<string | undefined>((resolve) => {
    execFile(FFPROBE, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
  });
  return output === undefined ? undefined : parseFacts(output);
}

/** ffprobe's JSON to facts; fields it did not give stay absent. */
export function parseFacts(json: string): MediaFacts | undefined {
  let parsed: { format?: { duration?: string }; streams?: { codec_name?: string }[] };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    return undefined;
  }
  const duration = Number(parsed.format?.duration);
  const codecs = (parsed.streams ?? []).map((s) => s.codec_name).filter((c): c is string => typeof c === 'string');
  const facts: { durationSec?: number; codecs?: string[] } = {};
  if (Number.isFinite(duration) && duration > 0) facts.durationSec = Math.round(duration * 1000) / 1000;
  if (codecs.length > 0) facts.codecs = codecs;
  return Object.keys(facts).length > 0 ? facts : undefined;
}
