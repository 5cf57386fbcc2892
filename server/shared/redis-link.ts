// The connections to Redis: one for commands, one for pub/sub (a subscribed connection can
// send nothing else). Neither may make a request wait: commands fail at once while the link is
// down (no offline queue, no retries per request) and after `commandTimeoutMs` when Redis does
// not answer; every caller then falls back to what this instance knows alone. ioredis
// reconnects by itself, backing off up to 2 s; the link logs each change of state once.

import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from '../log.ts';

export type LinkState = 'connecting' | 'ready' | 'down';

export interface RedisLinkOptions {
  readonly url: string;
  /** Every key and channel starts with this, so several deployments (and test runs) share one Redis. */
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly log: Logger;
}

const MAX_RECONNECT_DELAY_MS = 2_000;
/**
 * After a command timed out on a connection that is still open (Redis hung, or a network
 * that drops packets), Redis is treated as down this long, so requests do not each wait for
 * their own timeout; then the next command tries again.
 */
const SUSPEND_AFTER_TIMEOUT_MS = 1_000;

export class RedisLink {
  readonly commands: Redis;
  readonly subscriber: Redis;
  readonly keyPrefix: string;
  readonly #log: Logger;
  readonly #listeners = new Set<(state: LinkState) => void>();
  #state: LinkState = 'connecting';
  #isClosed = false;
  #suspendedUntilMs = 0;

  constructor(options: RedisLinkOptions) {
    this.keyPrefix = options.keyPrefix;
    this.#log = options.log;
    const connection: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs, 1_000),
      retryStrategy: (attempt: number) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
      // Our own keys carry the prefix explicitly: Lua scripts and channels need it spelled out.
      lazyConnect: false,
    };
    this.commands = new Redis(options.url, { ...connection, connectionName: 'seekable' });
    this.subscriber = new Redis(options.url, { ...connection, connectionName: 'seekable-sub', autoResubscribe: true });
    this.commands.on('ready', () => this.#enter('ready'));
    for (const client of [this.commands, this.subscriber]) {
      // Without an 'error' listener ioredis would print each failed reconnect; the state change is logged once.
      client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis error'));
    }
    this.commands.on('close', () => this.#enter('down'));
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Connected, and no command timed out within the last SUSPEND_AFTER_TIMEOUT_MS. */
  get isReady(): boolean {
    return this.#state === 'ready' && Date.now() >= this.#suspendedUntilMs;
  }

  /** A caller's command failed: a timeout suspends Redis use for a moment (see above). */
  noteFailure(err: unknown): void {
    if (!(err instanceof Error) || !/timed? ?out/i.test(err.message)) return;
    if (Date.now() >= this.#suspendedUntilMs) this.#log.warn('redis did not answer in time: judging alone for a moment');
    this.#suspendedUntilMs = Date.now() + SUSPEND_AFTER_TIMEOUT_MS;
  }

  /** The key for `name` under this deployment's prefix. */
  key(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  onStateChange(listener: (state: LinkState) => void): void {
    this.#listeners.add(listener);
  }

  /** Resolves true once ready, false after `timeoutMs` (the server then starts degraded). */
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.isReady) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(onState);
        resolve(false);
      }, timeoutMs);
      const onState = (state: LinkState): void => {
        if (state !== 'ready') return;
        clearTimeout(timer);
        this.#listeners.delete(onState);
        resolve(true);
      };
      this.#listeners.add(onState);
    });
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    this.#listeners.clear();
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  #enter(state: LinkState): void {
    if (this.#isClosed || state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    if (state === 'ready') this.#log.info({ previous }, 'redis connected: shared state on');
    else this.#log.warn('redis unreachable: serving on, limits per instance, stats degraded');
    for (const listener of [...this.#listeners]) listener(state);
  }
}
