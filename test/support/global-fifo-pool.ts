// Negative control for the pool's shares: the pool as it was before issue 12. One slab size
// (CHUNK_BYTES), no share per connection or client, and every stream of every client waiting
// in one FIFO queue. Tests inject it (TestOverrides.createPool) to show that the window-zero
// attack test fails without fair shares: the attacker's stalled streams take every slab and
// other viewers wait behind them until the stalled-write timeout.

import { BufferPool } from '../../server/streaming/buffer-pool.ts';
import type { BufferPoolOptions, PoolShare } from '../../server/streaming/buffer-pool.ts';

const EVERYONE = {};

export class GlobalFifoPool extends BufferPool {
  readonly #everyone: PoolShare;

  constructor(options: BufferPoolOptions) {
    super({ slabBytes: options.slabBytes, maxBytes: options.maxBytes, minSlabBytes: options.slabBytes });
    this.#everyone = super.shareOf(EVERYONE, () => 'everyone');
  }

  /** Every connection of every client charges one share: one queue, no caps. */
  override shareOf(): PoolShare {
    return this.#everyone;
  }
}
