import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { ConnectionClosedError } from '../src/errors.js';
import { RelayRefusedError } from '../src/nat/relay/circuit-ends.js';
import { defaultNatOptions, nat, type NatOptions, type NatService } from '../src/nat/service.js';
import { Simulation, type SimRuntime } from '../src/runtime/sim/index.js';
import type { Address } from '../src/runtime/types.js';

type NatNode = ButterNode<{ nat: NatService }>;

interface World {
  simulation: Simulation;
  ambassadors: NatNode[];
  /** Nodes behind the NAT of subnet 'a', then of subnet 'b'. */
  lanA: NatNode[];
  lanB: NatNode[];
  /** A reachable node on a public subnet of its own. */
  open: NatNode;
}

const refreshIntervalMs = 5_000;
const hosts = { refreshIntervalMs: 5_000, refreshTimeoutMs: 1_000, maxRefreshesPerSecond: 100 };

async function spawnNode(simulation: Simulation, host: { subnet: string; behindNat?: boolean }, options: { ambassador?: boolean; bootstrap?: Address[]; nat?: Partial<NatOptions> }): Promise<NatNode> {
  const runtime = simulation.createHost(host);
  const node = await createNode({
    runtime,
    memoryMB: 64,
    hosts,
    ambassador: options.ambassador ?? false,
    bootstrap: options.bootstrap ?? [],
    services: { nat: nat({ refreshIntervalMs, ...options.nat }) },
  });
  node.route('echo', (_node, payload) => payload);
  const spawned = node.spawn();
  await simulation.runFor(0);
  await spawned;
  return node;
}

async function buildWorld(seed: number, nat: Partial<NatOptions> = {}): Promise<World> {
  const simulation = new Simulation({ seed });
  const ambassadors = [
    await spawnNode(simulation, { subnet: 'pub1' }, { ambassador: true, nat }),
    await spawnNode(simulation, { subnet: 'pub2' }, { ambassador: true, nat }),
  ];
  const bootstrap = ambassadors.map((node) => node.address);
  const lanA: NatNode[] = [];
  const lanB: NatNode[] = [];
  for (let index = 0; index < 2; index++) {
    lanA.push(await spawnNode(simulation, { subnet: 'a', behindNat: true }, { bootstrap, nat }));
    lanB.push(await spawnNode(simulation, { subnet: 'b', behindNat: true }, { bootstrap, nat }));
  }
  const open = await spawnNode(simulation, { subnet: 'pub3' }, { bootstrap, nat });
  // Two refresh rounds: the first registers everyone, the second introduces them across subnetworks.
  await simulation.runFor(6 * refreshIntervalMs);
  return { simulation, ambassadors, lanA, lanB, open };
}

/** Runs the simulation while `promise` is pending, then returns its outcome. */
async function settle<T>(simulation: Simulation, promise: Promise<T>, ms = 10_000): Promise<T> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await simulation.runFor(ms);
  const result = await outcome;
  if ('error' in result) throw result.error;
  return result.value;
}

function addressIn(node: NatNode, peer: NatNode): Address {
  const known = node.knownHosts.get(peer.id);
  assert.ok(known, `${peer.id.slice(0, 8)} is not among the known hosts of ${node.id.slice(0, 8)}`);
  return known.address;
}

async function stopAll(world: World): Promise<void> {
  const nodes = [...world.ambassadors, ...world.lanA, ...world.lanB, world.open];
  await settle(world.simulation, Promise.all(nodes.map((node) => node.stop({ graceful: false }))), 1_000);
}

describe('NAT traversal on the simulator', () => {
  it('a node behind NAT trusts the public IP two Ambassadors agree on and learns it is not reachable; an open node learns it is', { timeout: 60_000 }, async () => {
    const world = await buildWorld(1);
    for (const node of [...world.lanA, ...world.lanB]) {
      const status = node.services.nat.status();
      assert.equal(status.reachable, false);
      assert.deepEqual(status.publicAddress, { source: 'ambassadors', host: `${(node.runtime as SimRuntime).subnet}.nat`, reporters: 2 });
      assert.equal(status.relays.length, 2, 'holds a reservation with both Ambassadors');
    }
    const open = world.open.services.nat.status();
    assert.equal(open.reachable, true);
    assert.equal(open.relays.length, 0);
    assert.equal(open.publicAddress?.host, (world.open.runtime as SimRuntime).hostName);
    await stopAll(world);
  });

  it('nodes on two NATed LANs reach each other through a relay, at an address that names it', { timeout: 60_000 }, async () => {
    const world = await buildWorld(2);
    const [a0] = world.lanA as [NatNode];
    const [b0] = world.lanB as [NatNode];
    const address = addressIn(a0, b0);
    assert.match(address.host, new RegExp(`^${b0.id}@`), 'a relayed address');
    const payload = new Uint8Array(20_000).fill(7);
    const answer = await settle(world.simulation, a0.request({ id: b0.id, address }, 'echo', payload));
    assert.equal(Buffer.compare(answer, payload), 0);
    const relayed = world.ambassadors.reduce((sum, node) => sum + (node.services.nat.ambassador?.relayedBytes ?? 0), 0);
    assert.ok(relayed >= 2 * payload.length, `relayed ${relayed} bytes`);
    await stopAll(world);
  });

  it('an Ambassador asks a NATed node to dial a reachable one (reversal): they talk directly, not through the relay', { timeout: 60_000 }, async () => {
    const world = await buildWorld(3);
    const [a0] = world.lanA as [NatNode];
    // The reversal happened at registration: a0 dialled the open node, so the open node reaches it by id.
    const answer = await settle(world.simulation, world.open.request(a0.id, 'echo', new Uint8Array([1, 2, 3])));
    assert.deepEqual([...answer], [1, 2, 3]);
    const peer = await settle(world.simulation, world.open.connect(a0.id), 10);
    assert.ok(!peer.address?.host.includes('@'), `reached at ${peer.address?.host}`);
    for (const ambassador of world.ambassadors) {
      const circuits = ambassador.services.nat.ambassador?.limits.circuitsOf(world.open.id) ?? [];
      assert.deepEqual(circuits, [], 'the open node has no circuit');
    }
    await stopAll(world);
  });

  it('when an Ambassador dies, the relayed peers recover through the other one', { timeout: 60_000 }, async () => {
    const world = await buildWorld(4);
    const [a0] = world.lanA as [NatNode];
    const [b0] = world.lanB as [NatNode];
    const [first, second] = world.ambassadors as [NatNode, NatNode];
    world.simulation.crash(first.runtime as SimRuntime);
    // Refresh rounds drop the dead Ambassador; host management drops hosts known only through it.
    await world.simulation.runFor(6 * refreshIntervalMs);
    assert.deepEqual(a0.services.nat.status().ambassadors, [second.id]);
    const address = addressIn(a0, b0);
    assert.equal(address.host, `${b0.id}@${second.address.host}`);
    const answer = await settle(world.simulation, a0.request({ id: b0.id, address }, 'echo', new Uint8Array([9])));
    assert.deepEqual([...answer], [9]);
    await stopAll(world);
  });

  it('relay limits hold: a circuit is closed past its byte budget, and a full relay refuses reservations by name', { timeout: 60_000 }, async () => {
    const relay = { ...defaultNatOptions.ambassador.relay, maxCircuitBytes: 16 * 1024, maxReservations: 3 };
    const world = await buildWorld(5, { ambassador: { ...defaultNatOptions.ambassador, relay } });
    const refused = [...world.lanA, ...world.lanB].filter((node) => node.services.nat.status().lastRefusal === 'reservations-full');
    assert.equal(refused.length, 1, 'four NATed nodes, three reservations per Ambassador');
    const [a0] = world.lanA.filter((node) => !refused.includes(node)) as [NatNode];
    const [b0] = world.lanB.filter((node) => !refused.includes(node)) as [NatNode];
    const address = addressIn(a0, b0);
    const error = await settle(world.simulation, a0.request({ id: b0.id, address }, 'echo', new Uint8Array(64 * 1024))).catch((error: unknown) => error);
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.ok(error.cause instanceof RelayRefusedError);
    assert.equal(error.cause.refusal, 'circuit-bytes-exceeded');
    await stopAll(world);
  });
});
