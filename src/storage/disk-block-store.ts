import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Database, RootDatabase } from 'lmdb';
import { NodeStoppedError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import { decodeValue, encodeValue } from '../transport/codec.js';
import { blockKey, blockSchema, verifyBlock, type Block } from './block.js';
import { maxBlockMetaBytes, type BlockStore } from './block-store.js';
import { MemoryBlockStore } from './memory-block-store.js';

/** LMDB sub-databases: blocks in their wire form (MessagePack) and raw metadata, both keyed by block key. */
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
 * The memory store, written through to LMDB: reads come from memory, every
 * change is queued to disk in order (LMDB batches them into transactions),
 * and `flush` waits until they are synced. Opening verifies every record.
 */
class LmdbBlockStore implements DiskBlockStore {
  private writeError: unknown;
  private closed = false;

  constructor(
    readonly directory: string,
    private readonly memory: MemoryBlockStore,
    private readonly root: RootDatabase,
    private readonly blocks: Database<Buffer, string>,
    private readonly metas: Database<Buffer, string>,
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
    this.track(this.blocks.put(key, encodeValue(block) as Buffer));
    return true;
  }

  delete(key: string): boolean {
    this.assertOpen();
    const hadMeta = this.memory.getMeta(key) !== undefined;
    if (!this.memory.delete(key)) return false;
    this.track(this.blocks.remove(key));
    if (hadMeta) this.track(this.metas.remove(key));
    return true;
  }

  keys(): IterableIterator<string> {
    return this.memory.keys();
  }

  setMeta(key: string, meta: Uint8Array): boolean {
    this.assertOpen();
    if (!this.memory.setMeta(key, meta)) return false;
    this.track(this.metas.put(key, Buffer.from(meta)));
    return true;
  }

  getMeta(key: string): Uint8Array | undefined {
    return this.memory.getMeta(key);
  }

  async flush(): Promise<void> {
    // LMDB's `flushed` resolves once every earlier write is committed and synced.
    await this.root.flushed;
    if (this.writeError !== undefined) {
      const error = this.writeError;
      this.writeError = undefined;
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.memory.close();
    try {
      await this.flush();
    } finally {
      await this.root.close();
    }
  }

  /** A failed write (disk full, I/O error) surfaces at the next flush. */
  private track(write: Promise<unknown>): void {
    write.catch((error: unknown) => {
      this.writeError ??= error;
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeStoppedError('the block store is closed');
  }
}

/**
 * Opens (creating if needed) the block store in `directory` (for a node:
 * blockStoreDirectory(dataDir)) and loads every block and metadata record into
 * memory. Records that fail verification are deleted and counted, not fatal.
 */
export async function openDiskBlockStore(directory: string, capacityBytes: number, options: { logger?: Logger } = {}): Promise<DiskBlockStore> {
  const logger = options.logger ?? silentLogger;
  const memory = new MemoryBlockStore(capacityBytes);
  await mkdir(directory, { recursive: true });
  // Loaded on first use: a node without a data directory never loads the native binding.
  const { open } = await import('lmdb');
  const root = open({ path: directory, compression: false });
  try {
    const blocks = root.openDB<Buffer, string>({ name: blocksDatabaseName, encoding: 'binary' });
    const metas = root.openDB<Buffer, string>({ name: metaDatabaseName, encoding: 'binary' });
    const report = await loadRecords(memory, blocks, metas);
    if (report.droppedCorrupt > 0) logger.warn({ directory, dropped: report.droppedCorrupt }, 'dropped corrupt block records');
    if (report.droppedOverCapacity > 0) {
      logger.warn({ directory, dropped: report.droppedOverCapacity, capacityBytes }, 'dropped blocks beyond the storage allocation');
    }
    return new LmdbBlockStore(directory, memory, root, blocks, metas, report);
  } catch (error) {
    await root.close();
    throw error;
  }
}

/** Loads every valid record into `memory` and deletes the rest from disk. */
async function loadRecords(memory: MemoryBlockStore, blocks: Database<Buffer, string>, metas: Database<Buffer, string>): Promise<DiskOpenReport> {
  const report: DiskOpenReport = { loadedBlocks: 0, loadedMetas: 0, droppedCorrupt: 0, droppedOverCapacity: 0 };
  const removals: Promise<unknown>[] = [];
  for (const { key, value } of blocks.getRange()) {
    const block = typeof key === 'string' ? decodeStoredBlock(key, value) : undefined;
    if (!block) {
      report.droppedCorrupt += 1;
      removals.push(blocks.remove(key));
    } else if (!memory.put(block)) {
      report.droppedOverCapacity += 1;
      removals.push(blocks.remove(key));
    } else {
      report.loadedBlocks += 1;
    }
  }
  for (const { key, value } of metas.getRange()) {
    const kept = typeof key === 'string' && memory.has(key) && value.byteLength <= maxBlockMetaBytes && memory.setMeta(key, value);
    if (kept) report.loadedMetas += 1;
    else removals.push(metas.remove(key));
  }
  await Promise.all(removals);
  return report;
}
