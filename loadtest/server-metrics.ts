// The server's own view of the storm: a few Prometheus figures scraped before and after the
// run. Figures the server does not export are simply absent; a server without /metrics is
// fine, the run says so and goes on.

import { fetchOnce } from './fetch-once.ts';
import type { TlsTrust } from './settings.ts';

/** Reported name -> how it is read (labelled series are summed). */
export const SERVER_METRIC_NAMES = [
  'media_pool_slabs_high_water',
  'media_pool_slabs_in_use',
  'media_resets_received_total',
  'media_session_rotations_total',
  'media_pool_premature_releases_total',
  'media_responses_total',
] as const;

export type ScrapeResult = { readonly figures: Record<string, number> } | { readonly problem: string };

export async function scrapeServerMetrics(metricsUrl: string, trust: TlsTrust): Promise<ScrapeResult> {
  try {
    const response = await fetchOnce(new URL(metricsUrl), { trust, maxBytes: 8 * 1024 * 1024, timeoutMs: 5000 });
    if (response.status !== 200) return { problem: `GET ${metricsUrl} answered ${response.status}` };
    return { figures: parsePrometheusFigures(response.body.toString('utf8'), SERVER_METRIC_NAMES) };
  } catch (err) {
    return { problem: `GET ${metricsUrl}: ${(err as Error).message}` };
  }
}

/** Sums every series of each wanted metric in Prometheus text format; absent ones are left out. */
export function parsePrometheusFigures(text: string, names: readonly string[]): Record<string, number> {
  const wanted = new Set(names);
  const figures: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!match || !wanted.has(match[1])) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) figures[match[1]] = (figures[match[1]] ?? 0) + value;
  }
  return figures;
}
