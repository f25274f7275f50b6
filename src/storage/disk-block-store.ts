import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidArgumentError, NodeStoppedError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import type { Disk, KeyValueDatabase, KeyValueEnvironment } from '../runtime/disk.js';
import { decodeValue, encodeValue } from '../transport/codec.js';
import { blockKey, blockSchema, blockStorageBytes, verifyBlock, type Block } from './block.js';
import { blocksToAdd, maxBlockMetaBytes, type BlockStore } from './block-store.js';

/** Sub-databases of the store's key–value environment: blocks in their wire form (MessagePack) and raw metadata, both keyed by block key. */
export const blocksDatabaseName = 'blocks';
export const metaDatabaseName = 'meta';

/** Where a node with `dataDir` keeps its blocks. */
export function blockStoreDirectory(dataDir: string): string {
  return join(dataDir, 'blocks');
}

/** What opening found on disk. */
export interface DiskOpenReport {
  loadedBlocks: number;
  loadedMetas: number;
  /** Records that failed to decode or verify, or sat under the wrong key: deleted. */
  droppedCorrupt: number;
  /** Valid blocks beyond the capacity (the allocation shrank since they were written): deleted. */
  droppedOverCapacity: number;
}

export interface DiskBlockStore extends BlockStore {
  readonly directory: string;
  readonly openReport: DiskOpenReport;
}

const checkWireBlock = TypeCompiler.Compile(blockSchema);

function decodeStoredBlock(key: string, bytes: Uint8Array): Block | undefined {
  try {
    const value = decodeValue(bytes);
    if (!checkWireBlock.Check(value) || !verifyBlock(value) || blockKey(value) !== key) return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/** What the store keeps in memory of a block on disk: its charge, and its metadata (at most 1 KiB, beside few blocks). */
interface IndexEntry {
  readonly storageBytes: number;
  meta: Uint8Array | undefined;
}

/** A block written but perhaps not readable back yet, in its wire form, with the flush generation it was written in. */
interface Unflushed {
  readonly bytes: Uint8Array;
  readonly generation: number;
}

/**
 * Blocks on disk (LMDB on the real runtime), only an index in memory: per block its key,
 * its charge and any metadata, about 200 bytes of heap, so that a node holding 100,000
 * blocks needs some 20 MiB, not the 470 MiB the blocks take. Every change is queued to
 * disk in order and `flush` waits until they are durable; a block written since the last
 * flush finished is read from its queued bytes (the disk may not show it yet). A read
 * decodes and verifies the record again: what comes off the disk is checked like what
 * comes off the wire. Capacity is charged as the memory store charges it.
 */
class DiskBackedBlockStore implements DiskBlockStore {
  private readonly index = new Map<string, IndexEntry>();
  /** In write order, so the settled ones are at the front. */
  private readonly unflushed = new Map<string, Unflushed>();
  private generation = 0;
  private settling: Promise<void> | undefined;
  /** A background flush failed: the next `flush` reports it. */
  private writeFailure: { error: unknown } | undefined;
  private used = 0;
  private closed = false;

  constructor(
    readonly directory: string,
    readonly capacityBytes: number,
    private readonly environment: KeyValueEnvironment,
    private readonly blocks: KeyValueDatabase,
    private readonly metas: KeyValueDatabase,
  ) {}

  /** Set once, by `load` at open. */
  openReport: DiskOpenReport = { loadedBlocks: 0, loadedMetas: 0, droppedCorrupt: 0, droppedOverCapacity: 0 };

  get size(): number {
    return this.index.size;
  }

  usedBytes(): number {
    return this.used;
  }

  freeBytes(): number {
    return this.capacityBytes - this.used;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  get(key: string): Block | undefined {
    if (!this.index.has(key)) return undefined;
    const bytes = this.unflushed.get(key)?.bytes ?? this.blocks.get(key);
    return bytes && decodeStoredBlock(key, bytes);
  }

  put(block: Block): boolean {
    this.assertOpen();
    const key = blockKey(block);
    if (this.index.has(key)) return true;
    const cost = blockStorageBytes(block);
    if (this.used + cost > this.capacityBytes) return false;
    // A buffer of its own: the block's bytes may share a larger one (the frame it came in).
    const bytes = new Uint8Array(encodeValue(block));
    this.index.set(key, { storageBytes: cost, meta: undefined });
    this.used += cost;
    this.blocks.put(key, bytes);
    this.unflushed.set(key, { bytes, generation: this.generation });
    this.settle();
    return true;
  }

  putAll(blocks: readonly Block[]): boolean {
    this.assertOpen();
    const { added, cost } = blocksToAdd(blocks, (key) => this.index.has(key));
    if (this.used + cost > this.capacityBytes) return false;
    for (const { block } of added) this.put(block);
    return true;
  }

  delete(key: string): boolean {
    this.assertOpen();
    const entry = this.index.get(key);
    if (!entry) return false;
    this.index.delete(key);
    this.unflushed.delete(key);
    this.used -= entry.storageBytes + (entry.meta?.byteLength ?? 0);
    this.blocks.remove(key);
    if (entry.meta) this.metas.remove(key);
    return true;
  }

  keys(): IterableIterator<string> {
    return this.index.keys();
  }

  setMeta(key: string, meta: Uint8Array): boolean {
    this.assertOpen();
    const entry = this.index.get(key);
    if (!entry) throw new InvalidArgumentError(`no block ${key} to attach metadata to`);
    if (meta.byteLength > maxBlockMetaBytes) throw new InvalidArgumentError(`block metadata of ${meta.byteLength} bytes exceeds ${maxBlockMetaBytes}`);
    const growth = meta.byteLength - (entry.meta?.byteLength ?? 0);
    if (this.used + growth > this.capacityBytes) return false;
    entry.meta = new Uint8Array(meta);
    this.used += growth;
    this.metas.put(key, entry.meta);
    return true;
  }

  getMeta(key: string): Uint8Array | undefined {
    return this.index.get(key)?.meta;
  }

  /** Resolves once every earlier write is durable; a failed write (disk full, I/O error) rejects here. */
  async flush(): Promise<void> {
    await this.environment.flush();
    const failure = this.writeFailure;
    this.writeFailure = undefined;
    if (failure) throw failure.error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settling;
    await this.environment.close();
  }

  /** Bounds `unflushed`: one background flush at a time; when it is done, what was written before it reads from disk. */
  private settle(): void {
    if (this.settling || this.closed) return;
    const upTo = this.generation;
    this.generation += 1;
    this.settling = this.environment.flush().then(
      () => {
        for (const [key, entry] of this.unflushed) {
          if (entry.generation > upTo) break;
          this.unflushed.delete(key);
        }
      },
      (error: unknown) => {
        this.writeFailure ??= { error };
      },
    );
    void this.settling.finally(() => {
      this.settling = undefined;
      if (this.unflushed.size > 0 && !this.writeFailure) this.settle();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeStoppedError('the block store is closed');
  }

  /** Opening: indexes every valid record and deletes the rest from disk. */
  load(): DiskOpenReport {
    const report: DiskOpenReport = { loadedBlocks: 0, loadedMetas: 0, droppedCorrupt: 0, droppedOverCapacity: 0 };
    for (const { key, value } of this.blocks.entries()) {
      const block = decodeStoredBlock(key, value);
      const cost = block && blockStorageBytes(block);
      if (cost === undefined) {
        report.droppedCorrupt += 1;
        this.blocks.remove(key);
      } else if (this.used + cost > this.capacityBytes) {
        report.droppedOverCapacity += 1;
        this.blocks.remove(key);
      } else {
        this.index.set(key, { storageBytes: cost, meta: undefined });
        this.used += cost;
        report.loadedBlocks += 1;
      }
    }
    for (const { key, value } of this.metas.entries()) {
      const entry = this.index.get(key);
      const kept = entry !== undefined && value.byteLength <= maxBlockMetaBytes && this.used + value.byteLength <= this.capacityBytes;
      if (kept) {
        entry.meta = new Uint8Array(value);
        this.used += value.byteLength;
        report.loadedMetas += 1;
      } else {
        this.metas.remove(key);
      }
    }
    this.openReport = report;
    return report;
  }
}

/**
 * Opens (creating if needed) the block store in `directory` on `disk` (for a
 * node: blockStoreDirectory(dataDir) on runtime.disk) and indexes every block
 * (each decoded and verified once) and loads the metadata. Records that fail
 * verification are deleted and counted, not fatal; so are valid ones beyond the capacity.
 */
export async function openDiskBlockStore(disk: Disk, directory: string, capacityBytes: number, options: { logger?: Logger } = {}): Promise<DiskBlockStore> {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw new InvalidArgumentError(`capacity must be a whole number of bytes, not ${capacityBytes}`);
  const logger = options.logger ?? silentLogger;
  const environment = await disk.openKeyValue(directory);
  try {
    const store = new DiskBackedBlockStore(directory, capacityBytes, environment, environment.database(blocksDatabaseName), environment.database(metaDatabaseName));
    const report = store.load();
    // The deletions are durable before the store is used.
    await environment.flush();
    if (report.droppedCorrupt > 0) logger.warn({ directory, dropped: report.droppedCorrupt }, 'dropped corrupt block records');
    if (report.droppedOverCapacity > 0) {
      logger.warn({ directory, dropped: report.droppedOverCapacity, capacityBytes }, 'dropped blocks beyond the storage allocation');
    }
    return store;
  } catch (error) {
    await environment.close().catch(() => undefined);
    throw error;
  }
}
