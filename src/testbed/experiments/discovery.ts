import type { NodeOptions } from '../../node/create.js';
import { KnownHostGraph } from '../connectivity.js';
import type { Experiment, Figures, Params } from '../experiment.js';
import type { TestNetwork } from '../network.js';
import { distribution } from '../statistics.js';

/** When the last node joined, per run: time to one component counts from there. */
const lastJoinAt = new WeakMap<TestNetwork, number>();
/** First time after the last join when 99 % of nodes formed one component. */
const connectedAt = new WeakMap<TestNetwork, number>();
/** Messages sent by all nodes when the last node joined: maintenance is what follows. */
const messagesAtLastJoin = new WeakMap<TestNetwork, number>();

/** The known-host graph, kept from sample to sample so that unchanged lists are not read again. */
const graphs = new WeakMap<TestNetwork, KnownHostGraph>();

const componentTarget = 0.99;

/** The largest component's share of the live nodes and their mean list size, in one pass. */
function sampleGraph(network: TestNetwork): { largestComponent: number; meanListSize: number } {
  let graph = graphs.get(network);
  if (graph === undefined) {
    graph = new KnownHostGraph();
    graphs.set(network, graph);
  }
  return graph.sample(network.nodes);
}

/**
 * How fast nodes that know nothing form one network: multicast discovery
 * within each simulated LAN, one bootstrap address into an earlier LAN for the
 * first node of each, then peer exchange.
 */
export const discoveryExperiment: Experiment = {
  name: 'discovery',
  description: 'time until 99 % of the nodes form one connected component; list sizes, diversity, maintenance traffic',
  chartFigure: 'largestComponent',
  options: [
    { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 64, parse: Number },
  ],
  defaults: { nodes: 100, joinIntervalMs: 10, warmupSeconds: 30, recoverySeconds: 10 },

  nodeOptions(index: number, params: Params, network: TestNetwork): NodeOptions {
    // Real sockets run on this machine, where multicast would leave over its LAN: bootstrap every node instead.
    const real = params.runtime === 'real';
    const firstOfLan = index > 0 && (real || index % params.subnetSize === 0);
    const earlier = firstOfLan ? network.nodes : [];
    const bootstrap = earlier.length > 0 ? [earlier[network.random.int(earlier.length)]!.address] : [];
    return { memoryMB: params.memory as number, bootstrap, discovery: { enabled: !real } };
  },

  async afterJoin(network: TestNetwork) {
    lastJoinAt.set(network, network.now());
    messagesAtLastJoin.set(network, network.traffic().messages);
    if (sampleGraph(network).largestComponent >= componentTarget) connectedAt.set(network, network.now());
  },

  sample(network: TestNetwork): Figures {
    const { largestComponent, meanListSize } = sampleGraph(network);
    const joinedAt = lastJoinAt.get(network);
    if (joinedAt !== undefined && !connectedAt.has(network) && largestComponent >= componentTarget) connectedAt.set(network, network.now());
    return { largestComponent, meanKnownHosts: meanListSize };
  },

  async measure(network: TestNetwork): Promise<Figures> {
    const joinedAt = lastJoinAt.get(network) ?? 0;
    const reachedAt = connectedAt.get(network);
    const listSizes = distribution(network.nodes.map((node) => node.knownHosts.size));
    const diversity = distribution(network.nodes.map((node) => node.hosts.report().diversity));
    const maintenanceSeconds = (network.now() - joinedAt) / 1000;
    const maintenanceMessages = network.traffic().messages - (messagesAtLastJoin.get(network) ?? 0);
    return {
      secondsToOneComponent: reachedAt === undefined ? NaN : (reachedAt - joinedAt) / 1000,
      largestComponent: sampleGraph(network).largestComponent,
      knownHostsP50: listSizes.p50,
      knownHostsMin: listSizes.min,
      knownHostsMax: listSizes.max,
      classSdMean: diversity.mean,
      classSdP50: diversity.p50,
      classSdP90: diversity.p90,
      // Everything sent after the last join (refreshes, exchanges, datagrams, churn replacements) per node per second.
      maintenanceMessagesPerNodePerSecond: maintenanceSeconds > 0 ? maintenanceMessages / (network.size * maintenanceSeconds) : NaN,
    };
  },
};
