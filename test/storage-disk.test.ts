import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { open } from 'lmdb';
import { InvalidArgumentError, NodeStoppedError } from '../src/errors.js';
import { silentLogger } from '../src/node/logger.js';
import { createRealDisk } from '../src/runtime/real/disk.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { blockKey, blockKeyOf, blockSizeBytes, blockStorageBytes, joinContent, splitContent, type Block } from '../src/storage/block.js';
import { blockStoreDirectory, createMemoryBlockStore, maxBlockMetaBytes, openDiskBlockStore, type BlockStore } from '../src/storage/block-store.js';
import { blocksDatabaseName, metaDatabaseName } from '../src/storage/disk-block-store.js';
import { encodeValue } from '../src/transport/codec.js';

const random = new SeededRandom(5);
const realDisk = createRealDisk();

function someBlocks(count: number, keywords: string[] = ['k']): Block[] {
  return splitContent(random.bytes(count * blockSizeBytes), keywords).blocks;
}

/** Blocks read back from disk hold plain Uint8Arrays where fresh ones hold Buffers: compare the bytes. */
function assertSameBlock(actual: Block | undefined, expected: Block): void {
  const plain = (block: Block) => ({ ...block, contentHash: [...block.contentHash], proof: block.proof.map((hash) => [...hash]), data: [...block.data] });
  assert.ok(actual, `block ${blockKey(expected)} is held`);
  assert.deepEqual(plain(actual), plain(expected));
}

let scratch = '';
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'butter-storage-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let directoryCount = 0;
function freshDirectory(): string {
  directoryCount += 1;
  return blockStoreDirectory(join(scratch, `node-${directoryCount}`));
}

/** One behaviour suite, run on every BlockStore implementation. */
function blockStoreBehaviour(name: string, openStore: (capacityBytes: number) => Promise<BlockStore>): void {
  describe(`${name} block store`, () => {
    it('puts, gets, lists and deletes blocks, accounting their bytes', async () => {
      const store = await openStore(1 << 20);
      const blocks = someBlocks(3);
      assert.equal(store.usedBytes(), 0);
      for (const block of blocks) assert.equal(store.put(block), true);
      const keys = blocks.map(blockKey);
      assert.deepEqual([...store.keys()].sort(), [...keys].sort());
      assert.equal(store.size, 3);
      assertSameBlock(store.get(keys[1]!), blocks[1]!);
      assert.equal(store.has(keys[2]!), true);
      const total = blocks.reduce((sum, block) => sum + blockStorageBytes(block), 0);
      assert.equal(store.usedBytes(), total);
      assert.equal(store.freeBytes(), (1 << 20) - total);
      assert.equal(store.put(blocks[0]!), true, 'a second put of a held block');
      assert.equal(store.usedBytes(), total, 'is not charged twice');
      assert.equal(store.delete(keys[0]!), true);
      assert.equal(store.delete(keys[0]!), false);
      assert.equal(store.has(keys[0]!), false);
      assert.equal(store.get(keys[0]!), undefined);
      assert.equal(store.usedBytes(), total - blockStorageBytes(blocks[0]!));
      await store.close();
    });

    it('refuses blocks beyond its capacity, cleanly, and takes them once room is freed', async () => {
      const blocks = someBlocks(3);
      const costs = blocks.map(blockStorageBytes);
      const store = await openStore(costs[0]! + costs[1]!);
      assert.equal(store.put(blocks[0]!), true);
      assert.equal(store.put(blocks[1]!), true);
      assert.equal(store.freeBytes(), 0);
      assert.equal(store.put(blocks[2]!), false);
      assert.equal(store.has(blockKey(blocks[2]!)), false);
      assert.equal(store.usedBytes(), costs[0]! + costs[1]!);
      assert.equal(store.delete(blockKey(blocks[0]!)), true);
      assert.equal(store.put(blocks[2]!), true);
      assert.ok(store.usedBytes() <= store.capacityBytes);
      await store.close();
      const empty = await openStore(0);
      assert.equal(empty.put(blocks[0]!), false);
      await empty.close();
    });

    it('puts a segment whole or not at all, charging only the blocks it did not hold', async () => {
      const blocks = someBlocks(4);
      const costs = blocks.map(blockStorageBytes);
      const store = await openStore(costs[0]! + costs[1]! + costs[2]!);
      assert.equal(store.put(blocks[0]!), true);
      assert.equal(store.putAll(blocks), false, 'four do not fit');
      assert.deepEqual([...store.keys()], [blockKey(blocks[0]!)], 'nothing of a refused segment is kept');
      assert.equal(store.usedBytes(), costs[0]);
      assert.equal(store.putAll([...blocks.slice(0, 3), blocks[1]!]), true, 'a held block and a repeated one are charged once');
      assert.equal(store.usedBytes(), costs[0]! + costs[1]! + costs[2]!);
      assert.equal(store.delete(blockKey(blocks[1]!)), true);
      // The rest of the segment reads back whole after one of its blocks went (in memory they share one buffer).
      assertSameBlock(store.get(blockKey(blocks[0]!)), blocks[0]!);
      assertSameBlock(store.get(blockKey(blocks[2]!)), blocks[2]!);
      assert.equal(store.usedBytes(), costs[0]! + costs[2]!);
      await store.close();
      assert.throws(() => store.putAll(blocks), NodeStoppedError);
    });

    it('keeps metadata per block, counted against capacity and removed with the block', async () => {
      const [block, other] = someBlocks(2);
      const key = blockKey(block!);
      const store = await openStore(blockStorageBytes(block!) + 100);
      assert.equal(store.put(block!), true);
      assert.equal(store.getMeta(key), undefined);
      assert.equal(store.setMeta(key, Uint8Array.of(1, 2, 3)), true);
      assert.deepEqual(store.getMeta(key), Uint8Array.of(1, 2, 3));
      assert.equal(store.usedBytes(), blockStorageBytes(block!) + 3);
      assert.equal(store.setMeta(key, new Uint8Array(101)), false, 'over capacity');
      assert.deepEqual(store.getMeta(key), Uint8Array.of(1, 2, 3), 'unchanged after a refusal');
      assert.equal(store.setMeta(key, new Uint8Array(100)), true);
      assert.equal(store.freeBytes(), 0);
      assert.throws(() => store.setMeta(blockKey(other!), Uint8Array.of(1)), InvalidArgumentError);
      assert.throws(() => store.setMeta(key, new Uint8Array(maxBlockMetaBytes + 1)), InvalidArgumentError);
      assert.equal(store.delete(key), true);
      assert.equal(store.getMeta(key), undefined);
      assert.equal(store.usedBytes(), 0);
      await store.close();
    });

    it('keeps its own copy of bytes that share a larger buffer', async () => {
      const [block] = someBlocks(1);
      const frame = new Uint8Array(3 * blockSizeBytes);
      frame.set(block!.data, 100);
      const slice = frame.subarray(100, 100 + blockSizeBytes);
      const store = await openStore(1 << 20);
      assert.equal(store.put({ ...block!, data: slice }), true);
      const held = store.get(blockKey(block!))!;
      assert.notEqual(held.data.buffer, frame.buffer);
      frame.fill(0);
      assert.deepEqual([...held.data], [...block!.data]);
      await store.close();
    });

    it('refuses writes after close with a typed error', async () => {
      const [block] = someBlocks(1);
      const store = await openStore(1 << 20);
      await store.close();
      assert.throws(() => store.put(block!), NodeStoppedError);
      assert.throws(() => store.delete(blockKey(block!)), NodeStoppedError);
    });
  });
}

blockStoreBehaviour('memory', async (capacityBytes) => createMemoryBlockStore(capacityBytes));
blockStoreBehaviour('disk', (capacityBytes) => openDiskBlockStore(realDisk, freshDirectory(), capacityBytes));

describe('disk block store across restarts', () => {
  it('a store reopened on the same directory has its blocks and metadata', async () => {
    const directory = freshDirectory();
    const blocks = someBlocks(5, ['restart']);
    const store = await openDiskBlockStore(realDisk, directory, 1 << 20);
    for (const block of blocks) assert.equal(store.put(block), true);
    assert.equal(store.setMeta(blockKey(blocks[1]!), Uint8Array.of(9, 9)), true);
    assert.equal(store.delete(blockKey(blocks[4]!)), true);
    await store.flush();
    const used = store.usedBytes();
    await store.close();

    const reopened = await openDiskBlockStore(realDisk, directory, 1 << 20);
    assert.deepEqual(reopened.openReport, { loadedBlocks: 4, loadedMetas: 1, droppedCorrupt: 0, droppedOverCapacity: 0 });
    assert.equal(reopened.usedBytes(), used);
    for (const block of blocks.slice(0, 4)) assertSameBlock(reopened.get(blockKey(block)), block);
    assert.equal(reopened.has(blockKey(blocks[4]!)), false);
    assert.deepEqual(reopened.getMeta(blockKey(blocks[1]!)), Uint8Array.of(9, 9));
    await reopened.close();
  });

  it('what was flushed survives the process being killed without closing', { timeout: 30_000 }, async () => {
    const directory = freshDirectory();
    const storeModule = new URL('../src/storage/block-store.js', import.meta.url).href;
    const diskModule = new URL('../src/runtime/real/disk.js', import.meta.url).href;
    const blockModule = new URL('../src/storage/block.js', import.meta.url).href;
    // The child writes a known content, flushes, says so, and waits to be killed.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openDiskBlockStore } from ${JSON.stringify(storeModule)};
         import { createRealDisk } from ${JSON.stringify(diskModule)};
         import { splitContent, blockKey } from ${JSON.stringify(blockModule)};
         const store = await openDiskBlockStore(createRealDisk(), ${JSON.stringify(directory)}, 1 << 20);
         const { blocks } = splitContent(new Uint8Array(3 * 4096).fill(7), ['killed']);
         for (const block of blocks) store.put(block);
         store.setMeta(blockKey(blocks[0]), Uint8Array.of(4, 2));
         await store.flush();
         process.stdout.write('flushed');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    try {
      const said = await Promise.race([once(child.stdout, 'data').then(([chunk]) => String(chunk)), exited.then(([code]) => `exited with ${code}`)]);
      assert.equal(said, 'flushed');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const { contentId, blocks } = splitContent(new Uint8Array(3 * 4096).fill(7), ['killed']);
    const reopened = await openDiskBlockStore(realDisk, directory, 1 << 20);
    assert.deepEqual(reopened.openReport, { loadedBlocks: 3, loadedMetas: 1, droppedCorrupt: 0, droppedOverCapacity: 0 });
    assert.deepEqual(joinContent(blocks.map((block) => reopened.get(blockKey(block))!)), new Uint8Array(3 * 4096).fill(7));
    assert.deepEqual(reopened.getMeta(blockKeyOf(contentId, 0)), Uint8Array.of(4, 2));
    await reopened.close();
  });

  it('drops corrupt records at open, counts them, and keeps the rest', async () => {
    const directory = freshDirectory();
    const [good, tampered, misfiled] = someBlocks(3);
    const store = await openDiskBlockStore(realDisk, directory, 1 << 20);
    for (const block of [good!, tampered!, misfiled!]) store.put(block);
    store.setMeta(blockKey(good!), Uint8Array.of(1));
    await store.close();

    // Damage the records behind the store's back, as a bad disk or a bug would.
    const raw = open({ path: directory, compression: false });
    const rawBlocks = raw.openDB<Buffer, string>({ name: blocksDatabaseName, encoding: 'binary' });
    const rawMetas = raw.openDB<Buffer, string>({ name: metaDatabaseName, encoding: 'binary' });
    const flipped = new Uint8Array(tampered!.data);
    flipped[7]! ^= 0x10;
    await rawBlocks.put(blockKey(tampered!), encodeValue({ ...tampered!, data: flipped }) as Buffer);
    await rawBlocks.put(blockKey(misfiled!), encodeValue(good!) as Buffer);
    await rawBlocks.put('garbage/0', Buffer.from([0xc1, 0xff, 0x00]));
    await rawBlocks.put('not-a-block/0', encodeValue({ hello: 'world' }) as Buffer);
    await rawMetas.put('orphan/0', Buffer.from([1]));
    await raw.close();

    const warnings: object[] = [];
    const logger = { ...silentLogger, warn: (context: object) => void warnings.push(context) };
    const reopened = await openDiskBlockStore(realDisk, directory, 1 << 20, { logger });
    assert.deepEqual(reopened.openReport, { loadedBlocks: 1, loadedMetas: 1, droppedCorrupt: 4, droppedOverCapacity: 0 });
    assert.deepEqual(warnings, [{ directory, dropped: 4 }]);
    assert.deepEqual([...reopened.keys()], [blockKey(good!)]);
    assert.deepEqual(reopened.getMeta(blockKey(good!)), Uint8Array.of(1));
    assert.equal(reopened.usedBytes(), blockStorageBytes(good!) + 1);
    await reopened.close();

    const again = await openDiskBlockStore(realDisk, directory, 1 << 20);
    assert.deepEqual(again.openReport, { loadedBlocks: 1, loadedMetas: 1, droppedCorrupt: 0, droppedOverCapacity: 0 }, 'the bad records are gone from disk');
    await again.close();
  });

  it('reopened with a smaller allocation, keeps what fits and drops the rest', async () => {
    const directory = freshDirectory();
    const blocks = someBlocks(4);
    const store = await openDiskBlockStore(realDisk, directory, 1 << 20);
    for (const block of blocks) store.put(block);
    await store.close();
    const smaller = await openDiskBlockStore(realDisk, directory, 2 * blockStorageBytes(blocks[0]!));
    assert.equal(smaller.openReport.loadedBlocks, 2);
    assert.equal(smaller.openReport.droppedOverCapacity, 2);
    assert.equal(smaller.size, 2);
    assert.ok(smaller.usedBytes() <= smaller.capacityBytes);
    await smaller.close();
  });
});

describe('disk block store against the memory store', () => {
  // A pool of small blocks of different contents; operations pick from it by index.
  const pool = Array.from({ length: 8 }, (_, index) => splitContent(random.bytes(100 + index), [`pool${index}`]).blocks[0]!);
  const operation = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), index: fc.nat(pool.length - 1) }),
    fc.record({ kind: fc.constant('delete' as const), index: fc.nat(pool.length - 1) }),
    fc.record({ kind: fc.constant('meta' as const), index: fc.nat(pool.length - 1), length: fc.nat(300) }),
  );

  it('any sequence of puts, deletes and metadata gives the same answers, and the same contents after a reopen', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 30 }), fc.integer({ min: 0, max: 5000 }), async (operations, capacityBytes) => {
        const directory = freshDirectory();
        const memory = createMemoryBlockStore(capacityBytes);
        const disk = await openDiskBlockStore(realDisk, directory, capacityBytes);
        for (const step of operations) {
          const block = pool[step.index]!;
          const key = blockKey(block);
          if (step.kind === 'put') assert.equal(disk.put(block), memory.put(block));
          else if (step.kind === 'delete') assert.equal(disk.delete(key), memory.delete(key));
          else if (memory.has(key)) assert.equal(disk.setMeta(key, new Uint8Array(step.length).fill(step.length & 0xff)), memory.setMeta(key, new Uint8Array(step.length).fill(step.length & 0xff)));
          assert.equal(disk.usedBytes(), memory.usedBytes());
          assert.ok(memory.usedBytes() <= capacityBytes);
        }
        await disk.close();
        const reopened = await openDiskBlockStore(realDisk, directory, capacityBytes);
        assert.deepEqual([...reopened.keys()].sort(), [...memory.keys()].sort());
        assert.equal(reopened.usedBytes(), memory.usedBytes());
        for (const key of memory.keys()) assert.deepEqual(reopened.getMeta(key), memory.getMeta(key));
        await reopened.close();
        await rm(directory, { recursive: true, force: true });
      }),
      { numRuns: 40, seed: 11 },
    );
  });
});
