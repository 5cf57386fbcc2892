// Live server figures, polled once a second. GET /api/stats answers for the whole cluster
// (every instance sharing state) and per instance; a server without it (404) is read from its
// own Prometheus /metrics instead, with rates worked out between two scrapes.

export interface ServerFigures {
  readonly activeStreams: number;
  readonly sessions?: number;
  readonly resetsReceived: number;
  readonly refusedStreams: number;
  readonly slabsInUse: number;
  readonly slabsHighWater: number;
  readonly bytesPerSec: number;
  readonly requestsPerSec?: number;
  readonly ttfbMs?: { readonly p50: number; readonly p90: number; readonly p99: number };
}

export interface InstanceFigures extends ServerFigures {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
}

export interface ServerSnapshot {
  readonly source: '/api/stats' | '/metrics';
  readonly status: string;
  readonly cluster: ServerFigures;
  readonly instances: readonly InstanceFigures[];
}

interface StatsAnswer {
  readonly status: string;
  readonly cluster: ServerFigures;
  readonly instances: readonly InstanceFigures[];
}

const POLL_MS = 1000;

/** Polls until the page goes away; `onSnapshot` gets each answer, `onError` each failure. */
export function watchServerStats(onSnapshot: (s: ServerSnapshot) => void, onError: (message: string) => void): void {
  let useMetrics = false;
  let previous: { at: number; bytes: number; responses: number } | undefined;
  const poll = async (): Promise<void> => {
    if (!useMetrics) {
      const res = await fetch('/api/stats', { cache: 'no-store' });
      if (res.status === 404) useMetrics = true;
      else if (!res.ok) throw new Error(`/api/stats answered ${res.status}`);
      else {
        const answer = (await res.json()) as StatsAnswer;
        onSnapshot({ source: '/api/stats', status: answer.status, cluster: answer.cluster, instances: answer.instances });
        return;
      }
    }
    const res = await fetch('/metrics', { cache: 'no-store' });
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    const series = parsePrometheus(await res.text());
    const now = performance.now();
    const bytes = series.get('media_bytes_sent_total') ?? 0;
    const responses = series.get('media_responses_total') ?? 0;
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const cluster: ServerFigures = {
      activeStreams: series.get('media_active_streams') ?? 0,
      sessions: series.get('media_http2_sessions'),
      resetsReceived: series.get('media_resets_received_total') ?? 0,
      // /metrics has no refused-stream counter: connections refused or ended as floods stand in.
      refusedStreams: series.get('media_flood_penalties_total') ?? 0,
      slabsInUse: series.get('media_pool_slabs_in_use') ?? 0,
      slabsHighWater: series.get('media_pool_slabs_high_water') ?? 0,
      bytesPerSec: previous && seconds > 0 ? (bytes - previous.bytes) / seconds : 0,
      requestsPerSec: previous && seconds > 0 ? (responses - previous.responses) / seconds : undefined,
    };
    previous = { at: now, bytes, responses };
    onSnapshot({ source: '/metrics', status: 'ok', cluster, instances: [] });
  };
  const loop = async (): Promise<void> => {
    try {
      await poll();
    } catch (err) {
      onError(err instanceof Error ? err.message : String(err));
    }
    setTimeout(() => void loop(), POLL_MS);
  };
  void loop();
}

/** Prometheus text exposition: the sum over all series of each metric name. */
export function parsePrometheus(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) sums.set(match[1], (sums.get(match[1]) ?? 0) + value);
  }
  return sums;
}

/** Fills every [data-server=name] under `root`, and the per-instance list when there are several. */
export function renderServerStats(root: HTMLElement, snapshot: ServerSnapshot): void {
  const c = snapshot.cluster;
  const values: Record<string, string> = {
    activeStreams: String(c.activeStreams),
    sessions: c.sessions === undefined ? '-' : String(c.sessions),
    resetsReceived: String(c.resetsReceived),
    refusedStreams: String(c.refusedStreams),
    slabs: `${c.slabsInUse} / ${c.slabsHighWater}`,
    bytesPerSec: formatRate(c.bytesPerSec),
    requestsPerSec: c.requestsPerSec === undefined ? '-' : c.requestsPerSec.toFixed(0),
    ttfb: c.ttfbMs ? `${fmtMs(c.ttfbMs.p50)} / ${fmtMs(c.ttfbMs.p90)} / ${fmtMs(c.ttfbMs.p99)}` : '-',
    source: `${snapshot.source}, ${snapshot.status}`,
  };
  for (const [name, text] of Object.entries(values)) {
    const cell = root.querySelector<HTMLElement>(`[data-server="${name}"]`);
    if (cell) cell.textContent = text;
  }
  root.querySelector('[data-server="refusedStreams"]')?.classList.toggle('is-bad', c.refusedStreams > 0);
  root.classList.toggle('is-degraded', snapshot.status !== 'ok');
  const list = root.querySelector<HTMLElement>('[data-server="instances"]');
  if (!list) return;
  list.replaceChildren(
    ...(snapshot.instances.length > 1 ? snapshot.instances : []).map((i) => {
      const item = document.createElement('li');
      item.textContent = `${i.id} (${i.host}, pid ${i.pid}): ${i.activeStreams} streams, ${i.resetsReceived} resets, ${i.slabsInUse} slabs, ${formatRate(i.bytesPerSec)}`;
      return item;
    }),
  );
}

export function formatRate(bytesPerSec: number): string {
  if (bytesPerSec >= 1e6) return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSec >= 1e3) return `${(bytesPerSec / 1e3).toFixed(0)} kB/s`;
  return `${bytesPerSec.toFixed(0)} B/s`;
}

function fmtMs(ms: number): string {
  return ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}
