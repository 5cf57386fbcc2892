// The one interface every benchmark peer is started and stopped through. A peer is a server
// program (ours, a native server, or a small Node script) that serves a media root over
// HTTP/2 + TLS on a loopback port, at `https://localhost:PORT/media/<file>`.

import type { WorkloadName } from '../results-table.ts';

/** A running peer. `stop()` is idempotent and resolves once the process (tree) is gone. */
export interface PeerHandle {
  readonly name: string;
  /** `https://localhost:PORT`, HTTP/2 over TLS. */
  readonly url: string;
  /** Process id of the server (its process-group leader), for RSS measurement. */
  readonly pid?: number;
  /** The child's stdout/stderr. */
  readonly logFile?: string;
  stop(): Promise<void>;
}

/** What every peer is started with, so they all serve the same bytes with the same certificate. */
export interface PeerContext {
  readonly mediaRoot: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Temp dir for generated configs, pid files and logs (one subfolder per start). */
  readonly workDir: string;
}

export type PeerAvailability = { readonly ok: true; readonly version?: string } | { readonly ok: false; readonly reason: string };

export interface Peer {
  readonly name: string;
  readonly kind: 'ours' | 'native' | 'node';
  /** The workloads this peer runs, when not all: a floor measurement, not a server. */
  readonly workloads?: readonly WorkloadName[];
  /** What a reader of the table must know about this peer, printed under it. */
  readonly note?: string;
  /** Whether the peer can run here, with the reason (and the install hint) when not. */
  available(): Promise<PeerAvailability>;
  start(ctx: PeerContext): Promise<PeerHandle>;
}
