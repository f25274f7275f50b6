import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceComponents } from '../src/node/service.js';
import { hitCodec, queryCodec, routes, summaryCodec } from '../src/retrieval/messages.js';
import { fetchCodec, fetchReplyCodec, routes as storageRoutes } from '../src/storage/group-messages.js';
import { splitContent } from '../src/storage/block.js';
import { RetrievalCluster, type RetrievalNode } from './retrieval-cluster.js';

function bytes(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, index) => (index * 31 + seed) % 251);
}

/** Stores `count` items from the first nodes; returns their ids and bytes. */
async function storeItems(cluster: RetrievalCluster, count: number): Promise<Array<{ contentId: string; data: Uint8Array }>> {
  const items = [];
  for (let index = 0; index < count; index += 1) {
    const data = bytes(5000 + index, index);
    const contentId = await cluster.settle(cluster.nodes[index]!.services.storage.store(data, { durable: true }));
    items.push({ contentId, data });
  }
  await cluster.simulation.runFor(3_000); // summaries carry the new segments
  return items;
}

describe('retrieval on the simulator', () => {
  // A sparse network (3–4 known hosts each, diameter about 7). rbfs may miss by design (the original's 68 %):
  // with TTL 10 and three quarters of the neighbours per hop it reaches across this one.
  it('every strategy finds what exists, byte for byte, without the bfs fallback', { timeout: 120_000 }, async () => {
    const cluster = new RetrievalCluster(11);
    await cluster.addMany(20);
    const items = await storeItems(cluster, 4);
    const reader = cluster.nodes[19] as RetrievalNode;
    for (const strategy of ['informed', 'rbfs', 'bfs'] as const) {
      for (const { contentId, data } of items) {
        const report = await cluster.settle(reader.services.retrieval.retrieveWithReport(contentId, { strategy, ttl: 10, fraction: 0.75, fallback: false }));
        assert.deepEqual(report.data, data, `${strategy} ${contentId}`);
        assert.equal(report.fallbacks, 0);
      }
    }
  });

  it('informed search costs fewer messages than a flood, in the same network', { timeout: 120_000 }, async () => {
    const cluster = new RetrievalCluster(12);
    await cluster.addMany(20);
    const items = await storeItems(cluster, 4);
    const reader = cluster.nodes[19] as RetrievalNode;
    const cost = async (strategy: 'informed' | 'bfs') => {
      const before = cluster.sent(routes.query) + cluster.sent(routes.hit);
      for (const { contentId, data } of items) assert.deepEqual(await cluster.settle(reader.services.retrieval.retrieve(contentId, { strategy, fallback: false })), data);
      return cluster.sent(routes.query) + cluster.sent(routes.hit) - before;
    };
    const informed = await cost('informed');
    const flood = await cost('bfs');
    assert.ok(informed < flood, `informed ${informed} messages, bfs ${flood}`);
  });

  it('a search for what does not exist ends not-found within its budget (informed: twice, each within it)', { timeout: 120_000 }, async () => {
    const cluster = new RetrievalCluster(13);
    await cluster.addMany(12);
    const absent = splitContent(bytes(100, 99), []).contentId;
    const reader = cluster.nodes[0] as RetrievalNode;
    for (const strategy of ['informed', 'rbfs', 'bfs'] as const) {
      const before = cluster.sent(routes.query);
      const report = await cluster.settle(reader.services.retrieval.retrieveWithReport(absent, { strategy, budget: 20, fallback: false }));
      assert.equal(report.data, undefined);
      const searches = strategy === 'informed' ? 2 : 1;
      assert.equal(report.searches, searches);
      assert.ok(cluster.sent(routes.query) - before <= 20 * searches, `${strategy}: ${cluster.sent(routes.query) - before} queries`);
    }
  });

  it('cancels through an AbortSignal', { timeout: 60_000 }, async () => {
    const cluster = new RetrievalCluster(14);
    await cluster.addMany(5);
    const absent = splitContent(bytes(100, 98), []).contentId;
    const controller = new AbortController();
    const node = cluster.nodes[0] as RetrievalNode;
    const retrieving = node.services.retrieval.retrieve(absent, { signal: controller.signal });
    node.runtime.setTimer(50, () => controller.abort(new Error('cancelled by the test')));
    await assert.rejects(cluster.settle(retrieving), /cancelled by the test/);
    assert.equal(node.services.retrieval.activeSearches, 0);
  });

  it('a lying node cannot make retrieve return wrong bytes: its blocks are refused, the search goes on', { timeout: 120_000 }, async () => {
    const cluster = new RetrievalCluster(15);
    await cluster.addMany(8);
    const [{ contentId, data }] = (await storeItems(cluster, 1)) as [{ contentId: string; data: Uint8Array }];
    const forged = splitContent(bytes(5000, 0), []).blocks[0]!;
    let claimTo: ((peer: { id: string; address: { host: string; port: number } }) => Promise<void>) | undefined;
    // The liar claims every segment (a summary with every bit set, a hit to every query) and serves blocks with the right key but other bytes.
    const liar = (components: ServiceComponents) => ({
      start() {
        claimTo = (peer) => {
          const everything = { bits: new Uint8Array(1024).fill(0xff), hashCount: 7 };
          return components.notify(peer, routes.summary, summaryCodec.encode({ own: everything, near: everything, far: everything }));
        };
        components.route(routes.query, (payload) => {
          const query = queryCodec.decode(payload);
          const address = components.listenAddress();
          const hit = hitCodec.encode({ id: query.id, key: query.key, hops: query.hops, holders: [{ id: components.nodeId, host: address.host, port: address.port }] });
          void components.notify({ id: query.origin.id, address: { host: query.origin.host, port: query.origin.port } }, routes.hit, hit).catch(() => undefined);
          return new Uint8Array(0);
        });
        components.route(storageRoutes.fetch, (payload) => {
          const { key } = fetchCodec.decode(payload);
          const part = Number(key.slice(key.lastIndexOf('/') + 1));
          const block = { ...forged, contentHash: new Uint8Array(Buffer.from(contentId.slice(0, 64), 'hex')), parts: Number(contentId.split('.')[1]), part };
          return fetchReplyCodec.encode({ block });
        });
      },
    });
    await cluster.add({}, { liar });
    // The reader keeps one summary: the liar's, sent last, so informed search goes to the liar first.
    const reader = (await cluster.add({ maxSummaries: 1 })) as unknown as RetrievalNode;
    await cluster.simulation.runFor(2_000);
    await cluster.settle(claimTo!({ id: reader.id, address: reader.address }));
    await cluster.simulation.runFor(10);
    const retrieval = reader.services.retrieval;
    const report = await cluster.settle(retrieval.retrieveWithReport(contentId));
    assert.deepEqual(report.data, data);
    assert.equal(report.liarsReported, 1);
    assert.ok(report.searches >= 2, `${report.searches} searches`);
    assert.equal(retrieval.counters.badBlocks, 1);
    // The liar is distrusted: a second retrieval does not fetch from it again.
    assert.deepEqual(await cluster.settle(retrieval.retrieve(contentId, { strategy: 'bfs' })), data);
    assert.equal(retrieval.counters.badBlocks, 1);
  });
});
