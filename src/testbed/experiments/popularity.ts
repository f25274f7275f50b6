import { InvalidArgumentError } from '../../errors.js';
import type { NodeOptions } from '../../node/create.js';
import type { ButterNode } from '../../node/node.js';
import type { FactoryMap } from '../../node/service.js';
import { retrieval } from '../../retrieval/service.js';
import type { TimerHandle } from '../../runtime/types.js';
import { blockKeyOf } from '../../storage/block.js';
import { storage } from '../../storage/service.js';
import type { Experiment, ExperimentCase, Figures, Params } from '../experiment.js';
import type { TestNetwork } from '../network.js';
import { mean, round } from '../statistics.js';
import { retrievalOf } from './retrieval.js';
import { bootstrapAddresses, storageOf } from './storage-items.js';

interface Demand {
  hot: string;
  cold: string[];
  /** When the demand starts and ends (network time). */
  startMs: number;
  endMs: number;
  timers: TimerHandle[];
  retrievals: number;
  found: number;
  /** Copies of the hot item at each sample, with its time. */
  hotSeries: Array<{ atMs: number; copies: number }>;
  coldCopies: number[];
}

const demands = new WeakMap<TestNetwork, Demand>();

function readerList(text: string): number[] {
  const counts = text.split(',').map((entry) => (entry.trim() === 'all' ? 0 : Number(entry)));
  if (counts.length === 0 || counts.some((count) => !Number.isInteger(count) || count < 0)) throw new InvalidArgumentError('expected reader counts like all,1');
  return counts;
}

/** Live nodes holding the item's block (every item here is one block, so one group). */
function copiesOf(network: TestNetwork, contentId: string): number {
  const key = blockKeyOf(contentId, 0);
  let copies = 0;
  for (const node of network.nodes) if (storageOf(node).has(key)) copies += 1;
  return copies;
}

/**
 * Popularity (SPEC §5, issue 13 item 5): N nodes store M items at r copies; one of them,
 * the hot item, is retrieved `--rate` times a second for `--demand-seconds` from random
 * nodes (a case per entry of `--readers`: all nodes, or only that many, e.g. one peer
 * hammering it), then demand stops. The time series is the hot item's copies beside the
 * cold items'; the figures say how high and how fast it rose and when it was back at r.
 */
export const popularityExperiment: Experiment = {
  name: 'popularity',
  description: 'replicas over time of an item retrieved often (hot) beside items never retrieved (cold): raised by demand, back to r after',
  chartFigure: 'hotCopies',
  options: [
    { flag: '--items <count>', key: 'items', description: 'items stored from random nodes; the first is the hot one', defaultValue: 20, parse: Number },
    { flag: '--rate <retrievals>', key: 'rate', description: 'retrievals of the hot item per second while demand lasts', defaultValue: 10, parse: Number },
    { flag: '--demand-start <seconds>', key: 'demandStart', description: 'demand starts this long into the warm-up', defaultValue: 10, parse: Number },
    { flag: '--demand-seconds <seconds>', key: 'demandSeconds', description: 'how long demand lasts', defaultValue: 60, parse: Number },
    { flag: '--readers <list>', key: 'readers', description: 'nodes the demand comes from, one case each: all, or a count (1: one peer hammering)', defaultValue: [0, 1], parse: readerList },
    { flag: '--replicas <r>', key: 'replicas', description: 'base replication of every group', defaultValue: 3, parse: Number },
    { flag: '--max-replicas <cap>', key: 'maxReplicas', description: 'popularity cap', defaultValue: 8, parse: Number },
    { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 32, parse: Number },
  ],
  // Warm-up: 10 s, 60 s of demand, then two minutes for the count to decay and the group to shed.
  defaults: { nodes: 100, joinIntervalMs: 20, warmupSeconds: 190, recoverySeconds: 0 },

  cases(params: Params): ExperimentCase[] {
    return (params.readers as number[]).map((readers) => ({ label: readers === 0 ? 'all nodes read' : `${readers} reader${readers === 1 ? '' : 's'}`, overrides: { readerCount: readers } }));
  },

  nodeOptions(_index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
    const bootstrap = bootstrapAddresses(network);
    const services = { storage: storage({ replicas: params.replicas as number, maxReplicas: params.maxReplicas as number }), retrieval: retrieval() };
    return { memoryMB: params.memory as number, bootstrap, discovery: { enabled: params.runtime === 'sim' }, services };
  },

  /** Stores the items, then arms the demand: each retrieval on its reader's own timer, so it runs on the network's clock. */
  async afterJoin(network: TestNetwork, params: Params): Promise<void> {
    if (!((params.items as number) >= 2)) throw new InvalidArgumentError('--items must be at least 2: one hot, the others cold');
    if (!((params.rate as number) > 0)) throw new InvalidArgumentError('--rate must be positive');
    const random = network.random.fork('popularity-items');
    const stored: string[] = [];
    for (let index = 0; index < (params.items as number); index += 1) {
      const writer = network.nodes[random.int(network.nodes.length)] as ButterNode;
      stored.push(await network.settle(storageOf(writer).store(random.bytes(1024), { durable: true })));
    }
    const [hot, ...cold] = stored as [string, ...string[]];
    const startMs = network.now() + (params.demandStart as number) * 1000;
    const demand: Demand = { hot, cold, startMs, endMs: startMs + (params.demandSeconds as number) * 1000, timers: [], retrievals: 0, found: 0, hotSeries: [], coldCopies: [] };
    const readerCount = params.readerCount as number;
    const draws = network.random.fork('popularity-readers');
    const eligible = network.nodes.filter((node) => !storageOf(node).has(blockKeyOf(hot, 0)));
    const readers = readerCount === 0 ? eligible : eligible.slice(0, readerCount);
    if (readers.length === 0) throw new InvalidArgumentError('every node holds the hot item: no node would search for it');
    const count = Math.floor((params.rate as number) * (params.demandSeconds as number));
    for (let index = 0; index < count; index += 1) {
      const reader = readers[draws.int(readers.length)] as ButterNode;
      const delayMs = startMs - network.now() + (index * 1000) / (params.rate as number);
      demand.timers.push(
        reader.runtime.setTimer(delayMs, () => {
          demand.retrievals += 1;
          retrievalOf(reader)
            .retrieve(hot)
            .then((data) => {
              if (data) demand.found += 1;
            })
            .catch(() => undefined);
        }),
      );
    }
    demands.set(network, demand);
  },

  sample(network: TestNetwork): Figures {
    const demand = demands.get(network);
    if (!demand) return {};
    const hotCopies = copiesOf(network, demand.hot);
    const cold = demand.cold.map((contentId) => copiesOf(network, contentId));
    demand.hotSeries.push({ atMs: network.now(), copies: hotCopies });
    demand.coldCopies.push(...cold);
    return { hotCopies, coldCopiesMean: round(mean(cold)), coldCopiesMax: Math.max(...cold), retrievals: demand.retrievals };
  },

  async measure(network: TestNetwork, params: Params): Promise<Figures> {
    const demand = demands.get(network);
    if (!demand) throw new InvalidArgumentError('no items were stored');
    for (const timer of demand.timers) timer.cancel();
    const base = params.replicas as number;
    const during = demand.hotSeries.filter((point) => point.atMs >= demand.startMs && point.atMs <= demand.endMs);
    // From the last sample of the demand on: 0 s back when it ended at r already.
    const lastDuring = demand.hotSeries.findLastIndex((point) => point.atMs <= demand.endMs);
    const after = demand.hotSeries.slice(Math.max(0, lastDuring));
    const firstRaised = during.find((point) => point.copies > base);
    // Back at r: the first of those samples from which every later one is at r.
    let backAt: number | undefined;
    for (const point of after) {
      if (point.copies !== base) backAt = undefined;
      else backAt ??= point.atMs;
    }
    return {
      retrievals: demand.retrievals,
      foundPercent: round((100 * demand.found) / Math.max(1, demand.retrievals)),
      hotCopiesBefore: demand.hotSeries.filter((point) => point.atMs < demand.startMs).at(-1)?.copies ?? NaN,
      hotCopiesPeak: Math.max(...during.map((point) => point.copies)),
      hotCopiesMeanDuringDemand: round(mean(during.map((point) => point.copies))),
      secondsToFirstExtraReplica: firstRaised ? round((firstRaised.atMs - demand.startMs) / 1000) : NaN,
      secondsBackToBaseAfterDemand: backAt !== undefined ? round(Math.max(0, backAt - demand.endMs) / 1000) : NaN,
      hotCopiesAtEnd: demand.hotSeries.at(-1)?.copies ?? NaN,
      coldCopiesMin: Math.min(...demand.coldCopies),
      coldCopiesMax: Math.max(...demand.coldCopies),
    };
  },
};
