import { blockKey, blockStorageBytes, type Block } from './block.js';

/** Per-block metadata the group layer persists beside a block (e.g. its membership record). */
export const maxBlockMetaBytes = 1024;

/**
 * Where a node keeps the blocks it holds. Capacity is the node's storage
 * allocation in bytes; every block costs blockStorageBytes(block) and every
 * metadata record its length, and the store never goes over: `put` and
 * `setMeta` answer false instead. Reads are synchronous because the blocks are
 * held in memory; the disk store writes through to disk as well.
 */
export interface BlockStore {
  readonly capacityBytes: number;
  usedBytes(): number;
  freeBytes(): number;
  has(key: string): boolean;
  get(key: string): Block | undefined;
  /**
   * Stores a block under blockKey(block); true when stored (or already held),
   * false when it would exceed capacity. Never throws on full. The caller puts
   * only verified blocks (verifyBlock at the boundary where they arrive).
   */
  put(block: Block): boolean;
  /**
   * Stores every block of `blocks` (the blocks of one segment, verified) or none: true when
   * all are held now (some may have been already), false when the new ones would exceed
   * capacity (nothing is stored then).
   */
  putAll(blocks: readonly Block[]): boolean;
  /** Removes the block and its metadata; false when it was not held. */
  delete(key: string): boolean;
  keys(): IterableIterator<string>;
  readonly size: number;
  /**
   * Sets the metadata of a held block (≤ maxBlockMetaBytes); false when it would
   * exceed capacity. Throws InvalidArgumentError when the block is not held or
   * the metadata is too large.
   */
  setMeta(key: string, meta: Uint8Array): boolean;
  getMeta(key: string): Uint8Array | undefined;
  /** Resolves when everything written so far is durable (at once in memory). */
  flush(): Promise<void>;
  /** Flushes and releases the store; writes after close throw NodeStoppedError. */
  close(): Promise<void>;
}

/** The blocks of `blocks` a store does not hold yet (each once), with their keys and charges, and the sum of the charges. */
export function blocksToAdd(blocks: readonly Block[], held: (key: string) => boolean): { added: Array<{ key: string; block: Block; cost: number }>; cost: number } {
  const added: Array<{ key: string; block: Block; cost: number }> = [];
  const seen = new Set<string>();
  let cost = 0;
  for (const block of blocks) {
    const key = blockKey(block);
    if (seen.has(key) || held(key)) continue;
    seen.add(key);
    const blockCost = blockStorageBytes(block);
    added.push({ key, block, cost: blockCost });
    cost += blockCost;
  }
  return { added, cost };
}

export { createMemoryBlockStore } from './memory-block-store.js';
export { openDiskBlockStore, blockStoreDirectory, type DiskBlockStore, type DiskOpenReport } from './disk-block-store.js';
