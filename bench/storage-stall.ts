/**
 * Storage under a stalled event loop: `--nodes` real nodes in this process (TLS on loopback,
 * heartbeat 2 s, `r = 3`) each store one 1 KiB item; once settled, the whole process is
 * blocked `--stalls` times for `--stall-ms` (a busy loop, as a long GC pause or a starved CPU
 * would), `--gap-ms` apart. Counted from the first stall to the end of a calm period after the
 * last: storage offers (recruitments) and sheds, the group maintenance a false suspicion
 * costs; then how many items are at `r` copies.
 *
 *   node dist/bench/storage-stall.js [--nodes 30] [--stalls 3] [--stall-ms 4000] [--gap-ms 6000]
 */
import { randomBytes } from 'node:crypto';
import { createNode } from '../src/node/create.js';
import { blockKeyOf } from '../src/storage/block.js';
import { storage } from '../src/storage/service.js';
import { numberOption, report, type StorageNode } from './common.js';

const args = process.argv.slice(2);
const nodeCount = numberOption(args, 'nodes', 30);
const stalls = numberOption(args, 'stalls', 3);
const stallMs = numberOption(args, 'stall-ms', 4_000);
const gapMs = numberOption(args, 'gap-ms', 6_000);
const calmMs = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function messages(nodes: readonly StorageNode[], label: string): number {
  let total = 0;
  for (const node of nodes) total += node.traffic.byLabel()[label]?.messages ?? 0;
  return total;
}

const nodes: StorageNode[] = [];
try {
  for (let index = 0; index < nodeCount; index += 1) {
    const bootstrap = nodes.slice(-8).map((node) => node.address);
    const node: StorageNode = await createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap, services: { storage: storage() } });
    await node.spawn();
    nodes.push(node);
  }
  await sleep(2_000);
  const items = await Promise.all(nodes.map((node) => node.services.storage.store(randomBytes(1024), { durable: true })));
  await sleep(8_000);
  const offersBefore = messages(nodes, 'request:storage/offer');
  const shedsBefore = messages(nodes, 'notify:storage/shed');
  for (let stall = 0; stall < stalls; stall += 1) {
    const until = Date.now() + stallMs;
    while (Date.now() < until); // the whole process stalls: no timer, no socket is served
    await sleep(gapMs);
  }
  await sleep(calmMs);
  const offers = messages(nodes, 'request:storage/offer') - offersBefore;
  const sheds = messages(nodes, 'notify:storage/shed') - shedsBefore;
  const copies = items.map((contentId) => nodes.filter((node) => node.services.storage.has(blockKeyOf(contentId, 0))).length);
  const atTarget = copies.filter((count) => count === 3).length;
  const mean = copies.reduce((sum, count) => sum + count, 0) / copies.length;
  await report({
    name: 'storage-stall',
    rows: [
      {
        case: `${nodeCount} nodes, ${stalls} stalls of ${stallMs} ms, ${gapMs} ms apart`,
        'storage offers': String(offers),
        sheds: String(sheds),
        'items at 3 copies': `${atTarget} of ${items.length}`,
        'copies mean': mean.toFixed(2),
      },
    ],
    targets: [],
    metrics: { nodeCount, stalls, stallMs, gapMs, offers, sheds, atTarget, items: items.length, copiesMean: mean },
  });
} finally {
  await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
}
