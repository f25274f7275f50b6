import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionClosedError, PeerUnreachableError } from '../src/errors.js';
import type { Service, ServiceComponents } from '../src/node/service.js';
import { blockKeyOf } from '../src/storage/block.js';
import { storage } from '../src/storage/service.js';
import { bytes, inWorld, realWorld, simWorld, text } from './support/world.js';

const testTimeout = { timeout: 30_000 };

/** A service that records its lifecycle and serves `greet` while it runs. */
function recordingService(calls: string[], failStarts = 0) {
  let starts = 0;
  return (components: ServiceComponents) => {
    const service = {
      components,
      start() {
        calls.push('start');
        components.route('greet', (payload) => bytes(`hello ${text(payload)}`));
        starts += 1;
        if (starts <= failStarts) throw new Error('start failed on purpose');
      },
      leave: () => void calls.push('leave'),
      stop: () => void calls.push('stop'),
      availableStorageBytes: () => 12_345,
    } satisfies Service & { components: ServiceComponents };
    return service;
  };
}


for (const [name, factory] of [
  ['real TCP', realWorld],
  ['the simulator', simWorld],
] as const) {
  describe(`services on ${name}`, () => {
    it(
      'start at spawn, leave then stop at stop, and announce their free storage',
      testTimeout,
      inWorld(factory, async (world) => {
        const calls: string[] = [];
        const node = await world.createNode({ services: { greeter: recordingService(calls) } });
        assert.deepEqual(calls, [], 'nothing runs before spawn');
        await world.settle(node.spawn());
        await world.settle(node.spawn());
        assert.deepEqual(calls, ['start']);
        assert.equal(node.quality().availableStorageBytes, 12_345);
        const client = await world.createNode();
        await world.settle(client.spawn());
        assert.equal(text(await world.settle(client.request(node.address, 'greet', bytes('you')))), 'hello you');
        await world.settle(node.stop());
        await world.settle(node.stop());
        assert.deepEqual(calls, ['start', 'leave', 'stop']);
      }),
    );

    it(
      'a failed spawn rolls back completely (listener closed, routes gone, not running) and can be retried',
      testTimeout,
      inWorld(factory, async (world) => {
        const calls: string[] = [];
        const { port } = await world.silentAddress();
        const node = await world.createNode({ port: world.kind === 'real' ? port : 0, services: { greeter: recordingService(calls, 1) } });
        await assert.rejects(world.settle(node.spawn()), /start failed on purpose/);
        assert.equal(node.isRunning, false);
        assert.deepEqual(calls, ['start', 'stop'], 'the started service is stopped again');
        const client = await world.createNode();
        await world.settle(client.spawn());
        await world.settle(node.spawn());
        assert.ok(node.isRunning, 'a second spawn succeeds: the port and the routes were released');
        assert.deepEqual(calls, ['start', 'stop', 'start']);
        assert.equal(text(await world.settle(client.request(node.address, 'greet', bytes('again')))), 'hello again');
        await world.settle(node.stop());
        await assert.rejects(world.settle(client.request(node.address, 'greet', bytes('gone'))), (error: unknown) => {
          assert.ok(error instanceof PeerUnreachableError || error instanceof ConnectionClosedError, String(error));
          return true;
        });
      }),
    );
  });
}

describe('service components', () => {
  it('are a narrow view of the node, not the node', async () => {
    const world = simWorld(3);
    try {
      let seen: ServiceComponents | undefined;
      await world.createNode({ services: { probe: (components: ServiceComponents) => ((seen = components), {}) } });
      assert.deepEqual(Object.keys(seen ?? {}).sort(), [
        'dataDir', 'disconnectIfSilent', 'isRunning', 'knownHosts', 'listenAddress', 'logger', 'memory', 'nodeId', 'notify', 'onConnectionClosedByPeer', 'onPeerFailure', 'random', 'reachability', 'request', 'route', 'runtime', 'service', 'signer',
      ]);
    } finally {
      await world.close();
    }
  });

  it('the storage service starts and stops safely twice and can start again', async () => {
    const world = simWorld(4);
    try {
      const node = await world.createNode({ services: { storage: storage() } });
      await world.settle(node.spawn());
      const service = node.services.storage;
      await world.settle(service.start());
      const contentId = await world.settle(service.store(bytes('kept')));
      assert.ok(service.has(blockKeyOf(contentId, 0)));
      await world.settle(Promise.all([service.stop(), service.stop()]));
      assert.deepEqual(service.groups(), []);
      await world.settle(node.stop());
    } finally {
      await world.close();
    }
  });
});
