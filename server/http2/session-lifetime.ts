// When a healthy HTTP/2 connection is rotated anyway: after SESSION_MAX_AGE_MS, or after it has
// carried SESSION_MAX_STREAMS streams (nginx's keepalive_requests and keepalive_time do the
// same). Long-lived connections pin a client to one process and keep per-connection state (and
// Node's session-memory accounting) growing; rotating them through the graceful close spreads
// load and bounds both. Pure: the session guard owns the counter and the timer.

export type LifetimeReason = 'max-age' | 'max-streams';

export interface LifetimeLimits {
  /** 0: no age limit. */
  readonly maxAgeMs: number;
  /** 0: no stream limit. */
  readonly maxStreams: number;
}

/** The reason to rotate a session of this age that has opened this many streams, if any. */
export function lifetimeRotation(limits: LifetimeLimits, ageMs: number, streamsOpened: number): LifetimeReason | undefined {
  if (limits.maxStreams > 0 && streamsOpened >= limits.maxStreams) return 'max-streams';
  if (limits.maxAgeMs > 0 && ageMs >= limits.maxAgeMs) return 'max-age';
  return undefined;
}
