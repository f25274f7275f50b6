import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode, type NodeOptions } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { Simulation, type SimRuntime } from '../src/runtime/sim/index.js';
import type { Address } from '../src/runtime/types.js';
import { largestComponentSize } from '../src/testbed/connectivity.js';

const refreshIntervalMs = 5_000;
const refreshTimeoutMs = 1_000;

interface SimNetwork {
  simulation: Simulation;
  nodes: ButterNode[];
  /** Every time a list grew beyond its capacity (must stay empty). */
  overflows: string[];
}

/** Spawns `count` nodes on one simulated LAN, `joinIntervalMs` apart. */
async function buildNetwork(
  count: number,
  seed: number,
  options: (index: number) => NodeOptions = () => ({}),
  onSpawned: (node: ButterNode) => void = () => {},
): Promise<SimNetwork> {
  const simulation = new Simulation({ seed });
  const network: SimNetwork = { simulation, nodes: [], overflows: [] };
  for (let index = 0; index < count; index += 1) {
    const runtime = simulation.createHost({ subnet: 'lan' });
    // Host management alone, without storage.
    const node = await createNode({ runtime, memoryMB: 64, services: {}, hosts: { refreshIntervalMs, refreshTimeoutMs, maxRefreshesPerSecond: 100 }, ...options(index) });
    node.knownHosts.onChange(() => {
      if (node.knownHosts.size > node.knownHosts.capacity) network.overflows.push(`${node.id} holds ${node.knownHosts.size}`);
    });
    const spawned = node.spawn();
    await simulation.runFor(0);
    await spawned;
    onSpawned(node);
    network.nodes.push(node);
    await simulation.runFor(20);
  }
  return network;
}

function liveNodes(network: SimNetwork): ButterNode[] {
  return network.nodes.filter((node) => network.simulation.isAlive(node.runtime as SimRuntime));
}

function componentFraction(nodes: ButterNode[]): number {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const size = largestComponentSize([...byId.keys()], (id) => byId.get(id)?.knownHosts.list().map((host) => host.id) ?? []);
  return size / nodes.length;
}

/** How many of `nodes` list each of them. */
function inDegreesOf(nodes: ButterNode[]): number[] {
  const counts = new Map(nodes.map((node) => [node.id, 0]));
  for (const node of nodes) for (const host of node.knownHosts.list()) if (counts.has(host.id)) counts.set(host.id, (counts.get(host.id) as number) + 1);
  return [...counts.values()];
}

describe('known hosts and discovery on the simulator', () => {
  it('100 nodes join one LAN and form one connected component; no list exceeds its capacity', { timeout: 60_000 }, async () => {
    const network = await buildNetwork(100, 7);
    await network.simulation.runFor(10_000);
    assert.equal(componentFraction(network.nodes), 1);
    assert.deepEqual(network.overflows, []);
    for (const node of network.nodes) {
      assert.ok(node.knownHosts.size >= 1 && node.knownHosts.size <= node.knownHosts.capacity);
      const report = node.hosts.report();
      assert.equal(report.classCounts.reduce((sum, count) => sum + count, 0), report.hosts.filter((host) => host.quality).length);
      assert.ok(Number.isFinite(report.diversity));
    }
    // Nodes that heard another's PING before their own was due never needed to ping.
    assert.ok(network.nodes.some((node) => node.traffic.byLabel()['datagram:ping']), 'no node pinged');
    assert.ok(network.nodes.some((node) => node.traffic.byLabel()['datagram:pong']), 'no node answered a PING');
  });

  it('uniform nodes on one LAN do not converge on the same hosts: no node is in 40 % of the lists, every node is in one', { timeout: 60_000 }, async () => {
    // Every node hears every PING; before overheard pingers were limited to free room, the most-listed node was in 63 – 72 of 100 lists.
    for (const seed of [1, 2, 3]) {
      const network = await buildNetwork(100, seed, () => ({
        hosts: { refreshIntervalMs, refreshTimeoutMs, maxRefreshesPerSecond: 100, randomAcceptanceProbability: 0.2 },
      }));
      await network.simulation.runFor(30_000);
      const inDegrees = inDegreesOf(network.nodes);
      assert.ok(Math.max(...inDegrees) < 40, `seed ${seed}: a node is in ${Math.max(...inDegrees)} of 100 lists`);
      assert.equal(inDegrees.filter((count) => count === 0).length, 0, `seed ${seed}: a node is in no list`);
    }
  });

  it('removes crashed hosts within the refresh bound', { timeout: 60_000 }, async () => {
    const network = await buildNetwork(40, 11);
    await network.simulation.runFor(10_000);
    const dead = network.nodes.slice(0, 10);
    for (const node of dead) network.simulation.crash(node.runtime as SimRuntime);
    const deadIds = new Set(dead.map((node) => node.id));
    const live = liveNodes(network);
    const listedAtCrash = new Map(live.map((node) => [node, node.knownHosts.list().filter((host) => deadIds.has(host.id))]));
    assert.ok([...listedAtCrash.values()].some((hosts) => hosts.length > 0), 'no live node listed a crashed one');
    // Each host is refreshed within 1.25 × the interval, and a refresh fails within its timeout.
    await network.simulation.runFor(refreshIntervalMs * 1.25 + refreshTimeoutMs + 500);
    for (const [node, hosts] of listedAtCrash) {
      // A dead host may be learned again second-hand (from a list that still holds it), but never kept beyond its first refresh.
      const kept = hosts.filter((host) => node.knownHosts.get(host.id) === host || node.knownHosts.get(host.id)?.quality === host.quality);
      assert.deepEqual(kept, [], `node ${node.id.slice(0, 8)} still lists hosts that died`);
    }
    await network.simulation.runFor(10_000);
    const stale = live.flatMap((node) => node.knownHosts.list().filter((host) => deadIds.has(host.id)));
    assert.ok(stale.length <= live.length / 10, `${stale.length} dead entries remain`);
    assert.equal(componentFraction(live), 1);
    assert.ok(live.every((node) => node.knownHosts.size > 0));
  });

  it('three nodes that can each hold one host: no node ends up unknown', { timeout: 60_000 }, async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const network = await buildNetwork(3, seed, () => ({ knownHostsCapacity: 1 }));
      await network.simulation.runFor(refreshIntervalMs * 10);
      const known = new Set(network.nodes.flatMap((node) => node.knownHosts.list().map((host) => host.id)));
      for (const node of network.nodes) {
        assert.equal(node.knownHosts.size, 1, `seed ${seed}: a node knows no one`);
        assert.ok(known.has(node.id), `seed ${seed}: node ${node.id.slice(0, 8)} is known by no one`);
      }
    }
  });

  it('a node whose list empties pings again and is found again', { timeout: 60_000 }, async () => {
    const network = await buildNetwork(5, 3);
    await network.simulation.runFor(5_000);
    const [lonely] = network.nodes;
    assert.ok(lonely);
    const pingsBefore = lonely.traffic.byLabel()['datagram:ping']?.messages ?? 0;
    for (const host of lonely.knownHosts.list()) lonely.knownHosts.remove(host.id);
    await network.simulation.runFor(3_000);
    assert.ok((lonely.traffic.byLabel()['datagram:ping']?.messages ?? 0) > pingsBefore);
    assert.ok(lonely.knownHosts.size > 0);
  });

  it('without multicast, bootstrap addresses and peer exchange fill the lists and connect everyone', { timeout: 60_000 }, async () => {
    const addresses: Address[] = [];
    const network = await buildNetwork(50, 13, (index) => ({
      discovery: { enabled: false },
      bootstrap: index === 0 ? [] : [addresses[(index * 7919) % index] as Address],
    }), (node) => addresses.push(node.address));
    await network.simulation.runFor(20_000);
    assert.equal(componentFraction(network.nodes), 1);
    assert.ok(network.nodes.every((node) => node.knownHosts.size === node.knownHosts.capacity), 'a list is not full');
    assert.ok(network.nodes.every((node) => !node.traffic.byLabel()['datagram:ping']), 'a node pinged with discovery off');
  });

  it('stop is safe twice and silences the node', { timeout: 30_000 }, async () => {
    const network = await buildNetwork(3, 17);
    await network.simulation.runFor(2_000);
    const [node] = network.nodes;
    assert.ok(node);
    const stopping = node.stop();
    await network.simulation.runFor(100);
    await stopping;
    await node.stop();
    const sent = node.traffic.messagesSent;
    await network.simulation.runFor(refreshIntervalMs * 3);
    assert.equal(node.traffic.messagesSent, sent);
  });
});
