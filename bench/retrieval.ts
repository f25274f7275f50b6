/**
 * Retrieval on real nodes (issue 13): the testbed's `retrieval` experiment on
 * the real runtime — N = 100 nodes on loopback in this process, 100 items of
 * 4 KiB (3 copies), 100 lookups from random nodes not holding the item — for
 * bfs, rbfs and informed side by side with the original's table; then 1 MiB
 * (256 blocks) stored on one real node and retrieved by another, cold (the
 * reader's first retrieval) and warm (the next ones).
 *
 *   node dist/bench/retrieval.js [--nodes 100] [--queries 100] [--seed 1] [--warm 5]
 */
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { strategies, type Strategy } from '../src/retrieval/messages.js';
import { retrieval, type RetrievalService } from '../src/retrieval/service.js';
import { storage, type StorageService } from '../src/storage/service.js';
import { bytesPerMebibyte, numberOption, report, round } from './common.js';
import { retrievalTable } from './retrieval-table.js';

const args = process.argv.slice(2);
const nodes = numberOption(args, 'nodes', 100);
const queries = numberOption(args, 'queries', 100);
const seed = numberOption(args, 'seed', 1);
const warmRuns = numberOption(args, 'warm', 5);

/** SPEC §6: the original's table (100 nodes, 10 queries). */
const original = [
  { strategy: 'the original: BFS (10 queries)', found: '100 %', messages: '587', latency: '10.1 s' },
  { strategy: 'the original: random BFS', found: '68 %', messages: '235', latency: '5.4 s' },
];

type RetrievalNode = ButterNode<{ storage: StorageService; retrieval: RetrievalService }>;

/** Two real nodes: the writer holds the only copy of 1 MiB; the reader retrieves it `1 + warmRuns` times (nothing is kept between). */
async function mebibyte(strategy: Strategy): Promise<number[]> {
  const started: RetrievalNode[] = [];
  try {
    for (let index = 0; index < 2; index += 1) {
      const bootstrap = started.map((earlier) => earlier.address);
      const node: RetrievalNode = await createNode({ host: '127.0.0.1', memoryMB: 64, bootstrap, discovery: { enabled: false }, services: { storage: storage(), retrieval: retrieval() } });
      await node.spawn();
      started.push(node);
    }
    const [writer, reader] = started as [RetrievalNode, RetrievalNode];
    const data = new Uint8Array(bytesPerMebibyte).map((_, index) => (index * 7919) % 256);
    const contentId = await writer.services.storage.store(data, { replicas: 1 });
    // The summary exchange starts 1 s after spawn: give it that second and a little.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const timings: number[] = [];
    for (let run = 0; run <= warmRuns; run += 1) {
      const startedAt = performance.now();
      const bytes = await reader.services.retrieval.retrieve(contentId, { strategy });
      const elapsed = performance.now() - startedAt;
      if (!bytes || Buffer.compare(Buffer.from(bytes), Buffer.from(data)) !== 0) throw new Error(`${strategy}: 1 MiB did not round-trip`);
      timings.push(round(elapsed, 1));
    }
    return timings;
  } finally {
    await Promise.all(started.map((node) => node.stop({ graceful: false })));
  }
}

const loadBefore = (await import('node:os')).loadavg()[0] ?? 0;
const table = await retrievalTable({ nodes, queries, seed, strategies: [...strategies] });
const mib: Record<string, number[]> = {};
for (const strategy of strategies) mib[strategy] = await mebibyte(strategy);
const loadAfter = (await import('node:os')).loadavg()[0] ?? 0;

const informed = table.find((row) => row.strategy === 'informed')?.figures;
const informedMib = mib.informed ?? [];
const worstMib = Math.max(...informedMib);
await report({
  name: 'retrieval',
  rows: [
    ...table.map(({ strategy, figures }) => ({
      strategy,
      found: `${figures.foundPercent} %`,
      'messages/query mean': String(figures.messagesPerQueryMean),
      'messages/query p99': String(figures.messagesPerQueryP99),
      'hops p50': String(figures.hopsP50),
      'latency p50': `${round(figures.latencyP50Ms ?? NaN, 1)} ms`,
      'latency p95': `${round(figures.latencyP95Ms ?? NaN, 1)} ms`,
      '1 MiB cold': `${mib[strategy]?.[0]} ms`,
      '1 MiB warm': `${mib[strategy]?.slice(1).join(', ')} ms`,
    })),
    ...original.map((row) => ({ strategy: row.strategy, found: row.found, 'messages/query mean': row.messages, 'latency p50': row.latency })),
  ],
  targets: informed
    ? [
        { name: `informed at ${nodes} real nodes: found`, target: '≥ 99 %', actual: `${informed.foundPercent} %`, met: (informed.foundPercent ?? 0) >= 99 },
        { name: `informed at ${nodes} real nodes: messages per query`, target: '≤ 10', actual: String(informed.messagesPerQueryMean), met: (informed.messagesPerQueryMean ?? Infinity) <= 10 },
        { name: '1 MiB from another node (informed, cold and warm)', target: '≤ 500 ms', actual: `${informedMib.join(', ')} ms`, met: worstMib <= 500 },
      ]
    : [],
  metrics: { nodes, items: 100, itemBytes: 4096, queries, seed, loadAverage1m: { before: round(loadBefore, 2), after: round(loadAfter, 2) }, strategies: table, mebibyteMs: mib, original },
});
