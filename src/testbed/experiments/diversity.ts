import type { NodeOptions } from '../../node/create.js';
import type { Experiment, ExperimentCase, Figures, Params } from '../experiment.js';
import type { TestNetwork } from '../network.js';
import { distribution } from '../statistics.js';

/** Allocations of the asymmetric case: the same list capacity, very different free storage. */
const asymmetricMemoryMB = [32, 64, 256, 1024];

/**
 * The prototype's diversity measurement (SPEC §3): the standard deviation of
 * the 8 class counts in each node's list (lower is more diverse), for uniform
 * nodes without and with random acceptance, and for asymmetric nodes.
 */
export const diversityExperiment: Experiment = {
  name: 'diversity',
  description: 'class standard deviation of known-host lists: uniform nodes with/without random acceptance, asymmetric nodes',
  chartFigure: 'classSdMean',
  options: [
    { flag: '--capacity <hosts>', key: 'capacity', description: 'known-host capacity of every node', defaultValue: 8, parse: Number },
    { flag: '--acceptance <probability>', key: 'acceptance', description: 'random acceptance probability where it is on', defaultValue: 0.2, parse: Number },
  ],
  defaults: { nodes: 200, joinIntervalMs: 20, warmupSeconds: 60, recoverySeconds: 10 },

  cases(params: Params): ExperimentCase[] {
    return [
      { label: 'uniform, no random acceptance', overrides: { asymmetric: false, randomAcceptance: 0 } },
      { label: 'uniform, random acceptance', overrides: { asymmetric: false, randomAcceptance: params.acceptance as number } },
      { label: 'asymmetric', overrides: { asymmetric: true, randomAcceptance: params.acceptance as number } },
    ];
  },

  nodeOptions(index: number, params: Params, network: TestNetwork): NodeOptions {
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
    };
  },

  sample(network: TestNetwork): Figures {
    return { classSdMean: distribution(network.nodes.map((node) => node.hosts.report().diversity)).mean };
  },

  async measure(network: TestNetwork): Promise<Figures> {
    const sds = network.nodes.map((node) => node.hosts.report().diversity);
    const spread = distribution(sds);
    // The prototype reported two nodes picked at random.
    const first = sds[network.random.int(sds.length)] ?? NaN;
    const second = sds[network.random.int(sds.length)] ?? NaN;
    return { classSdMean: spread.mean, classSdP50: spread.p50, classSdMax: spread.max, classSdRandomNodeA: first, classSdRandomNodeB: second };
  },
};
