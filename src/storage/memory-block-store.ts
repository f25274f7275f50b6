import { InvalidArgumentError, NodeStoppedError } from '../errors.js';
import { blockKey, blockStorageBytes, hashBytes, type Block } from './block.js';
import { blocksToAdd, maxBlockMetaBytes, type BlockStore } from './block-store.js';

/**
 * A held block: its hashes and bytes in one buffer (contentHash ‖ proof ‖ data), its own
 * or, for the blocks of one `putAll` (a segment, held and dropped together), a slice of one
 * buffer they share. One allocation instead of one per hash (or per block: 25,600 buffers
 * for 100 MiB cost more than copying the bytes) keeps the overhead small and fixed, and a
 * copy never pins a larger buffer (a frame the block was decoded from).
 */
interface HeldBlock {
  readonly part: number;
  readonly parts: number;
  readonly keywords: readonly string[];
  readonly proofLength: number;
  readonly bytes: Uint8Array;
  /** blockStorageBytes of the block, charged while it is held. */
  readonly storageBytes: number;
}

function heldLength(block: Block): number {
  return hashBytes * (1 + block.proof.length) + block.data.byteLength;
}

// Never from Node's shared pool (a pooled slice would pin 8 KiB), and not zero-filled: every byte is set in holdBlock.
function holdBlock(block: Block, storageBytes: number, bytes = Buffer.allocUnsafeSlow(heldLength(block))): HeldBlock {
  bytes.set(block.contentHash, 0);
  block.proof.forEach((hash, level) => bytes.set(hash, hashBytes * (1 + level)));
  bytes.set(block.data, hashBytes * (1 + block.proof.length));
  const keywords = Object.isFrozen(block.keywords) ? block.keywords : Object.freeze([...block.keywords]);
  return { part: block.part, parts: block.parts, keywords, proofLength: block.proof.length, bytes, storageBytes };
}

/** Views into the held buffer: no copy. */
function viewBlock(held: HeldBlock): Block {
  const { bytes, proofLength } = held;
  const proof: Uint8Array[] = [];
  for (let level = 0; level < proofLength; level += 1) proof.push(bytes.subarray(hashBytes * (1 + level), hashBytes * (2 + level)));
  return {
    contentHash: bytes.subarray(0, hashBytes),
    part: held.part,
    parts: held.parts,
    keywords: held.keywords,
    proof,
    data: bytes.subarray(hashBytes * (1 + proofLength)),
  };
}

/** The default store: blocks in a Map, bounded by the node's storage allocation. */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, HeldBlock>();
  private readonly metas = new Map<string, Uint8Array>();
  private used = 0;
  private closed = false;

  constructor(readonly capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw new InvalidArgumentError(`capacity must be a whole number of bytes, not ${capacityBytes}`);
  }

  get size(): number {
    return this.blocks.size;
  }

  usedBytes(): number {
    return this.used;
  }

  freeBytes(): number {
    return this.capacityBytes - this.used;
  }

  has(key: string): boolean {
    return this.blocks.has(key);
  }

  get(key: string): Block | undefined {
    const held = this.blocks.get(key);
    return held && viewBlock(held);
  }

  put(block: Block): boolean {
    this.assertOpen();
    const key = blockKey(block);
    if (this.blocks.has(key)) return true;
    const cost = blockStorageBytes(block);
    if (this.used + cost > this.capacityBytes) return false;
    this.blocks.set(key, holdBlock(block, cost));
    this.used += cost;
    return true;
  }

  putAll(blocks: readonly Block[]): boolean {
    this.assertOpen();
    const { added, cost } = blocksToAdd(blocks, (key) => this.blocks.has(key));
    if (this.used + cost > this.capacityBytes) return false;
    const shared = Buffer.allocUnsafeSlow(added.reduce((sum, { block }) => sum + heldLength(block), 0));
    let offset = 0;
    for (const { key, block, cost: blockCost } of added) {
      const length = heldLength(block);
      this.blocks.set(key, holdBlock(block, blockCost, shared.subarray(offset, offset + length)));
      offset += length;
    }
    this.used += cost;
    return true;
  }

  delete(key: string): boolean {
    this.assertOpen();
    const held = this.blocks.get(key);
    if (!held) return false;
    this.blocks.delete(key);
    this.used -= held.storageBytes + (this.metas.get(key)?.byteLength ?? 0);
    this.metas.delete(key);
    return true;
  }

  keys(): IterableIterator<string> {
    return this.blocks.keys();
  }

  setMeta(key: string, meta: Uint8Array): boolean {
    this.assertOpen();
    if (!this.blocks.has(key)) throw new InvalidArgumentError(`no block ${key} to attach metadata to`);
    if (meta.byteLength > maxBlockMetaBytes) throw new InvalidArgumentError(`block metadata of ${meta.byteLength} bytes exceeds ${maxBlockMetaBytes}`);
    const growth = meta.byteLength - (this.metas.get(key)?.byteLength ?? 0);
    if (this.used + growth > this.capacityBytes) return false;
    this.metas.set(key, new Uint8Array(meta));
    this.used += growth;
    return true;
  }

  getMeta(key: string): Uint8Array | undefined {
    return this.metas.get(key);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeStoppedError('the block store is closed');
  }
}

export function createMemoryBlockStore(capacityBytes: number): BlockStore {
  return new MemoryBlockStore(capacityBytes);
}
