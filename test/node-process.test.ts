import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { onShutdownSignal } from '../src/runtime/real/signals.js';

describe('many real nodes in one process', () => {
  it('200 nodes on loopback raise no warning and add no process listener; one handler leaves them all', { timeout: 120_000 }, async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const signalListeners = () => [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('exit')];
    const before = signalListeners();
    const nodes: ButterNode[] = [];
    try {
      for (let index = 0; index < 200; index += 1) {
        // A chain of bootstraps: every node has a peer, and no multicast storm of 200 lonely pingers.
        const bootstrap = nodes.length > 0 ? [nodes[nodes.length - 1]!.address] : [];
        const node = await createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap, discovery: { enabled: false } });
        await node.spawn();
        nodes.push(node);
      }
      assert.deepEqual(signalListeners(), before, 'nodes install no process listener of their own');
      // Introductions, refreshes, storage announcements: the nodes at work, with their timers and connections.
      for (let waited = 0; waited < 15_000 && !nodes.every((node) => node.knownHosts.size > 0); waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(nodes.every((node) => node.knownHosts.size > 0), 'every node knows a peer');
      const unsubscribe = onShutdownSignal(() => Promise.all(nodes.map((node) => node.stop())).then(() => undefined));
      assert.deepEqual(signalListeners(), [before[0]! + 1, before[1]! + 1, before[2]!], 'one pair for the whole process');
      unsubscribe();
      // Yield once so that any warning emitted on a later tick is seen.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
      process.off('warning', onWarning);
    }
  });
});
