import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ButterError, ProtocolError, StorageFullError } from '../src/errors.js';
import { blockKeyOf, splitContent } from '../src/storage/block.js';
import { createNode } from '../src/node/create.js';
import { fetchReplyCodec, heartbeatCodec, offerCodec, routes } from '../src/storage/group-messages.js';
import { packSegment, segmentKeyOf } from '../src/storage/segment.js';
import { storageOf, StorageCluster } from './storage-groups-cluster.js';

const fast = { heartbeatIntervalMs: 1_000 };

async function storeOne(cluster: StorageCluster, seed: number, replicas = 3) {
  const [writer] = cluster.alive();
  const data = writer!.runtime.random.bytes(2_000 + seed);
  const contentId = await cluster.settle(storageOf(writer!).store(data, { replicas, durable: true }));
  return { contentId, key: segmentKeyOf(contentId, 0), data };
}

describe('storage groups on the simulator', () => {
  it('a durable store resolves with r holders whose views agree on goldilocks and one leader', async () => {
    const cluster = new StorageCluster(1);
    await cluster.addMany(8, fast);
    const { key } = await storeOne(cluster, 1);
    await cluster.run(3_000);
    assert.deepEqual(cluster.states(key), ['goldilocks', 'goldilocks', 'goldilocks']);
    const leaders = new Set(cluster.holders(key).map((node) => storageOf(node).groups().find((group) => group.key === key)?.leader));
    assert.equal(leaders.size, 1);
    assert.equal([...leaders][0], cluster.holders(key).map((node) => node.id).sort().at(-1), 'the highest id leads');
  });

  for (const [replicas, crashes] of [
    [3, 1],
    [3, 2],
    [5, 4],
  ] as const) {
    it(`recovers after ${crashes} of ${replicas} members crash at once (r−1 = ${replicas - 1})`, async () => {
      const cluster = new StorageCluster(10 + crashes);
      await cluster.addMany(10, fast);
      const { key, contentId, data } = await storeOne(cluster, crashes, replicas);
      await cluster.run(2_000);
      for (const holder of cluster.holders(key).slice(0, crashes)) cluster.crash(holder);
      await cluster.run(8_000);
      assert.equal(cluster.holders(key).length, replicas, cluster.states(key).join());
      assert.ok(cluster.states(key).every((state) => state === 'goldilocks'), cluster.states(key).join());
      // A fresh reader: a survivor may know only crashed hosts (host management has not replaced them yet).
      const reader = await cluster.add(fast);
      await cluster.run(500);
      assert.deepEqual(await cluster.settle(storageOf(reader).findContent(contentId)), data);
    });
  }

  it("replaces a member whose process was killed long before the failure timeout: its OS ends the connections, the redial is refused", async () => {
    const cluster = new StorageCluster(21);
    await cluster.addMany(8, fast);
    const { key } = await storeOne(cluster, 21);
    await cluster.run(2_000);
    const [killed] = cluster.holders(key);
    cluster.kill(killed!);
    // A tenth of the 1.1 s failure timeout: only the closed connections can have told the others.
    await cluster.run(110);
    assert.equal(cluster.holders(key).length, 3, cluster.states(key).join());
    assert.ok(!cluster.holders(key).includes(killed!));
    const views = cluster.holders(key).map((node) => storageOf(node).groups().find((group) => group.key === key)!);
    for (const view of views) assert.notEqual(view.members.find((member) => member.id === killed!.id)?.status, 'alive', 'no holder counts the killed member');
  });

  it('as blocks grow, each node keeps beating a bounded set of peers (recruitment reuses them)', async () => {
    // Three seeds, since one node's count depends on the luck of the draw; the mean per node does not (3.3 to 3.8 measured).
    for (const seed of [5, 6, 7]) {
      const cluster = new StorageCluster(seed);
      const nodes = await cluster.addMany(12, fast);
      const peersOf = (node: (typeof nodes)[number]) =>
        new Set(storageOf(node).groups().flatMap((group) => group.members.filter((member) => member.id !== node.id && member.status === 'alive').map((member) => member.id)));
      // 40 one-block contents per node, 480 groups of 3: placed at random, every node would share groups with all 11 others.
      for (const node of nodes) {
        await cluster.settle(Promise.all(Array.from({ length: 40 }, () => storageOf(node).store(node.runtime.random.bytes(4096), { durable: true }))));
      }
      await cluster.run(5_000);
      const groups = nodes.map((node) => storageOf(node).groups().length);
      assert.ok(groups.every((count) => count >= 40), `seed ${seed}: groups per node ${groups.join()}`);
      const peers = nodes.map((node) => peersOf(node).size);
      const meanPeers = peers.reduce((sum, count) => sum + count, 0) / peers.length;
      assert.ok(meanPeers <= 5 && Math.max(...peers) < 11, `seed ${seed}: distinct heartbeat peers per node ${peers.join()}`);
    }
  });

  it('a partition that heals turns the group hot, then shedding brings it back to exactly r, views agreeing', async () => {
    const cluster = new StorageCluster(4);
    await cluster.addMany(12, fast);
    const { key } = await storeOne(cluster, 4);
    await cluster.run(2_000);
    const holders = cluster.holders(key);
    const sideA = [holders[0]!, ...cluster.alive().filter((node) => !holders.includes(node)).slice(0, 4)];
    const sideB = cluster.alive().filter((node) => !sideA.includes(node));
    cluster.simulation.partition(sideA.map((node) => node.runtime as never), sideB.map((node) => node.runtime as never));
    for (let second = 0; second < 12 && cluster.holders(key).length < 6; second += 1) await cluster.run(1_000);
    assert.equal(cluster.holders(key).length, 6, 'each side recruited back to r');
    // The simulator breaks the streams that crossed the partition without telling either end (half-open
    // connections): members that stop hearing each other drop them, so the next beat redials.
    cluster.simulation.heal();
    let sawHot = false;
    for (let second = 0; second < 10 && !sawHot; second += 1) {
      await cluster.run(1_000);
      sawHot = cluster.states(key).includes('hot');
    }
    assert.ok(sawHot, 'the merged group turned hot');
    const agreed = () => {
      const ids = cluster.holders(key).map((node) => node.id).sort();
      const views = cluster.holders(key).map((node) => {
        const group = storageOf(node).groups().find((candidate) => candidate.key === key);
        const alive = group?.members.filter((member) => member.status === 'alive').map((member) => member.id).sort();
        return `${group?.state} ${group?.leader} ${alive?.join()}`;
      });
      return ids.length === 3 && views.every((view) => view === `goldilocks ${ids.at(-1)} ${ids.join()}`);
    };
    // Bound: 30 s of virtual time (shedding waits shedAfterMs once the views agree the group is hot).
    for (let second = 0; second < 30 && !agreed(); second += 1) await cluster.run(1_000);
    assert.ok(agreed(), `holders ${cluster.holders(key).length}: ${cluster.states(key).join()}`);
  });

  it('a popular block raises its group to the cap, and sheds back to r when demand falls', async () => {
    const cluster = new StorageCluster(3);
    const popular = { ...fast, maxReplicas: 5, queriesPerExtraReplica: 2, popularityWindowMs: 3_000 };
    await cluster.addMany(8, popular);
    const { key, contentId } = await storeOne(cluster, 3);
    await cluster.run(2_000);
    const [holder] = cluster.holders(key);
    // Every node not holding it fetches it (a requester counts once per window): 5 of them ask for 2 more.
    const readers = cluster.alive().filter((node) => !cluster.holders(key).includes(node));
    for (const reader of readers) await cluster.settle(storageOf(reader).fetch(holder!.address, blockKeyOf(contentId, 0)));
    await cluster.run(3_000);
    assert.equal(cluster.holders(key).length, 5, 'raised to the cap');
    await cluster.run(30_000);
    assert.equal(cluster.holders(key).length, 3, 'back to r once the queries decayed');
  });

  it('nodes leaving gracefully one by one down to r lose nothing', async () => {
    const cluster = new StorageCluster(5);
    await cluster.addMany(8, fast);
    const stored: Array<{ contentId: string; data: Uint8Array }> = [];
    for (const [index, node] of cluster.alive().slice(0, 4).entries()) {
      const data = node.runtime.random.bytes(5_000 + index); // two blocks each
      stored.push({ contentId: await cluster.settle(storageOf(node).store(data, { durable: true })), data });
    }
    while (cluster.alive().length > 3) {
      await cluster.settle(cluster.alive()[0]!.stop());
      await cluster.run(3_000);
    }
    const [reader] = cluster.alive();
    for (const { contentId, data } of stored) assert.deepEqual(await cluster.settle(storageOf(reader!).findContent(contentId)), data);
  });

  it('a store fails with StorageFullError when no host in reach has room', async () => {
    const cluster = new StorageCluster(6);
    const nodes = [];
    for (let index = 0; index < 3; index += 1) nodes.push(await cluster.add(fast, { knownHostsCapacity: 4 }));
    await cluster.run(500);
    // Fill every store directly with blocks of a large content, to the last byte it accepts.
    const filler = splitContent(nodes[0]!.runtime.random.bytes(nodes[0]!.memory.storageBytes), ['filler']).blocks;
    for (const node of nodes) for (const block of filler) storageOf(node).blocks.put(block);
    const free = nodes.map((node) => storageOf(node).blocks.freeBytes());
    await assert.rejects(cluster.settle(storageOf(nodes[0]!).store(nodes[0]!.runtime.random.bytes(4_096))), StorageFullError);
    for (const [index, node] of nodes.entries()) {
      assert.ok(storageOf(node).blocks.usedBytes() <= node.memory.storageBytes, 'never beyond the allocation');
      assert.equal(storageOf(node).blocks.freeBytes(), free[index]);
    }
  });

  it('a node restarted on its data directory rejoins its groups with its blocks', async () => {
    // On the simulated host's own disk, which outlives the node.
    const directory = '/var/butter';
    // A 5 s interval: the restart completes within the members' failure timeout, so nobody replaces it.
    const slow = { heartbeatIntervalMs: 5_000 };
    const cluster = new StorageCluster(7);
    await cluster.addMany(5, slow);
    const durableNode = await cluster.add(slow, { dataDir: directory });
    await cluster.run(500);
    const data = durableNode.runtime.random.bytes(1_000);
    const contentId = await cluster.settle(storageOf(durableNode).store(data, { durable: true }));
    const key = segmentKeyOf(contentId, 0);
    await cluster.run(2_000);
    await cluster.settle(durableNode.stop({ graceful: false }));
    const restarted = await cluster.add(slow, { dataDir: directory, runtime: durableNode.runtime });
    assert.equal(restarted.id, durableNode.id, 'same identity');
    assert.ok(storageOf(restarted).has(blockKeyOf(contentId, 0)), 'its block is back');
    await cluster.run(3_000);
    const group = storageOf(restarted).groups().find((entry) => entry.key === key);
    assert.ok(group, 'it rejoined the group');
    assert.ok(group.members.filter((member) => member.status === 'alive').length >= 3, JSON.stringify(group));
    const others = cluster.holders(key).filter((node) => node !== restarted);
    assert.ok(
      others.every((node) => storageOf(node).groups().find((entry) => entry.key === key)?.members.some((member) => member.id === restarted.id && member.status === 'alive')),
      'the other members count it again',
    );
    await cluster.settle(restarted.stop());
  });

  it('rejects malformed and lying storage messages and carries on', async () => {
    const cluster = new StorageCluster(8);
    const [target, sender] = await cluster.addMany(3, fast);
    const { key } = await storeOne(cluster, 8);
    const garbage = new Uint8Array([0xc1, 0x00, 0xff]);
    // The handler's ProtocolError reaches the sender as a failed request; the target carries on.
    const refused = (error: unknown) => error instanceof ButterError && /malformed|invalid|verify/.test(error.message);
    for (const route of Object.values(routes)) await assert.rejects(cluster.settle(sender!.request(target!.address, route, garbage)), refused, route);
    // An offer whose data does not match its content hash.
    const { blocks } = splitContent(new Uint8Array(100), []);
    const tampered = { ...packSegment(blocks), data: new Uint8Array(100).fill(1) };
    await assert.rejects(cluster.settle(sender!.request(target!.address, routes.offer, offerCodec.encode({ ...tampered, replicas: 3, view: [] }))), refused);
    // Absurd sizes: a heartbeat with more members than the limit.
    const members = Array.from({ length: 5_000 }, (_, index) => ({ id: index.toString(16).padStart(64, '0'), host: 'x.sim', port: 1 }));
    const huge = { incarnation: 1, members, groups: [] };
    await assert.rejects(cluster.settle(sender!.request(target!.address, routes.heartbeat, heartbeatCodec.encode(huge))), refused);
    // A stranger names a host that never joined in a group the target holds: ignored.
    const forged = (senderIndex: number) => ({
      incarnation: 1,
      members: [{ id: 'e'.repeat(64), host: 'e.sim', port: 1 }],
      groups: [{ key, replicas: 3, wanted: 3, view: [[-1, 1, 0] as [number, number, 0], [senderIndex, 1, 0] as [number, number, 0]] }],
    });
    const stranger = await cluster.add(fast);
    await cluster.settle(stranger.request(target!.address, routes.heartbeat, heartbeatCodec.encode(forged(0))));
    const memberIds = () => storageOf(target!).groups().find((group) => group.key === key)?.members ?? [];
    assert.ok(!memberIds().some((member) => member.id === 'e'.repeat(64) || member.id === stranger.id), 'a stranger does not vouch');
    // A member vouching for a host that never joined: that host never beats, so it is suspected within the failure timeout.
    await cluster.settle(sender!.request(target!.address, routes.heartbeat, heartbeatCodec.encode(forged(0))));
    await cluster.run(2_000);
    assert.notEqual(memberIds().find((member) => member.id === 'e'.repeat(64))?.status ?? 'gone', 'alive');
    assert.ok(target!.isRunning);
    await cluster.run(2_000);
    assert.deepEqual(cluster.states(key), ['goldilocks', 'goldilocks', 'goldilocks']);
  });

  it('a peer answering a fetch with a block that does not verify is refused', async () => {
    const cluster = new StorageCluster(9);
    const [reader] = await cluster.addMany(1, fast);
    // A lying peer: a plain node whose fetch route answers every key with some other block.
    const liar = await createNode({ host: '127.0.0.1', memoryMB: 16, runtime: cluster.simulation.createHost({}), services: {} });
    const other = splitContent(new Uint8Array(10).fill(8), []).blocks[0]!;
    liar.route(routes.fetch, () => fetchReplyCodec.encode({ block: other }));
    await cluster.settle(liar.spawn()); // no storage of its own: its fetch route is the lie
    const key = blockKeyOf(splitContent(new Uint8Array(10).fill(7), []).contentId, 0);
    await assert.rejects(cluster.settle(storageOf(reader!).fetch(liar.address, key)), ProtocolError);
  });
});
