// Poisoned slabs for the byte verifiers: a slab is filled with 0xEE as it goes back to the pool,
// so a byte the wire carries from a slab released too early is a byte no fixture file holds.
// Tests inject it (startTestServer's `poisonOnRelease`, or `createPool` with poisoning(...)).

import { BufferPool } from '../../server/streaming/buffer-pool.ts';
import type { PoolShare } from '../../server/streaming/buffer-pool.ts';

/** The byte released slabs are filled with. */
export const POISON_BYTE = 0xee;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- TypeScript's mixin rule
type PoolClass = new (...args: any[]) => BufferPool;

/** `Base` (BufferPool, or a negative control's pool) with every released slab poisoned. */
export function poisoning<T extends PoolClass>(Base: T): T {
  return class PoisoningPool extends Base {
    override reclaim(buffer: Buffer, share: PoolShare, wasWriting: boolean): void {
      buffer.fill(POISON_BYTE);
      super.reclaim(buffer, share, wasWriting);
    }
  };
}

export const PoisoningPool = poisoning(BufferPool);
