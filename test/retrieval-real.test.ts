import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { RetrieveProgress } from '../src/retrieval/service.js';
import type { RetrievalNode } from './retrieval-cluster.js';

describe('retrieval on real TCP (loopback)', () => {
  const nodes: RetrievalNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  it('1 MiB (256 blocks, 2 segments) stored on one node round-trips byte for byte to another', { timeout: 60_000 }, async () => {
    for (let index = 0; index < 3; index += 1) {
      const bootstrap = nodes.map((earlier) => earlier.address);
      const node = await createNode({ host: '127.0.0.1', memoryMB: 64, bootstrap, discovery: { enabled: false } });
      await node.spawn();
      nodes.push(node);
    }
    await new Promise((resolve) => setTimeout(resolve, 400)); // bootstrap introductions
    const [writer, , reader] = nodes as [RetrievalNode, RetrievalNode, RetrievalNode];
    const data = new Uint8Array(1024 * 1024).map((_, index) => (index * 7919) % 256);
    const contentId = await writer.services.storage.store(data, { replicas: 1 });
    assert.equal(contentId.endsWith('.256'), true);
    assert.equal(reader.services.storage.has(`${contentId}/0`), false);
    const progress: number[] = [];
    const onProgress = (step: RetrieveProgress) => progress.push(step.blocksFetched);
    const report = await reader.services.retrieval.retrieveWithReport(contentId, { strategy: 'bfs', onProgress });
    assert.ok(report.data);
    assert.equal(Buffer.compare(Buffer.from(report.data), Buffer.from(data)), 0);
    assert.equal(report.searches, 2); // one per segment, in parallel
    assert.equal(progress.at(-1), 256);
  });
});
