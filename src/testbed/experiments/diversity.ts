import type { NodeOptions } from '../../node/create.js';
import type { ButterNode } from '../../node/node.js';
import type { FactoryMap } from '../../node/service.js';
import type { Experiment, ExperimentCase, Figures, Params } from '../experiment.js';
import type { TestNetwork } from '../network.js';
import { distribution, standardDeviation } from '../statistics.js';

/** Allocations of the asymmetric case: the same list capacity, very different free storage. */
const asymmetricMemoryMB = [32, 64, 256, 1024];
const bytesPerMegabyte = 1024 * 1024;

/**
 * The prototype's diversity measurement (SPEC §3): the standard deviation of
 * the 8 class counts in each node's list (lower is more diverse), for uniform
 * nodes without and with random acceptance, and for asymmetric nodes; and how
 * evenly nodes are listed (in-degree), since random acceptance is meant to keep
 * uniform networks from converging on the same hosts.
 */
export const diversityExperiment: Experiment = {
  name: 'diversity',
  description: 'class standard deviation of known-host lists and in-degree spread: uniform nodes with/without random acceptance, asymmetric nodes',
  chartFigure: 'classSdMean',
  options: [
    { flag: '--capacity <hosts>', key: 'capacity', description: 'known-host capacity of every node', defaultValue: 8, parse: Number },
    { flag: '--acceptance <probability>', key: 'acceptance', description: 'random acceptance probability where it is on', defaultValue: 0.2, parse: Number },
    {
      flag: '--stored <MB>',
      key: 'stored',
      description: 'each node already holds a random amount of data, uniform in 0..MB, so free storage differs between equal nodes',
      defaultValue: 0,
      parse: Number,
    },
  ],
  defaults: { nodes: 200, joinIntervalMs: 20, warmupSeconds: 60, recoverySeconds: 10 },

  cases(params: Params): ExperimentCase[] {
    return [
      { label: 'uniform, no random acceptance', overrides: { asymmetric: false, randomAcceptance: 0 } },
      { label: 'uniform, random acceptance', overrides: { asymmetric: false, randomAcceptance: params.acceptance as number } },
      { label: 'asymmetric', overrides: { asymmetric: true, randomAcceptance: params.acceptance as number } },
    ];
  },

  nodeOptions(index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
    const memoryMB = params.asymmetric ? (asymmetricMemoryMB[network.random.int(asymmetricMemoryMB.length)] as number) : 64;
    const firstOfLan = index > 0 && index % params.subnetSize === 0;
    const earlier = network.nodes;
    const bootstrap = firstOfLan && earlier.length > 0 ? [earlier[network.random.int(earlier.length)]!.address] : [];
    return {
      memoryMB,
      knownHostsCapacity: params.capacity as number,
      bootstrap,
      discovery: { enabled: params.runtime === 'sim' },
      hosts: { randomAcceptanceProbability: params.randomAcceptance as number },
      services: storedData(params.stored as number, network),
    };
  },

  sample(network: TestNetwork): Figures {
    return { classSdMean: distribution(network.nodes.map((node) => node.hosts.report().diversity)).mean };
  },

  async measure(network: TestNetwork): Promise<Figures> {
    const nodes = network.nodes;
    const sds = nodes.map((node) => node.hosts.report().diversity);
    const spread = distribution(sds);
    // The prototype reported two nodes picked at random.
    const first = sds[network.random.int(sds.length)] ?? NaN;
    const second = sds[network.random.int(sds.length)] ?? NaN;
    const inDegrees = inDegreesOf(nodes);
    return {
      classSdMean: spread.mean,
      classSdP50: spread.p50,
      classSdMax: spread.max,
      classSdRandomNodeA: first,
      classSdRandomNodeB: second,
      inDegreeSd: standardDeviation(inDegrees),
      inDegreeMax: Math.max(...inDegrees),
      unlistedNodes: inDegrees.filter((count) => count === 0).length,
    };
  },
};

/** How many live nodes list each live node. */
function inDegreesOf(nodes: readonly ButterNode[]): number[] {
  const counts = new Map(nodes.map((node) => [node.id, 0]));
  for (const node of nodes) {
    for (const host of node.knownHosts.list()) {
      const count = counts.get(host.id);
      if (count !== undefined) counts.set(host.id, count + 1);
    }
  }
  return [...counts.values()];
}

/** With stored data, a service that announces what is left of the storage share after a random amount (up to `storedMB`). */
function storedData(storedMB: number, network: TestNetwork): FactoryMap {
  if (!(storedMB > 0)) return {};
  const storedBytes = Math.floor(network.random.float() * storedMB * bytesPerMegabyte);
  return { stored: (components) => ({ availableStorageBytes: () => Math.max(0, components.memory.storageBytes - storedBytes) }) };
}
