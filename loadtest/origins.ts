// Where a viewer's connections go: the URL's own origin, then the --fallback-origin ones in
// order, as a client with several addresses for one name fails over. An origin that refused a
// connection (ECONNREFUSED: nothing listens, e.g. a server that is draining) is skipped for the
// rest of the run; the streams that connection carried were never sent, so they are retried on
// the next origin, like streams a graceful GOAWAY left unprocessed. The URL's path stays the
// same: every origin must serve the same files.

export class OriginChoice {
  private readonly origins: readonly string[];
  private readonly refusedOrigins = new Set<string>();

  constructor(primary: string, fallbacks: readonly string[]) {
    this.origins = [...new Set([primary, ...fallbacks])];
  }

  /** The first origin that has not refused a connection (the last one if all have). */
  get current(): string {
    return this.origins.find((o) => !this.refusedOrigins.has(o)) ?? this.origins[this.origins.length - 1];
  }

  /** `origin` refused a connection. True if another origin is left to try. */
  refused(origin: string): boolean {
    this.refusedOrigins.add(origin);
    return this.origins.some((o) => !this.refusedOrigins.has(o));
  }
}
