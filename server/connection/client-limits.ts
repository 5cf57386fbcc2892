// Per-client connection limits, applied when a TCP connection arrives, before TLS or HTTP/2
// cost anything: at most `maxConnectionsPerClient` open connections per client, and a penalty
// box for clients one of whose connections was ended as a flood (http2/flood-guard.ts). A
// refused connection is destroyed at once; the caller counts and logs it.
//
// A client is its remote address, IPv4-mapped IPv6 folded to IPv4 and IPv6 grouped by /64:
// one host usually holds a whole /64, so a limit per IPv6 address would not bind it. Behind a
// proxy that sends the PROXY protocol (PROXY_PROTOCOL=on) the address is the one it announced,
// and connections arrive here only once their header was read (net/proxy-listener.ts); behind
// any other reverse proxy every client has the proxy's address: set both limits to 0 there.
//
// Memory is bounded: connection counts exist only while connections are open, and the
// penalty box forgets the oldest entries beyond `maxPenalisedClients`.

import net from 'node:net';
import { clientAddressOf } from '../net/client-address.ts';
import type { ConnectionHooks, ConnectionRecord } from './connection-registry.ts';

export type RefusalReason = 'client-connections' | 'penalised-client';

export interface ClientLimitsOptions {
  /** Most connections one client may hold open across every listener; 0: no limit. */
  readonly maxConnectionsPerClient: number;
  /** How long new connections of a penalised client are refused (doubles per repeat, up to 16x); 0: off. */
  readonly penaltyMs: number;
  readonly onRefuse: (reason: RefusalReason, client: string) => void;
  readonly maxPenalisedClients?: number;
  readonly now?: () => number;
}

interface Penalty {
  until: number;
  strikes: number;
}

const DEFAULT_MAX_PENALISED_CLIENTS = 10_000;
/** A repeat offence doubles the penalty, at most this many times (16x). */
const MAX_DOUBLINGS = 4;

export class ClientLimits {
  readonly #options: ClientLimitsOptions;
  readonly #open = new Map<string, number>();
  /** Oldest penalty first (re-inserted on each new one), so eviction drops the stalest. */
  readonly #penalties = new Map<string, Penalty>();

  constructor(options: ClientLimitsOptions) {
    this.#options = options;
  }

  /** Refuse new connections from this client for a while (a repeat offence for longer). */
  penalise(address: string | undefined): void {
    if (this.#options.penaltyMs <= 0 || address === undefined) return;
    const client = clientKey(address);
    const now = this.#now();
    const previous = this.#penalties.get(client);
    // An offence within 16 penalty periods of the last one's end counts as a repeat.
    const isRepeat = previous !== undefined && now < previous.until + this.#options.penaltyMs * 2 ** MAX_DOUBLINGS;
    const strikes = isRepeat ? previous.strikes + 1 : 1;
    this.#penalties.delete(client);
    this.#penalties.set(client, { until: now + this.#options.penaltyMs * 2 ** Math.min(strikes - 1, MAX_DOUBLINGS), strikes });
    this.#evict(now);
  }

  isPenalised(address: string): boolean {
    const penalty = this.#penalties.get(clientKey(address));
    return penalty !== undefined && this.#now() < penalty.until;
  }

  openConnections(address: string): number {
    return this.#open.get(clientKey(address)) ?? 0;
  }

  /**
   * Admits a connection the registry accepted (a hook factory for it, listed first): false when
   * it was refused and its socket destroyed, else the hooks that count it down when it closes.
   */
  admit(record: ConnectionRecord): ConnectionHooks | false {
    const socket = record.socket;
    const address = clientAddressOf(socket); // behind PROXY_PROTOCOL: the address the proxy announced
    if (address === undefined) return false; // already gone
    const client = clientKey(address);
    if (this.isPenalised(address)) return this.#refuse(record, 'penalised-client', client);
    const open = this.#open.get(client) ?? 0;
    const max = this.#options.maxConnectionsPerClient;
    if (max > 0 && open >= max) return this.#refuse(record, 'client-connections', client);
    this.#open.set(client, open + 1);
    return {
      closed: () => {
        const left = (this.#open.get(client) ?? 1) - 1;
        if (left > 0) this.#open.set(client, left);
        else this.#open.delete(client);
      },
    };
  }

  #refuse(record: ConnectionRecord, reason: RefusalReason, client: string): false {
    record.socket.destroy();
    this.#options.onRefuse(reason, client);
    return false;
  }

  #evict(now: number): void {
    const max = this.#options.maxPenalisedClients ?? DEFAULT_MAX_PENALISED_CLIENTS;
    if (this.#penalties.size <= max) return;
    for (const [client, penalty] of this.#penalties) {
      if (penalty.until <= now) this.#penalties.delete(client);
    }
    for (const client of this.#penalties.keys()) {
      if (this.#penalties.size <= max) break;
      this.#penalties.delete(client);
    }
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}

/** The client an address belongs to: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string): string {
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return address.slice(7);
  if (!net.isIPv6(address)) return address;
  const zoneless = address.split('%')[0]!;
  const [head, tail] = zoneless.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
