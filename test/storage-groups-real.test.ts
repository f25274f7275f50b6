import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { blockKeyOf } from '../src/storage/block.js';
import { startRealStorageNodes, type StorageNode } from './storage-groups-cluster.js';

describe('storage groups on real TCP (loopback)', () => {
  const nodes: StorageNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  it('stores durably on two of three nodes and the third finds and verifies the content', { timeout: 30_000 }, async () => {
    await startRealStorageNodes(nodes, 3);
    const [writer] = nodes as [StorageNode];
    const data = new Uint8Array(10_000).map((_, index) => index % 251);
    const contentId = await writer.services.storage.store(data, { keywords: ['real'], replicas: 2, durable: true });
    const holders = nodes.filter((node) => node.services.storage.has(blockKeyOf(contentId, 0)));
    assert.equal(holders.length, 2);
    const reader = nodes.find((node) => !holders.includes(node)) ?? (nodes[2] as StorageNode);
    assert.deepEqual(await reader.services.storage.findContent(contentId), data);
  });
});
