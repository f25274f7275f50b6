import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { blockKeyOf } from '../src/storage/block.js';
import { RetrievalCluster, type RetrievalNode } from './retrieval-cluster.js';

/** Popularity tuned for a test: a short window and a low threshold, so demand shows within seconds. */
const popular = { replicas: 3, maxReplicas: 6, queriesPerExtraReplica: 3, popularityWindowMs: 5_000 };

function bytes(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, index) => (index * 29 + seed) % 253);
}

function copiesOf(cluster: RetrievalCluster, contentId: string): number {
  return cluster.nodes.filter((node) => node.services.storage.has(blockKeyOf(contentId, 0))).length;
}

async function storeTwo(cluster: RetrievalCluster): Promise<{ hot: string; cold: string }> {
  const hot = await cluster.settle(cluster.nodes[0]!.services.storage.store(bytes(3_000, 1), { durable: true }));
  const cold = await cluster.settle(cluster.nodes[1]!.services.storage.store(bytes(3_000, 2), { durable: true }));
  await cluster.simulation.runFor(3_000); // summaries carry the new segments
  return { hot, cold };
}

/** Every `everyMs` for `seconds`, a reader from `readers()` retrieves `contentId`; calls `onSecond` once a simulated second. */
async function demand(cluster: RetrievalCluster, contentId: string, seconds: number, everyMs: number, readers: () => RetrievalNode[], onSecond: () => void): Promise<void> {
  const random = new SeededRandom(7);
  for (let elapsedMs = 0; elapsedMs < seconds * 1000; elapsedMs += everyMs) {
    const pool = readers().filter((node) => !node.services.storage.has(blockKeyOf(contentId, 0)));
    const reader = pool[random.int(pool.length)] as RetrievalNode;
    const startedMs = cluster.simulation.now;
    assert.ok(await cluster.settle(reader.services.retrieval.retrieve(contentId)), 'retrieved');
    await cluster.simulation.runFor(Math.max(0, everyMs - (cluster.simulation.now - startedMs)));
    if (Math.floor((elapsedMs + everyMs) / 1000) > Math.floor(elapsedMs / 1000)) onSecond();
  }
}

describe('popularity from retrieval', () => {
  it('an item retrieved by many nodes gains replicas above r and drops back when demand stops; one never retrieved stays at r', { timeout: 300_000 }, async () => {
    const cluster = new RetrievalCluster(21, popular, 64);
    await cluster.addMany(30);
    const { hot, cold } = await storeTwo(cluster);
    assert.equal(copiesOf(cluster, hot), 3);
    const hotCopies: number[] = [];
    const coldCopies: number[] = [];
    const sample = () => {
      hotCopies.push(copiesOf(cluster, hot));
      coldCopies.push(copiesOf(cluster, cold));
    };
    // Five retrievals a second from random nodes for 20 s.
    await demand(cluster, hot, 20, 200, () => cluster.nodes, sample);
    assert.ok(Math.max(...hotCopies) > 3, `hot copies during demand: ${hotCopies.join(' ')}`);
    for (let second = 0; second < 60; second += 1) {
      await cluster.simulation.runFor(1_000);
      sample();
    }
    assert.equal(copiesOf(cluster, hot), 3, `hot copies over time: ${hotCopies.join(' ')}`);
    assert.deepEqual(new Set(coldCopies), new Set([3]), `cold copies over time: ${coldCopies.join(' ')}`);
  });

  it('one node hammering an item cannot raise its replicas', { timeout: 300_000 }, async () => {
    const cluster = new RetrievalCluster(22, popular, 64);
    await cluster.addMany(30);
    const { hot } = await storeTwo(cluster);
    const hammer = cluster.nodes.find((node) => !node.services.storage.has(blockKeyOf(hot, 0))) as RetrievalNode;
    const copies: number[] = [];
    // Twenty retrievals a second from the same node for 30 s: 600 fetches of the same block.
    await demand(cluster, hot, 30, 50, () => [hammer], () => copies.push(copiesOf(cluster, hot)));
    assert.deepEqual(new Set(copies), new Set([3]), `copies over time: ${copies.join(' ')}`);
  });
});
