/**
 * One real node (real runtime, LMDB under a temporary data directory) holding `--blocks`
 * (100,000) blocks on disk, idle: CPU per second of wall time and heap after a full
 * collection, right after storing and again after a restart (which re-verifies every
 * record at open: its time is reported too). The content is stored at `r = 1`, so that the
 * node's groups are complete with it alone and nothing but its own maintenance runs;
 * heartbeats per node are measured flat from 1 to 100,000 blocks by storage-scale.
 *
 *   node --expose-gc dist/bench/storage-disk-idle.js [--blocks 100000] [--idle-seconds 30] [--dir /tmp]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createNode } from '../src/node/create.js';
import { storage } from '../src/storage/service.js';
import { bytesPerMebibyte, numberOption, report, round, type StorageNode } from './common.js';

const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc');
const args = process.argv.slice(2);
const blockCount = numberOption(args, 'blocks', 100_000);
const idleSeconds = numberOption(args, 'idle-seconds', 30);
const directoryIndex = args.indexOf('--dir');
const parent = directoryIndex >= 0 ? String(args[directoryIndex + 1]) : tmpdir();
// Room for every block and its overhead.
const memoryMB = 64 + Math.ceil((blockCount * 5_000) / 1e6);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startNode(dataDir: string): Promise<{ node: StorageNode; startMs: number }> {
  const started = performance.now();
  const node: StorageNode = await createNode({ host: '127.0.0.1', memoryMB, dataDir, services: { storage: storage({ replicas: 1 }) } });
  await node.spawn();
  return { node, startMs: performance.now() - started };
}

async function idle(node: StorageNode): Promise<{ cpuPercent: number; heapMiB: number; blocks: number; groups: number }> {
  await sleep(3_000); // the last writes and decisions settle
  gc?.();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await sleep(idleSeconds * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  gc?.();
  return {
    cpuPercent: round(((cpu.user + cpu.system) / 1000 / wallMs) * 100, 2),
    heapMiB: round(process.memoryUsage().heapUsed / bytesPerMebibyte, 1),
    blocks: node.services.storage.blocks.size,
    groups: node.services.storage.groups().length,
  };
}

const dataDir = await mkdtemp(join(parent, 'butter-disk-idle-'));
try {
  const first = await startNode(dataDir);
  const storeStarted = performance.now();
  // Contents of 256 MiB at most (65,536 blocks) each.
  for (let stored = 0; stored < blockCount; ) {
    const blocks = Math.min(65_536, blockCount - stored);
    await first.node.services.storage.store(randomBytes(blocks * 4096), { replicas: 1 });
    stored += blocks;
  }
  await first.node.services.storage.blocks.flush();
  const storeSeconds = (performance.now() - storeStarted) / 1000;
  const afterStore = await idle(first.node);
  console.error(`stored ${blockCount} blocks in ${storeSeconds.toFixed(1)} s; idle: ${JSON.stringify(afterStore)}`);
  await first.node.stop();
  const second = await startNode(dataDir);
  const afterRestart = await idle(second.node);
  console.error(`restarted in ${(second.startMs / 1000).toFixed(1)} s; idle: ${JSON.stringify(afterRestart)}`);
  await second.node.stop();
  const rows = [
    { case: `${blockCount} blocks on disk, after storing them (${round(storeSeconds, 1)} s)`, 'CPU % of a core': String(afterStore.cpuPercent), 'heap MiB': String(afterStore.heapMiB), groups: String(afterStore.groups) },
    {
      case: `the same after a restart (open and re-verify: ${round(second.startMs / 1000, 1)} s)`,
      'CPU % of a core': String(afterRestart.cpuPercent),
      'heap MiB': String(afterRestart.heapMiB),
      groups: String(afterRestart.groups),
    },
  ];
  const worst = { cpu: Math.max(afterStore.cpuPercent, afterRestart.cpuPercent), heap: Math.max(afterStore.heapMiB, afterRestart.heapMiB) };
  await report({
    name: 'storage-disk-idle',
    rows,
    targets: [
      { name: `a node idle with ${blockCount} blocks on disk uses at most 2 % of one core`, target: '≤ 2 %', actual: `${worst.cpu} %`, met: worst.cpu <= 2 },
      { name: `… and at most 100 MiB of heap`, target: '≤ 100 MiB', actual: `${worst.heap} MiB`, met: worst.heap <= 100 },
    ],
    metrics: { blockCount, idleSeconds, memoryMB, storeSeconds, afterStore, restartMs: second.startMs, afterRestart },
  });
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
