import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultDiscoveryOptions } from '../src/discovery/core.js';
import { discoveryDatagramCodec } from '../src/discovery/messages.js';
import type { HostQuality } from '../src/hosts/known-hosts.js';
import { exchangeAnswerCodec, exchangeRequestCodec } from '../src/hosts/messages.js';
import { encodeQuality } from '../src/hosts/quality.js';
import { createIdentity } from '../src/node/identity.js';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { Simulation, type SimRuntime } from '../src/runtime/sim/index.js';
import type { Address } from '../src/runtime/types.js';
import { encodeValue } from '../src/transport/codec.js';
import type { Connection } from '../src/transport/connection.js';
import { defaultTransportOptions } from '../src/transport/options.js';
import { ConnectionPool } from '../src/transport/pool.js';
import { TrafficCounters } from '../src/transport/traffic.js';

const networkId = 'butter';
const goodQuality: HostQuality = { uptimeMs: 1_000, availableStorageBytes: 1_000_000, knownHosts: 3, ambassador: false };

async function spawnNode(simulation: Simulation, runtime: SimRuntime, bootstrap: Address[] = []): Promise<ButterNode> {
  const node = await createNode({ runtime, memoryMB: 64, bootstrap, services: {}, hosts: { refreshIntervalMs: 2_000, refreshTimeoutMs: 500, maxRefreshesPerSecond: 100 } });
  const spawned = node.spawn();
  await simulation.runFor(0);
  await spawned;
  return node;
}

/**
 * A peer built from the real transport that answers `host-quality` with
 * whatever the test chooses: the way a buggy or hostile node would.
 */
async function hostilePeer(runtime: SimRuntime, answer: () => Uint8Array): Promise<{ id: string; address: Address }> {
  const identity = createIdentity(runtime.random);
  // Streams arrive only after the pool below exists.
  const listener = await runtime.listen({ host: '0.0.0.0', port: 0, identity }, (stream) => pool.accept(stream));
  const pool = new ConnectionPool(
    runtime,
    { nodeId: identity.nodeId, publicKey: identity.publicKey, networkId, listenAddresses: [{ transport: 'tcp', ...listener.address }] },
    {
      channel: { identity, networkKey: undefined },
      hasRoute: (route) => route === 'host-quality' || route === 'peer-exchange',
      // Peer exchange is answered correctly (with no hosts), so only the quality is at fault.
      handleRequest: async (route: string, _payload: Uint8Array, _connection: Connection) =>
        route === 'peer-exchange' ? exchangeAnswerCodec.encode({ hosts: [] }) : answer(),
      handleNotify: () => {},
      acceptHello: () => {},
      networkKeyRefused: () => {},
    },
    defaultTransportOptions,
    new TrafficCounters(),
  );
  return { id: identity.nodeId, address: listener.address };
}

/** Checks that `node` still answers requests from another node. */
async function assertServes(simulation: Simulation, node: ButterNode, from: ButterNode): Promise<void> {
  const answer = from.request(node.address, 'host-quality', new Uint8Array(0));
  await simulation.runFor(1_000);
  assert.ok((await answer).byteLength > 0);
}

describe('bad input is rejected and the node keeps serving', () => {
  it('drops malformed, oversized, foreign, invalid and flooding datagrams', { timeout: 30_000 }, async () => {
    const simulation = new Simulation({ seed: 3 });
    const node = await spawnNode(simulation, simulation.createHost({ subnet: 'lan' }));
    const witness = await spawnNode(simulation, simulation.createHost({ subnet: 'lan-2' }));
    const attacker = await simulation.createHost({ subnet: 'lan' }).openDatagramSocket({
      port: defaultDiscoveryOptions.port,
      multicastGroup: defaultDiscoveryOptions.multicastGroup,
    });
    const fakeId = createIdentity(simulation.createHost({ subnet: 'elsewhere' }).random).nodeId;
    const ping = { type: 'ping' as const, networkId, id: fakeId, port: 10_000, quality: goodQuality, replyPort: 10_001 };
    await simulation.runFor(500);
    const stats = node.discovery.stats;
    assert.ok(stats);

    attacker.sendToGroup(new Uint8Array([0xc1, 0xff, 0x00])); // not MessagePack
    attacker.sendToGroup(encodeValue({ hello: 'world' })); // not a discovery message
    attacker.sendToGroup(encodeValue([7, networkId, fakeId])); // an unknown kind
    attacker.sendToGroup(new Uint8Array(64 * 1024)); // oversized
    attacker.sendToGroup(discoveryDatagramCodec.encode({ ...ping, networkId: 'another-network' } as never));
    for (const quality of [
      { ...goodQuality, uptimeMs: -1 },
      { ...goodQuality, uptimeMs: NaN },
      { ...goodQuality, availableStorageBytes: 1e300 },
      { ...goodQuality, knownHosts: 1.5 },
      { uptimeMs: 1, knownHosts: 1, ambassador: false } as HostQuality,
    ]) {
      attacker.sendToGroup(discoveryDatagramCodec.encode({ ...ping, quality }));
    }
    attacker.sendToGroup(discoveryDatagramCodec.encode({ ...ping, id: 'not-a-node-id' }));
    // Named fields instead of positions: the old layout, refused whole.
    attacker.sendToGroup(encodeValue(ping));
    await simulation.runFor(100);
    assert.equal(stats.malformed, 10);
    assert.equal(stats.oversized, 1);
    assert.equal(stats.foreignNetwork, 1);
    assert.equal(node.knownHosts.get(fakeId), undefined);

    // A flood: far more datagrams at once than the rate limit lets through.
    for (let count = 0; count < 5_000; count += 1) attacker.sendToGroup(new Uint8Array([1, 2, 3]));
    await simulation.runFor(10);
    assert.ok(stats.rateLimited > 4_000, `only ${stats.rateLimited} datagrams rate limited`);
    assert.ok(stats.malformed < 8 + defaultDiscoveryOptions.maxDatagramsPerSecond + 10);

    await assertServes(simulation, node, witness);
  });

  it('carries no field it does not know, in or out', { timeout: 30_000 }, async () => {
    const simulation = new Simulation({ seed: 5 });
    const node = await spawnNode(simulation, simulation.createHost({ subnet: 'lan' }));
    const attackerHost = simulation.createHost({ subnet: 'lan' });
    // It accepts connections and never answers, so its quality refresh takes a while to fail.
    await attackerHost.listen({ host: '0.0.0.0', port: 10_000, identity: createIdentity(attackerHost.random) }, () => undefined);
    const attacker = await attackerHost.openDatagramSocket({
      port: defaultDiscoveryOptions.port,
      multicastGroup: defaultDiscoveryOptions.multicastGroup,
    });
    const pinger = createIdentity(simulation.createHost({ subnet: 'elsewhere' }).random).nodeId;
    const pingWithQuality = (quality: unknown[]) => encodeValue([0, networkId, pinger, 10_000, null, quality, 10_001]);
    // A quality with one element too many is not a quality.
    attacker.sendToGroup(pingWithQuality([1_000, 1_000_000, 3, false, 'zone-a', 'x'.repeat(200)]));
    await simulation.runFor(10);
    assert.equal(node.discovery.stats?.malformed, 1);
    assert.equal(node.knownHosts.get(pinger), undefined);
    attacker.sendToGroup(pingWithQuality([1_000, 1_000_000, 3, false, 'zone-a']));
    await simulation.runFor(10);
    assert.deepEqual(node.knownHosts.get(pinger)?.quality, { ...goodQuality, zone: 'zone-a' });

    // Out: an answer sends a quality's known fields only, whatever the object holds.
    const exchanged = createIdentity(simulation.createHost({ subnet: 'elsewhere-2' }).random).nodeId;
    node.hosts.consider({ id: exchanged, address: { host: 'peer.sim', port: 10_000 }, quality: { ...goodQuality, padding: 'x' } as HostQuality });
    const asker = createIdentity(simulation.createHost({ subnet: 'elsewhere-3' }).random).nodeId;
    const answer = exchangeAnswerCodec.decode(
      node.hosts.answerExchange(exchangeRequestCodec.encode({ quality: goodQuality, introduce: false }), { id: asker, address: undefined }),
    );
    assert.deepEqual(answer.hosts.find((entry) => entry.id === exchanged)?.quality, goodQuality);
  });

  it('rejects bad host-quality answers and drops the host that gave them', { timeout: 30_000 }, async () => {
    const answers: Array<[string, unknown]> = [
      ['missing fields', [5, false]],
      ['negative', [-5, 1_000_000, 3, false]],
      ['not a number', [1_000, NaN, 3, false]],
      ['infinite', [1_000, Infinity, 3, false]],
      ['gigantic', [1e20, 1_000_000, 3, false]],
      ['wrong type', [1_000, 1_000_000, '3', false]],
      ['huge payload', [1_000, 1_000_000, 3, false, 'z'.repeat(1024 * 512)]],
      ['named fields', goodQuality],
      ['not MessagePack', new Uint8Array([0xc1])],
    ];
    const simulation = new Simulation({ seed: 4 });
    for (const [label, value] of answers) {
      const bytes = value instanceof Uint8Array ? value : encodeValue(value);
      let valid = false;
      const hostile = await hostilePeer(simulation.createHost({ subnet: `hostile-${label}` }), () => (valid ? encodeQuality(goodQuality) : bytes));
      // Bootstrap: the introduction fetches the quality, which is refused.
      const node = await spawnNode(simulation, simulation.createHost({ subnet: `node-${label}` }), [hostile.address]);
      await simulation.runFor(1_000);
      assert.equal(node.knownHosts.get(hostile.id), undefined, `${label}: bootstrap host with a bad quality was kept`);
      // Refresh: a host that answered well once, then badly, is removed at its next refresh.
      valid = true;
      node.knownHosts.add({ id: hostile.id, address: hostile.address });
      await simulation.runFor(500);
      assert.deepEqual(node.knownHosts.get(hostile.id)?.quality, goodQuality, `${label}: a good answer was not cached`);
      valid = false;
      await simulation.runFor(3_000);
      assert.equal(node.knownHosts.get(hostile.id), undefined, `${label}: host with a bad answer was kept`);
      const witness = await spawnNode(simulation, simulation.createHost({ subnet: `witness-${label}` }));
      await assertServes(simulation, node, witness);
    }
  });
});
