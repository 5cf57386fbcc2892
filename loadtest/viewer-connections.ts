// The HTTP/2 connections of one viewer (--connections-per-viewer): requests take turns over
// them; a connection that got a GOAWAY or failed is retired (its open streams finish) and
// the next request on that slot opens a fresh one, as a browser does.

import type { Connection } from './connection.ts';

export class ViewerConnections {
  private readonly slots: (Connection | undefined)[];
  private readonly open: () => Connection;
  private readonly live = new Set<Connection>();
  private turn = 0;

  constructor(count: number, open: () => Connection) {
    this.slots = new Array<Connection | undefined>(count).fill(undefined);
    this.open = open;
  }

  /** A connection that can take a new stream now. */
  next(): Connection {
    const slot = this.turn++ % this.slots.length;
    const current = this.slots[slot];
    if (current?.isUsable) return current;
    current?.retire();
    return this.openInto(slot);
  }

  /** A fresh connection in place of one that refused a stream or went away (for the retry). */
  renew(connection: Connection): Connection {
    connection.retire();
    const slot = this.slots.indexOf(connection);
    return this.openInto(slot >= 0 ? slot : this.turn++ % this.slots.length);
  }

  private openInto(slot: number): Connection {
    const fresh = this.open();
    this.slots[slot] = fresh;
    this.live.add(fresh);
    void fresh.closed.then(() => this.live.delete(fresh));
    return fresh;
  }

  async shutdown(graceMs: number): Promise<void> {
    this.slots.fill(undefined);
    await Promise.all([...this.live].map((c) => c.shutdown(graceMs)));
  }
}
