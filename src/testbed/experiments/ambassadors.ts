import type { NodeOptions } from '../../node/create.js';
import type { FactoryMap } from '../../node/service.js';
import type { ButterNode } from '../../node/node.js';
import { defaultRelayOptions } from '../../nat/relay/relay-limits.js';
import { defaultNatOptions, nat, type NatService } from '../../nat/service.js';
import { largestComponentSize } from '../connectivity.js';
import type { Experiment, Figures, Params } from '../experiment.js';
import type { TestNetwork } from '../network.js';

type NatNode = ButterNode<{ nat: NatService }>;

const componentTarget = 0.99;
/** When the last node joined, and when the ordinary nodes first formed one component after it, per run. */
const lastJoinAt = new WeakMap<TestNetwork, number>();
const connectedAt = new WeakMap<TestNetwork, number>();

const ambassadorCount = (params: Params) => params.ambassadors as number;
const isAmbassadorSeat = (index: number, params: Params) => index < ambassadorCount(params);

function split(network: TestNetwork): { ambassadors: NatNode[]; ordinary: NatNode[] } {
  const nodes = network.nodes as NatNode[];
  return { ambassadors: nodes.filter((node) => node.services.nat.ambassador), ordinary: nodes.filter((node) => !node.services.nat.ambassador) };
}

/** Share of the ordinary nodes in their largest component, counting only links between ordinary nodes: bridges the Ambassadors made, not the Ambassadors themselves. */
function ordinaryComponent(network: TestNetwork): number {
  const { ordinary } = split(network);
  if (ordinary.length === 0) return 0;
  const byId = new Map(ordinary.map((node) => [node.id, node]));
  const size = largestComponentSize([...byId.keys()], (id) => (byId.get(id)?.knownHosts.list() ?? []).map((host) => host.id).filter((other) => byId.has(other)));
  return size / ordinary.length;
}

function relayedBytes(network: TestNetwork): number {
  return split(network).ambassadors.reduce((sum, node) => sum + (node.services.nat.ambassador?.relayedBytes ?? 0), 0);
}

/**
 * Subnetworks that only Ambassadors join (SPEC §4): every ordinary node sits
 * behind its LAN's NAT (the simulator's `behindNat`: unreachable from other
 * LANs), finds its LAN by multicast and the Ambassadors by bootstrap; the
 * Ambassadors introduce nodes across LANs and relay between them. Measures how
 * soon the ordinary nodes form one component without counting the
 * Ambassadors' own links, the bytes relayed per node, and the Ambassadors a
 * network of 10,000 needs for its reservations.
 */
export const ambassadorsExperiment: Experiment = {
  name: 'ambassadors',
  description: 'NATed LANs joined only through Ambassadors: time to one component, relayed bytes per node, Ambassadors needed for 10,000 nodes',
  chartFigure: 'largestComponent',
  options: [
    { flag: '--ambassadors <n>', key: 'ambassadors', description: 'Ambassadors (publicly reachable, each on a subnet of its own)', defaultValue: 2, parse: Number },
    { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 64, parse: Number },
  ],
  defaults: { nodes: 100, joinIntervalMs: 10, warmupSeconds: 60, recoverySeconds: 30, subnetSize: 10 },

  hostOf(index: number, params: Params) {
    return isAmbassadorSeat(index, params) ? { subnet: `public-${index}`, behindNat: false } : { behindNat: true };
  },

  nodeOptions(index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
    const ambassadors = split(network).ambassadors.map((node) => node.address);
    const services = { nat: nat({ refreshIntervalMs: 10_000 }) };
    return { memoryMB: params.memory as number, ambassador: isAmbassadorSeat(index, params), bootstrap: ambassadors, services };
  },

  async afterJoin(network: TestNetwork) {
    lastJoinAt.set(network, network.now());
  },

  sample(network: TestNetwork): Figures {
    const largestComponent = ordinaryComponent(network);
    const joinedAt = lastJoinAt.get(network);
    if (joinedAt !== undefined && !connectedAt.has(network) && largestComponent >= componentTarget) connectedAt.set(network, network.now());
    return { largestComponent, relayedBytes: relayedBytes(network) };
  },

  async measure(network: TestNetwork, params: Params): Promise<Figures> {
    const { ambassadors, ordinary } = split(network);
    const joinedAt = lastJoinAt.get(network) ?? 0;
    const connected = connectedAt.get(network);
    const seconds = Math.max(1, (network.now() - joinedAt) / 1000);
    const statuses = ordinary.map((node) => node.services.nat.status());
    const unreachableShare = statuses.filter((status) => status.reachable !== true).length / Math.max(1, ordinary.length);
    const reservationsPerNode = statuses.reduce((sum, status) => sum + status.relays.length, 0) / Math.max(1, ordinary.length);
    const reservations = ambassadors.map((node) => node.services.nat.ambassador?.limits.reservationCount ?? 0);
    return {
      timeToOneComponentSeconds: connected === undefined ? NaN : (connected - joinedAt) / 1000,
      largestComponent: ordinaryComponent(network),
      relayedBytesPerNode: relayedBytes(network) / Math.max(1, ordinary.length),
      relayedBytesPerNodePerSecond: relayedBytes(network) / Math.max(1, ordinary.length) / seconds,
      unreachableShare,
      reservationsPerNode,
      maxReservationsPerAmbassador: Math.max(0, ...reservations),
      // Every unreachable node wants a reservation with each of its maxAmbassadors Ambassadors; each grants maxReservations.
      ambassadorsFor10000: Math.ceil((10_000 * unreachableShare * defaultNatOptions.maxAmbassadors) / defaultRelayOptions.maxReservations),
      ambassadors: ambassadorCount(params),
    };
  },
};
