/**
 * Memory of idle nodes: 1,000 nodes on the simulated runtime in this process,
 * each bootstrapped to 3 random earlier nodes, left idle for 30 simulated
 * seconds; heap and RSS per node over a baseline taken before the nodes exist.
 *
 *   node --expose-gc dist/bench/idle-memory.js [--nodes 1000] [--idle-seconds 30]
 */
import { createNode, type Address, type ButterNode } from '../src/index.js';
import { SeededRandom, Simulation } from '../src/runtime/sim/index.js';
import { bytesPerMebibyte, numberOption, report, round } from './common.js';

const bootstrapPeers = 3;
const memoryMB = 16;
const targetBytesPerNode = bytesPerMebibyte;

const args = process.argv.slice(2);
const nodeCount = numberOption(args, 'nodes', 1000);
const idleMs = numberOption(args, 'idle-seconds', 30) * 1000;

const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc');

/** Memory after a full collection; collected twice so that finalised objects are gone too. */
const settledMemory = (): NodeJS.MemoryUsage => {
  gc();
  gc();
  return process.memoryUsage();
};

const seed = 1;
const simulation = new Simulation({ seed });
// Its own stream, so that choosing peers does not shift the hosts' random streams.
const random = new SeededRandom(seed).fork('bench-bootstrap');
const empty = settledMemory();
// The simulated machines are the simulator's, not the nodes': create them before the baseline.
// LANs of 250 as in the testbed: one multicast domain of thousands is not a network anyone runs.
const nodesPerLan = 250;
const runtimes = Array.from({ length: nodeCount }, (_, index) => simulation.createHost({ subnet: `lan-${Math.floor(index / nodesPerLan)}` }));
const baseline = settledMemory();
const simulatedHostHeapBytes = (baseline.heapUsed - empty.heapUsed) / nodeCount;

const nodes: ButterNode[] = [];
const addresses: Address[] = [];
for (const runtime of runtimes) {
  const bootstrap = pickDistinct(addresses, bootstrapPeers, random);
  const node = await createNode({ runtime, memoryMB, bootstrap });
  await node.spawn();
  nodes.push(node);
  addresses.push(node.address);
}
await simulation.runFor(idleMs);
const idle = settledMemory();

const perNode = (key: keyof NodeJS.MemoryUsage): number => (idle[key] - baseline[key]) / nodeCount;
const heapBytesPerNode = perNode('heapUsed');
const rssBytesPerNode = perNode('rss');
const externalBytesPerNode = perNode('external');
const knownHostsPerNode = nodes.reduce((sum, node) => sum + node.knownHosts.size, 0) / nodeCount;
const kibibytes = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

await report({
  name: 'idle-memory',
  rows: [
    {
      nodes: String(nodeCount),
      'simulated s': String(idleMs / 1000),
      'known hosts/node': knownHostsPerNode.toFixed(2),
      'heap/node': kibibytes(heapBytesPerNode),
      'external/node': kibibytes(externalBytesPerNode),
      'RSS/node': kibibytes(rssBytesPerNode),
    },
  ],
  targets: [
    { name: 'heap per idle node', target: '≤ 1 MiB', actual: kibibytes(heapBytesPerNode), met: heapBytesPerNode <= targetBytesPerNode },
    { name: 'RSS per idle node', target: '≤ 1 MiB', actual: kibibytes(rssBytesPerNode), met: rssBytesPerNode <= targetBytesPerNode },
  ],
  metrics: {
    nodes: nodeCount,
    bootstrapPeers,
    memoryMB,
    simulatedSeconds: idleMs / 1000,
    knownHostsPerNode: round(knownHostsPerNode, 2),
    simulatedEvents: simulation.eventsProcessed,
    heapBytesPerNode: round(heapBytesPerNode),
    /** Not counted above: the simulator's own state for each simulated machine. */
    simulatedHostHeapBytes: round(simulatedHostHeapBytes),
    externalBytesPerNode: round(externalBytesPerNode),
    rssBytesPerNode: round(rssBytesPerNode),
    baseline: { heapUsedBytes: baseline.heapUsed, externalBytes: baseline.external, rssBytes: baseline.rss },
    idle: { heapUsedBytes: idle.heapUsed, externalBytes: idle.external, rssBytes: idle.rss },
  },
});

/** Up to `count` different entries of `items`, chosen at random. */
function pickDistinct<T>(items: readonly T[], count: number, random: SeededRandom): T[] {
  const indexes = new Set<number>();
  while (indexes.size < Math.min(count, items.length)) indexes.add(random.int(items.length));
  return [...indexes].map((index) => items[index] as T);
}
