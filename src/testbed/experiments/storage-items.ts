import { InvalidArgumentError } from '../../errors.js';
import type { NodeOptions } from '../../node/create.js';
import type { ButterNode } from '../../node/node.js';
import type { FactoryMap } from '../../node/service.js';
import { routes as retrievalRoutes } from '../../retrieval/messages.js';
import { retrieval } from '../../retrieval/service.js';
import { blockKeyOf } from '../../storage/block.js';
import { defaultStorageOptions, storage, StorageService } from '../../storage/service.js';
import type { Figures, Params } from '../experiment.js';
import { storageInvariants, type ChurnClock, type Invariant } from '../invariants.js';
import type { TestNetwork, TrafficTotals } from '../network.js';
import { mean, percentile, round } from '../statistics.js';
import { retrievalOf } from './retrieval.js';

/**
 * What the `churn` and `heartbeat` experiments share (the original's two
 * tables): every node stores one random item, the network churns, then every
 * item is looked for twice: by a retrieval (informed, the defaults) from a random
 * live node, and by a fresh node's exhaustive walk.
 */
interface RunState {
  items: string[];
  trafficAfterStore: TrafficTotals;
  storedAtMs: number;
  /** Copies of every item at every sample since the stores (items × samples, bounded by the run). */
  copySamples: number[];
}

const runs = new WeakMap<TestNetwork, RunState>();

/** Bootstrap addresses per joining node, so the network forms alike on both runtimes (no multicast on real sockets). */
const bootstrapPeers = 8;
/** Route labels counted as group maintenance. */
const maintenanceRoutes = ['storage/heartbeat', 'storage/offer', 'storage/shed', 'storage/announce'];

export const storageOptions = [
  { flag: '--replicas <r>', key: 'replicas', description: 'replication of every group', defaultValue: 3, parse: Number },
  { flag: '--item-bytes <bytes>', key: 'itemBytes', description: 'size of each random item', defaultValue: 1024, parse: Number },
  { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 32, parse: Number },
  {
    flag: '--recovery-bound <seconds>',
    key: 'recoveryBound',
    description: 'every group must be back to its target this long after churn stops; auto: 3 heartbeat intervals + 5 s',
    defaultValue: 'auto',
    parse: Number,
  },
];

/**
 * Failure detection takes 1.1 heartbeat intervals and a newcomer waits a
 * quarter interval before it leads; recruiting takes a few round trips, or a
 * few offer timeouts when candidates are dead. Measured on the churn and
 * heartbeat experiments (chance up to 0.05, intervals 1 to 10 s): back within
 * 1 to 2 intervals.
 */
const recoveryHeartbeats = 3;
const recoverySlackMs = 5_000;

/** The storage checkers of one run: stored bytes, one leader per view, and recovery after churn. */
export function storageRunInvariants(params: Params, clock: ChurnClock): Invariant[] {
  // Params built by a script rather than the command line may leave both out: the defaults then.
  const bound = params.recoveryBound ?? 'auto';
  if (bound !== 'auto' && !(typeof bound === 'number' && bound >= 0)) throw new InvalidArgumentError('--recovery-bound must be a number of seconds ≥ 0 or auto');
  const heartbeatMs = typeof params.heartbeatMs === 'number' ? params.heartbeatMs : defaultStorageOptions.heartbeatIntervalMs;
  const boundMs = typeof bound === 'number' ? bound * 1000 : recoveryHeartbeats * heartbeatMs + recoverySlackMs;
  return storageInvariants(boundMs, clock);
}

/** Every node runs the storage service with the run's replication and heartbeat interval. */
export function storageNodeOptions(_index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
  const bootstrap = bootstrapAddresses(network);
  // On real sockets every node of the run shares this machine's loopback: bootstrap alone, as the discovery experiment does.
  const services = { storage: storage({ replicas: params.replicas as number, heartbeatIntervalMs: params.heartbeatMs as number }), retrieval: retrieval() };
  return { memoryMB: params.memory as number, bootstrap, discovery: { enabled: params.runtime === 'sim' }, services };
}

/** Addresses of up to 8 random earlier nodes, for a joining node to bootstrap from. */
export function bootstrapAddresses(network: TestNetwork): NonNullable<NodeOptions['bootstrap']> {
  const earlier = network.nodes;
  const bootstrap = [];
  for (let count = 0; count < Math.min(bootstrapPeers, earlier.length); count += 1) bootstrap.push(earlier[network.random.int(earlier.length)]!.address);
  return bootstrap;
}

/** The node's storage service (every node of these experiments runs one). */
export function storageOf(node: ButterNode): StorageService {
  const service = node.services.storage;
  if (!(service instanceof StorageService)) throw new TypeError(`node ${node.id} runs no storage service`);
  return service;
}

export async function storeItems(network: TestNetwork, params: Params): Promise<void> {
  const items: string[] = [];
  // A stream of its own: the items' bytes do not depend on how many draws the joins made.
  const random = network.random.fork('items');
  for (const node of network.nodes) {
    const data = random.bytes(params.itemBytes as number);
    items.push(await network.settle(storageOf(node).store(data, { keywords: ['item'] })));
  }
  runs.set(network, { items, trafficAfterStore: network.traffic(), storedAtMs: network.now(), copySamples: [] });
}

/** Live nodes holding each item's block (every item is one block, so one group). */
function copiesOfItems(network: TestNetwork, items: readonly string[]): number[] {
  const keys = items.map((contentId) => blockKeyOf(contentId, 0));
  const copies = keys.map(() => 0);
  for (const node of network.nodes) {
    const service = storageOf(node);
    for (const [index, key] of keys.entries()) if (service.has(key)) copies[index] = (copies[index] as number) + 1;
  }
  return copies;
}

export function sampleGroups(network: TestNetwork): Figures {
  const run = runs.get(network);
  if (run) run.copySamples.push(...copiesOfItems(network, run.items));
  let cold = 0;
  let goldilocks = 0;
  let hot = 0;
  for (const node of network.nodes) {
    for (const group of storageOf(node).groups()) {
      if (group.leader !== node.id) continue; // count each group once, at its leader
      if (group.state === 'cold') cold += 1;
      else if (group.state === 'goldilocks') goldilocks += 1;
      else hot += 1;
    }
  }
  return { coldGroups: cold, goldilocksGroups: goldilocks, hotGroups: hot };
}

/** Retention by retrieval and by a fresh node's exhaustive walk, copies, and maintenance traffic since the stores. */
export async function measureRetention(network: TestNetwork, params: Params): Promise<Figures> {
  const run = runs.get(network) as RunState;
  const traffic = network.traffic();
  const seconds = (network.now() - run.storedAtMs) / 1000;
  const nodeSeconds = params.nodes * seconds;
  const figures: Figures = {};
  let maintenanceMessages = 0;
  let maintenanceBytes = 0;
  for (const route of maintenanceRoutes) {
    let messages = 0;
    let bytes = 0;
    for (const [label, count] of Object.entries(traffic.byLabel)) {
      if (!label.endsWith(`:${route}`)) continue;
      const before = run.trafficAfterStore.byLabel[label] ?? { messages: 0, bytes: 0 };
      messages += count.messages - before.messages;
      bytes += count.bytes - before.bytes;
    }
    figures[`${route.slice('storage/'.length)}PerNodePerSecond`] = round(messages / nodeSeconds);
    maintenanceMessages += messages;
    maintenanceBytes += bytes;
  }
  figures.maintenanceMessagesPerNodePerSecond = round(maintenanceMessages / nodeSeconds);
  figures.maintenanceBytesPerNodePerSecond = round(maintenanceBytes / nodeSeconds);
  figures.maintenanceMessages = maintenanceMessages;

  // Copies over time (every sample from the stores to the end of recovery) and at the end, before the walk.
  const finalCopies = copiesOfItems(network, run.items);
  const byRetrieval = await retrieveEach(network, run.items);
  const reader = await network.addNode();
  await network.advance(1000); // its bootstrap introductions complete
  const readerStorage = storageOf(reader);
  let retrieved = 0;
  let missedByRetrieval = 0;
  let foundOnlyByRetrieval = 0;
  for (const [index, contentId] of run.items.entries()) {
    const content = await network.settle(readerStorage.findContent(contentId), 600_000).catch(() => undefined);
    if (content) retrieved += 1;
    if (content && !byRetrieval.found[index]) missedByRetrieval += 1;
    if (!content && byRetrieval.found[index]) foundOnlyByRetrieval += 1;
  }
  figures.copiesMean = round(mean(run.copySamples));
  figures.copiesP99 = percentile(run.copySamples, 0.99);
  figures.copiesMeanAtEnd = round(mean(finalCopies));
  figures.copiesP99AtEnd = percentile(finalCopies, 0.99);
  figures.itemsLostAtOnce = lostAtOnce(run, finalCopies, params.replicas as number);
  figures.items = run.items.length;
  figures.itemsLost = run.items.length - retrieved;
  figures.retentionPercent = round((100 * retrieved) / run.items.length);
  const foundByRetrieval = byRetrieval.found.filter(Boolean).length;
  figures.itemsLostByRetrieval = run.items.length - foundByRetrieval;
  figures.retrievalRetentionPercent = round((100 * foundByRetrieval) / run.items.length);
  figures.itemsMissedByRetrieval = missedByRetrieval;
  figures.itemsFoundOnlyByRetrieval = foundOnlyByRetrieval;
  figures.retrievalFallbacks = byRetrieval.fallbacks;
  figures.retrievalMessagesPerItemMean = round(mean(byRetrieval.messages));
  figures.retrievalMessagesPerItemP99 = percentile(byRetrieval.messages, 0.99);
  return figures;
}

/**
 * Each item retrieved once (informed, the service's defaults, so a miss is searched again
 * by bfs) from a random live node that does not hold it: whether it came back, the search
 * messages (queries and hits) each cost, and how many needed the fallback.
 */
async function retrieveEach(network: TestNetwork, items: readonly string[]): Promise<{ found: boolean[]; messages: number[]; fallbacks: number }> {
  // A stream of its own: the draws of the joins and the churn stay as they were.
  const random = network.random.fork('survivor-retrievals');
  const searchRoutes = [retrievalRoutes.query, retrievalRoutes.hit];
  const found: boolean[] = [];
  const messages: number[] = [];
  let fallbacks = 0;
  for (const contentId of items) {
    const key = blockKeyOf(contentId, 0);
    // When every node holds it (tiny networks), any node reads: it answers locally.
    const readers = network.nodes.filter((node) => !storageOf(node).has(key));
    const pool = readers.length > 0 ? readers : network.nodes;
    const reader = pool[random.int(pool.length)] as ButterNode;
    const before = network.routeTraffic(searchRoutes).messages;
    const report = await network.settle(retrievalOf(reader).retrieveWithReport(contentId), 600_000).catch(() => undefined);
    messages.push(network.routeTraffic(searchRoutes).messages - before);
    found.push(report?.data !== undefined);
    fallbacks += report?.fallbacks ?? 0;
  }
  return { found, messages, fallbacks };
}

/**
 * Lost items whose last sample before the loss still held the full replication: every copy
 * went between two samples (with 1 s samples, in one second of churn: crashes no detector can
 * beat, as the churn kills each second's victims at the same moment).
 */
function lostAtOnce(run: RunState, finalCopies: readonly number[], replicas: number): number {
  const count = run.items.length;
  let atOnce = 0;
  for (const [index, copies] of finalCopies.entries()) {
    if (copies > 0) continue;
    let last = 0;
    for (let sample = index; sample < run.copySamples.length; sample += count) if ((run.copySamples[sample] as number) > 0) last = run.copySamples[sample] as number;
    if (last >= replicas) atOnce += 1;
  }
  return atOnce;
}

