// When the run ends: the duration timer, the seek budget (--max-seeks) and an abort (Ctrl-C)
// all end it through one stop signal that every wait in the storm races against.

export type StopReason = 'duration' | 'max-seeks' | 'aborted';

export class RunControl {
  readonly stopped: Promise<StopReason>;
  private reason: StopReason | undefined;
  private readonly resolveStopped: (reason: StopReason) => void;
  private readonly maxSeeks: number;
  private readonly listeners = new Set<() => void>();
  private started = 0;
  private settled = 0;

  private readonly onStop: (reason: StopReason) => void;

  /** onStop runs synchronously at the moment the run stops, before any waiter wakes. */
  constructor(maxSeeks: number, onStop: (reason: StopReason) => void = () => {}) {
    this.maxSeeks = maxSeeks;
    this.onStop = onStop;
    const stopped = Promise.withResolvers<StopReason>();
    this.stopped = stopped.promise;
    this.resolveStopped = stopped.resolve;
  }

  get isStopped(): boolean {
    return this.reason !== undefined;
  }

  get stopReason(): StopReason | undefined {
    return this.reason;
  }

  stop(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.onStop(reason);
    for (const listener of this.listeners) listener();
    this.listeners.clear();
    this.resolveStopped(reason);
  }

  /** Takes one seek from the budget; false once it is spent or the run is stopping. */
  tryStartSeek(): boolean {
    if (this.isStopped || this.started >= this.maxSeeks) return false;
    this.started++;
    return true;
  }

  /** A seek got its first byte or gave up; the last one of the budget ends the run. */
  seekSettled(): void {
    this.settled++;
    if (this.started >= this.maxSeeks && this.settled >= this.started) this.stop('max-seeks');
  }

  /**
   * Calls `listener` once when the run stops (at once if it has). Returns the unsubscribe
   * function: per-seek waiters must unsubscribe, or a long run would keep every one alive.
   */
  whenStopped(listener: () => void): () => void {
    if (this.isStopped) {
      listener();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits ms, or less if the run stops meanwhile. */
  async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let unsubscribe = (): void => {};
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      unsubscribe = this.whenStopped(resolve);
    });
    clearTimeout(timer);
    unsubscribe();
  }
}
