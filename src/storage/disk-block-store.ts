import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { NodeStoppedError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import type { Disk, KeyValueDatabase, KeyValueEnvironment } from '../runtime/disk.js';
import { decodeValue, encodeValue } from '../transport/codec.js';
import { blockKey, blockSchema, verifyBlock, type Block } from './block.js';
import { maxBlockMetaBytes, type BlockStore } from './block-store.js';
import { MemoryBlockStore } from './memory-block-store.js';

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

/**
 * The memory store, written through to the disk's key–value environment
 * (LMDB on the real runtime): reads come from memory, every change is queued
 * to disk in order, and `flush` waits until they are durable. Opening
 * verifies every record.
 */
class WriteThroughBlockStore implements DiskBlockStore {
  private closed = false;

  constructor(
    readonly directory: string,
    private readonly memory: MemoryBlockStore,
    private readonly environment: KeyValueEnvironment,
    private readonly blocks: KeyValueDatabase,
    private readonly metas: KeyValueDatabase,
    readonly openReport: DiskOpenReport,
  ) {}

  get capacityBytes(): number {
    return this.memory.capacityBytes;
  }

  get size(): number {
    return this.memory.size;
  }

  usedBytes(): number {
    return this.memory.usedBytes();
  }

  freeBytes(): number {
    return this.memory.freeBytes();
  }

  has(key: string): boolean {
    return this.memory.has(key);
  }

  get(key: string): Block | undefined {
    return this.memory.get(key);
  }

  put(block: Block): boolean {
    this.assertOpen();
    const key = blockKey(block);
    if (this.memory.has(key)) return true;
    if (!this.memory.put(block)) return false;
    this.blocks.put(key, encodeValue(block));
    return true;
  }

  delete(key: string): boolean {
    this.assertOpen();
    const hadMeta = this.memory.getMeta(key) !== undefined;
    if (!this.memory.delete(key)) return false;
    this.blocks.remove(key);
    if (hadMeta) this.metas.remove(key);
    return true;
  }

  keys(): IterableIterator<string> {
    return this.memory.keys();
  }

  setMeta(key: string, meta: Uint8Array): boolean {
    this.assertOpen();
    if (!this.memory.setMeta(key, meta)) return false;
    this.metas.put(key, meta);
    return true;
  }

  getMeta(key: string): Uint8Array | undefined {
    return this.memory.getMeta(key);
  }

  /** Resolves once every earlier write is durable; a failed write (disk full, I/O error) rejects here. */
  flush(): Promise<void> {
    return this.environment.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.memory.close();
    await this.environment.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeStoppedError('the block store is closed');
  }
}

/**
 * Opens (creating if needed) the block store in `directory` on `disk` (for a
 * node: blockStoreDirectory(dataDir) on runtime.disk) and loads every block and
 * metadata record into memory. Records that fail verification are deleted and
 * counted, not fatal; so are valid ones beyond the capacity.
 */
export async function openDiskBlockStore(disk: Disk, directory: string, capacityBytes: number, options: { logger?: Logger } = {}): Promise<DiskBlockStore> {
  const logger = options.logger ?? silentLogger;
  const memory = new MemoryBlockStore(capacityBytes);
  const environment = await disk.openKeyValue(directory);
  try {
    const blocks = environment.database(blocksDatabaseName);
    const metas = environment.database(metaDatabaseName);
    const report = loadRecords(memory, blocks, metas);
    // The deletions are durable before the store is used.
    await environment.flush();
    if (report.droppedCorrupt > 0) logger.warn({ directory, dropped: report.droppedCorrupt }, 'dropped corrupt block records');
    if (report.droppedOverCapacity > 0) {
      logger.warn({ directory, dropped: report.droppedOverCapacity, capacityBytes }, 'dropped blocks beyond the storage allocation');
    }
    return new WriteThroughBlockStore(directory, memory, environment, blocks, metas, report);
  } catch (error) {
    await environment.close().catch(() => undefined);
    throw error;
  }
}

/** Loads every valid record into `memory` and deletes the rest from disk. */
function loadRecords(memory: MemoryBlockStore, blocks: KeyValueDatabase, metas: KeyValueDatabase): DiskOpenReport {
  const report: DiskOpenReport = { loadedBlocks: 0, loadedMetas: 0, droppedCorrupt: 0, droppedOverCapacity: 0 };
  for (const { key, value } of blocks.entries()) {
    const block = decodeStoredBlock(key, value);
    if (!block) {
      report.droppedCorrupt += 1;
      blocks.remove(key);
    } else if (!memory.put(block)) {
      report.droppedOverCapacity += 1;
      blocks.remove(key);
    } else {
      report.loadedBlocks += 1;
    }
  }
  for (const { key, value } of metas.entries()) {
    const kept = memory.has(key) && value.byteLength <= maxBlockMetaBytes && memory.setMeta(key, value);
    if (kept) report.loadedMetas += 1;
    else metas.remove(key);
  }
  return report;
}
