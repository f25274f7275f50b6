import { InvalidArgumentError } from '../../errors.js';
import type { NodeOptions } from '../../node/create.js';
import type { ButterNode } from '../../node/node.js';
import type { FactoryMap } from '../../node/service.js';
import { routes, strategies, type Strategy } from '../../retrieval/messages.js';
import { retrieval, RetrievalService } from '../../retrieval/service.js';
import { routes as storageRoutes } from '../../storage/group-messages.js';
import { storage } from '../../storage/service.js';
import type { Experiment, ExperimentCase, Figures, Params } from '../experiment.js';
import type { Random } from '../../runtime/types.js';
import { routeTraffic, type TestNetwork } from '../network.js';
import { mean, percentile } from '../statistics.js';
import { storageOf } from './storage-items.js';

/** Bootstrap addresses per joining node, as in the storage experiments. */
const bootstrapPeers = 8;
const searchRoutes = [routes.query, routes.hit];
const storageOfferRoute = storageRoutes.offer;

const items = new WeakMap<TestNetwork, string[]>();
const tallies = new WeakMap<TestNetwork, QueryTally>();

function strategyList(text: string): Strategy[] {
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) if (!strategies.includes(name as Strategy)) throw new InvalidArgumentError(`strategies are ${strategies.join(', ')}`);
  return names as Strategy[];
}

function onOff(text: string): boolean {
  if (text !== 'on' && text !== 'off') throw new InvalidArgumentError('expected on or off');
  return text === 'on';
}

export function retrievalOf(node: ButterNode): RetrievalService {
  const service = node.services.retrieval;
  if (!(service instanceof RetrievalService)) throw new TypeError(`node ${node.id} runs no retrieval service`);
  return service;
}

/**
 * SPEC §6 and the original's table: N nodes store M items (3 copies each),
 * then Q queries from random nodes that do not hold the item, one strategy per
 * case, each on a network of its own built from the same seed.
 */
export const retrievalExperiment: Experiment = {
  name: 'retrieval',
  description: 'found %, messages, hops and latency per query for bfs, rbfs and informed search (the original retrieval table)',
  options: [
    { flag: '--items <count>', key: 'items', description: 'items stored, from random nodes', defaultValue: 100, parse: Number },
    { flag: '--queries <count>', key: 'queries', description: 'retrievals, each from a random node not holding the item', defaultValue: 10, parse: Number },
    { flag: '--strategies <list>', key: 'strategies', description: 'strategies compared, one case each', defaultValue: [...strategies], parse: strategyList },
    { flag: '--item-bytes <bytes>', key: 'itemBytes', description: 'size of each item', defaultValue: 4096, parse: Number },
    { flag: '--replicas <r>', key: 'replicas', description: 'copies of every item', defaultValue: 3, parse: Number },
    { flag: '--ttl <hops>', key: 'ttl', description: 'hops a query may make', defaultValue: 7, parse: Number },
    { flag: '--fanout <walkers>', key: 'fanout', description: 'informed: random walkers when no summary matches', defaultValue: 4, parse: Number },
    { flag: '--fraction <share>', key: 'fraction', description: 'rbfs: share of known hosts a query goes to', defaultValue: 0.5, parse: Number },
    { flag: '--budget <messages>', key: 'budget', description: 'messages one informed search may send', defaultValue: 512, parse: Number },
    { flag: '--flood-budget <messages>', key: 'floodBudget', description: 'messages one bfs or rbfs search (or fallback) may send', defaultValue: 4096, parse: Number },
    { flag: '--fallback <on|off>', key: 'fallback', description: 'a miss is searched again by bfs', defaultValue: false, parse: onOff },
    { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 32, parse: Number },
  ],
  defaults: { nodes: 100, joinIntervalMs: 20, warmupSeconds: 20, recoverySeconds: 5 },

  cases(params: Params): ExperimentCase[] {
    return (params.strategies as Strategy[]).map((strategy) => ({ label: strategy, overrides: { strategy } }));
  },

  nodeOptions(_index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
    const earlier = network.nodes;
    const bootstrap = [];
    for (let count = 0; count < Math.min(bootstrapPeers, earlier.length); count += 1) bootstrap.push(earlier[network.random.int(earlier.length)]!.address);
    const services = {
      storage: storage({ replicas: params.replicas as number }),
      retrieval: retrieval({
        strategy: params.strategy as Strategy,
        ttl: params.ttl as number,
        fanout: params.fanout as number,
        fraction: params.fraction as number,
        budget: params.budget as number,
        floodBudget: params.floodBudget as number,
        fallback: params.fallback as boolean,
      }),
    };
    return { memoryMB: params.memory as number, bootstrap, discovery: { enabled: params.runtime === 'sim' }, services };
  },

  async afterJoin(network: TestNetwork, params: Params): Promise<void> {
    const random = network.random.fork('items');
    const stored: string[] = [];
    const nodes = network.nodes;
    for (let index = 0; index < (params.items as number); index += 1) {
      const writer = nodes[random.int(nodes.length)] as ButterNode;
      stored.push(await network.settle(storageOf(writer).store(random.bytes(params.itemBytes as number), { durable: true })));
    }
    items.set(network, stored);
  },

  sample(network: TestNetwork): Figures {
    let summaries = 0;
    for (const node of network.nodes) summaries += retrievalOf(node).counters.summariesReceived;
    return { summariesReceived: summaries };
  },

  async duringChurn(network: TestNetwork, params: Params, second: number): Promise<void> {
    // The queries are spread evenly over the churn seconds, so they meet nodes dying and fresh ones joining.
    const queries = params.queries as number;
    const seconds = params.churn.churnSeconds;
    const due = Math.floor(((second + 1) * queries) / seconds) - Math.floor((second * queries) / seconds);
    const tally = tallyOf(network);
    for (let query = 0; query < due; query += 1) await runQuery(network, tally);
  },

  async measure(network: TestNetwork, params: Params): Promise<Figures> {
    const tally = tallyOf(network);
    // Under churn the queries ran during it (duringChurn); on a calm network they run now.
    if (params.churn.churnSeconds === 0 || params.churn.chance === 0) {
      tally.measuredFrom = network.now();
      tally.offersBefore = routeTraffic(network.traffic(), [storageOfferRoute]).messages;
      for (let query = 0; query < (params.queries as number); query += 1) await runQuery(network, tally);
    }
    const { messages, bytes, latencies, hops } = tally;
    const queries = messages.length;
    const summaries = routeTraffic(network.traffic(), [routes.summary]);
    const offers = routeTraffic(network.traffic(), [storageOfferRoute]).messages - tally.offersBefore;
    const seconds = Math.max(1e-3, network.now() / 1000);
    return {
      queries,
      foundPercent: round((100 * tally.found) / queries),
      // Queries whose item no live node held when they began (every copy died before repair): no search can find those.
      unheldPercent: round((100 * tally.unheld) / queries),
      fallbackPercent: round((100 * tally.fallbacks) / queries),
      messagesPerQueryMean: round(mean(messages)),
      messagesPerQueryP99: percentile(messages, 0.99),
      bytesPerQueryMean: round(mean(bytes)),
      hopsP50: percentile(hops, 0.5),
      hopsMean: round(mean(hops)),
      latencyP50Ms: round(percentile(latencies, 0.5)),
      latencyP95Ms: round(percentile(latencies, 0.95)),
      // Summaries are the price of informed search: sent all along (every strategy's nodes send them), over the whole run.
      summaryMessagesPerNodePerSecond: round(summaries.messages / (network.size * seconds)),
      summaryBytesPerNodePerSecond: round(summaries.bytes / (network.size * seconds)),
      // A settled network sends none while it searches; thousands mean its groups are recruiting (a real run whose event loop
      // fell behind the heartbeats): searches then time out for want of CPU, whatever the strategy (docs/BENCHMARKS.md).
      // Under churn, recruitment replaces the dead: offers are expected then.
      storageOffersPerNodePerSecond: round(offers / (network.size * Math.max(1e-3, (network.now() - tally.measuredFrom) / 1000))),
    };
  },
};

/** What the queries of one run found and cost, gathered during churn or after recovery. */
interface QueryTally {
  stored: string[];
  random: Random;
  messages: number[];
  bytes: number[];
  latencies: number[];
  hops: number[];
  found: number;
  unheld: number;
  fallbacks: number;
  measuredFrom: number;
  offersBefore: number;
}

function tallyOf(network: TestNetwork): QueryTally {
  const existing = tallies.get(network);
  if (existing) return existing;
  const stored = items.get(network) ?? [];
  if (stored.length === 0) throw new InvalidArgumentError('no items were stored: --items must be at least 1');
  const tally: QueryTally = {
    stored,
    random: network.random.fork('queries'),
    messages: [],
    bytes: [],
    latencies: [],
    hops: [],
    found: 0,
    unheld: 0,
    fallbacks: 0,
    measuredFrom: network.now(),
    offersBefore: routeTraffic(network.traffic(), [storageOfferRoute]).messages,
  };
  tallies.set(network, tally);
  return tally;
}

/** One retrieval of a random item from a random node that does not hold it. */
async function runQuery(network: TestNetwork, tally: QueryTally): Promise<void> {
  const { random } = tally;
  const contentId = tally.stored[random.int(tally.stored.length)] as string;
  const key = `${contentId}:0`;
  // A reader that holds the item would not search; when every node does (tiny networks), any node reads.
  const nodes = network.nodes;
  const readers = nodes.filter((node) => storageOf(node).holdersOf(key) === undefined);
  if (readers.length === nodes.length) tally.unheld += 1;
  const pool = readers.length > 0 ? readers : nodes;
  const reader = pool[random.int(pool.length)] as ButterNode;
  const before = network.routeTraffic(searchRoutes);
  const beganAt = network.now();
  const report = await network.settle(retrievalOf(reader).retrieveWithReport(contentId), 120_000).catch(() => undefined);
  tally.latencies.push(network.now() - beganAt);
  const after = network.routeTraffic(searchRoutes);
  tally.messages.push(after.messages - before.messages);
  tally.bytes.push(after.bytes - before.bytes);
  if (report?.data) {
    tally.found += 1;
    tally.hops.push(...report.hops);
  }
  tally.fallbacks += report?.fallbacks ?? 0;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
