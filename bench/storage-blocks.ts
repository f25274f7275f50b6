/**
 * Blocks and block stores: how fast content is split into verifiable blocks,
 * verified and joined again, against plain SHA-256 of the same bytes; and how
 * many blocks per second the memory and LMDB stores put and get, and how fast
 * a disk store reopens (loading and re-verifying every record).
 *
 * It also measures what a held block really costs in memory (heap and buffers
 * per block, after a full collection) against what the store charges for it.
 *
 *   node --expose-gc dist/bench/storage-blocks.js [--seconds 2] [--rounds 3] [--blocks 20000] [--dir /tmp]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRealDisk } from '../src/runtime/real/disk.js';
import { blockKey, blockSizeBytes, joinContent, splitContent, verifyBlock, type Block } from '../src/storage/block.js';
import { createMemoryBlockStore, openDiskBlockStore, type BlockStore } from '../src/storage/block-store.js';
import { bytesPerMebibyte, cpuSecondsPerCall, median, numberOption, report, round } from './common.js';

const args = process.argv.slice(2);
const measureMs = numberOption(args, 'seconds', 2) * 1000;
const rounds = numberOption(args, 'rounds', 3);
const storeBlockCount = numberOption(args, 'blocks', 20_000);
const directoryIndex = args.indexOf('--dir');
const parentDirectory = directoryIndex >= 0 ? (args[directoryIndex + 1] ?? tmpdir()) : tmpdir();

// Gigabit Ethernet: hashing must never be what limits a node on such a link.
const gigabitBytesPerSecond = 125_000_000;
const contentBytes = bytesPerMebibyte;
const content = randomBytes(contentBytes);
const keywords = ['benchmark', 'storage'];
const { contentId, blocks } = splitContent(content, keywords);


const hashSubjects = {
  'SHA-256 of the content (baseline)': () => {
    createHash('sha256').update(content).digest();
  },
  'splitContent': () => {
    splitContent(content, keywords);
  },
  'verifyBlock, every block': () => {
    for (const block of blocks) if (!verifyBlock(block, contentId)) throw new Error('a block failed to verify');
  },
  'joinContent (verifies every block)': () => {
    joinContent(blocks);
  },
};
type HashSubject = keyof typeof hashSubjects;

// Subjects alternate within each round, so load from other processes spreads over all of them.
const secondsPerCall = new Map<HashSubject, number[]>();
for (let roundIndex = 0; roundIndex < rounds; roundIndex += 1) {
  for (const [name, work] of Object.entries(hashSubjects) as [HashSubject, () => void][]) {
    secondsPerCall.set(name, [...(secondsPerCall.get(name) ?? []), cpuSecondsPerCall(work, measureMs)]);
  }
}
const bytesPerSecond = new Map([...secondsPerCall].map(([name, samples]) => [name, contentBytes / median(samples)]));
const baselineBytesPerSecond = bytesPerSecond.get('SHA-256 of the content (baseline)')!;

/** Wall-clock operations per second of `count` calls. */
async function opsPerSecond(count: number, work: (index: number) => void, settle?: () => Promise<void>): Promise<number> {
  const start = performance.now();
  for (let index = 0; index < count; index += 1) work(index);
  await settle?.();
  return count / ((performance.now() - start) / 1000);
}

// Distinct blocks for the stores: one content of storeBlockCount parts.
const storeBlocks: Block[] = splitContent(randomBytes(storeBlockCount * blockSizeBytes), keywords).blocks;
const storeKeys = storeBlocks.map(blockKey);
const capacityBytes = 2 * storeBlockCount * (blockSizeBytes + 1024);

async function measureStore(name: string, store: BlockStore) {
  const put = await opsPerSecond(
    storeBlockCount,
    (index) => {
      if (!store.put(storeBlocks[index]!)) throw new Error('the store refused a block');
    },
    () => store.flush(),
  );
  const get = await opsPerSecond(storeBlockCount, (index) => {
    if (!store.get(storeKeys[index]!)) throw new Error('a block went missing');
  });
  return { name, put, get };
}

const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc');

/** Heap and array-buffer bytes per block held by a fresh memory store, and what the store charges. */
const measureHeldBytes = (): { actual: number; charged: number } => {
  gc();
  gc();
  const before = process.memoryUsage();
  const store = createMemoryBlockStore(capacityBytes);
  for (const block of storeBlocks) store.put(block);
  gc();
  gc();
  const after = process.memoryUsage();
  const actual = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / store.size;
  return { actual, charged: store.usedBytes() / store.size };
};
const heldBytes = measureHeldBytes();

const memoryResult = await measureStore('memory store', createMemoryBlockStore(capacityBytes));
const scratch = await mkdtemp(join(parentDirectory, 'butter-bench-blocks-'));
let diskResult;
let reopenBlocksPerSecond;
try {
  const directory = join(scratch, 'blocks');
  const disk = await openDiskBlockStore(createRealDisk(), directory, capacityBytes);
  diskResult = await measureStore('disk store (LMDB)', disk);
  await disk.close();
  const openStart = performance.now();
  const reopened = await openDiskBlockStore(createRealDisk(), directory, capacityBytes);
  reopenBlocksPerSecond = reopened.openReport.loadedBlocks / ((performance.now() - openStart) / 1000);
  if (reopened.size !== storeBlockCount) throw new Error(`reopened with ${reopened.size} of ${storeBlockCount} blocks`);
  await reopened.close();
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const megabytes = (value: number): string => `${round(value / 1e6)} MB/s`;
const thousands = (value: number): string => `${round(value).toLocaleString('en-US')}/s`;
const split = bytesPerSecond.get('splitContent')!;
const verify = bytesPerSecond.get('verifyBlock, every block')!;

await report({
  name: 'storage-blocks',
  rows: [
    ...[...bytesPerSecond].map(([subject, rate]) => ({
      subject,
      'throughput (CPU time)': megabytes(rate),
      'of SHA-256': `${round((rate / baselineBytesPerSecond) * 100)} %`,
      'µs per 1 MiB': `${round((contentBytes / rate) * 1e6)}`,
    })),
    ...[memoryResult, diskResult].map((result) => ({
      subject: result.name,
      'put (wall, incl. flush)': `${thousands(result.put)} (${megabytes(result.put * blockSizeBytes)})`,
      get: thousands(result.get),
    })),
    { subject: 'disk store reopen (load + verify)', 'put (wall, incl. flush)': '', get: `${thousands(reopenBlocksPerSecond)} blocks` },
    { subject: 'memory per held block: measured / charged', 'put (wall, incl. flush)': `${round(heldBytes.actual)} B / ${round(heldBytes.charged)} B` },
  ],
  targets: [
    {
      name: 'the store never charges less than a held block really costs',
      target: `charged ≥ measured`,
      actual: `${round(heldBytes.charged)} B ≥ ${round(heldBytes.actual)} B`,
      met: heldBytes.charged >= heldBytes.actual,
    },
    { name: 'split 1 MiB faster than a gigabit link delivers it', target: '≥ 125 MB/s', actual: megabytes(split), met: split >= gigabitBytesPerSecond },
    { name: 'verify every block faster than a gigabit link delivers them', target: '≥ 125 MB/s', actual: megabytes(verify), met: verify >= gigabitBytesPerSecond },
    {
      name: 'disk store takes blocks as fast as a gigabit link delivers them',
      target: `≥ ${round(gigabitBytesPerSecond / blockSizeBytes).toLocaleString('en-US')} puts/s`,
      actual: thousands(diskResult.put),
      met: diskResult.put * blockSizeBytes >= gigabitBytesPerSecond,
    },
  ],
  metrics: {
    contentBytes,
    keywords,
    measureMs,
    rounds,
    cpuSecondsPerCall: Object.fromEntries(secondsPerCall),
    bytesPerSecond: Object.fromEntries(bytesPerSecond),
    storeBlockCount,
    directoryParent: parentDirectory,
    memoryStore: memoryResult,
    diskStore: diskResult,
    diskReopenBlocksPerSecond: reopenBlocksPerSecond,
    heldBytesPerBlock: heldBytes,
  },
});
