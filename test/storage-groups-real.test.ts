import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { blockKeyOf } from '../src/storage/block.js';
import { storageOverlay, type StorageOverlay } from '../src/storage/overlay.js';

describe('storage groups on real TCP (loopback)', () => {
  const nodes: ButterNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
    await Promise.all(nodes.map((node) => (node.overlay as StorageOverlay).whenClosed()));
  });

  it('stores durably on two of three nodes and the third finds and verifies the content', { timeout: 30_000 }, async () => {
    for (let index = 0; index < 3; index += 1) {
      const node = await createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap: nodes.map((earlier) => earlier.address) });
      await node.spawn(storageOverlay({ heartbeatIntervalMs: 200 }));
      nodes.push(node);
    }
    await new Promise((resolve) => setTimeout(resolve, 400)); // introductions and announcements
    const [writer] = nodes as [ButterNode];
    const data = new Uint8Array(10_000).map((_, index) => index % 251);
    const contentId = await (writer.overlay as StorageOverlay).store(data, { keywords: ['real'], replicas: 2, durable: true });
    const holders = nodes.filter((node) => (node.overlay as StorageOverlay).has(blockKeyOf(contentId, 0)));
    assert.equal(holders.length, 2);
    const reader = nodes.find((node) => !holders.includes(node)) ?? (nodes[2] as ButterNode);
    assert.deepEqual(await (reader.overlay as StorageOverlay).findContent(contentId), data);
  });
});
