import { InvalidArgumentError, NodeStoppedError } from '../errors.js';
import { blockKey, blockStorageBytes, type Block } from './block.js';
import { maxBlockMetaBytes, type BlockStore } from './block-store.js';

/**
 * A typed array that shares a larger buffer (a slice of a received frame, a
 * pooled Buffer) would keep that buffer alive; the store keeps its own copy so
 * the bytes it accounts for are the bytes it holds.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

function ownBlock(block: Block): Block {
  return {
    contentHash: ownBytes(block.contentHash),
    part: block.part,
    parts: block.parts,
    keywords: Object.isFrozen(block.keywords) ? block.keywords : Object.freeze([...block.keywords]),
    proof: block.proof.map(ownBytes),
    data: ownBytes(block.data),
  };
}

/** The default store: blocks in a Map, bounded by the node's storage allocation. */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, Block>();
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
    return this.blocks.get(key);
  }

  put(block: Block): boolean {
    this.assertOpen();
    const key = blockKey(block);
    if (this.blocks.has(key)) return true;
    const cost = blockStorageBytes(block);
    if (this.used + cost > this.capacityBytes) return false;
    this.blocks.set(key, ownBlock(block));
    this.used += cost;
    return true;
  }

  delete(key: string): boolean {
    this.assertOpen();
    const block = this.blocks.get(key);
    if (!block) return false;
    this.blocks.delete(key);
    this.used -= blockStorageBytes(block) + (this.metas.get(key)?.byteLength ?? 0);
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
