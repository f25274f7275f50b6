import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidConfigError } from '../src/errors.js';
import { createNode } from '../src/node/create.js';
import { DiskError } from '../src/runtime/disk.js';
import { Simulation, type SimRuntime } from '../src/runtime/sim/index.js';
import { blockKeyOf } from '../src/storage/block.js';
import { segmentKeyOf } from '../src/storage/segment.js';
import { storageOf, StorageCluster } from './storage-groups-cluster.js';

const dataDir = '/var/lib/butter';
const storage = { heartbeatIntervalMs: 2_000 };

describe('simulated disk', () => {
  it('belongs to the machine: a node created again on the host finds its identity, kept private', async () => {
    const host = new Simulation({ seed: 4 }).createHost();
    const first = await createNode({ runtime: host, dataDir });
    const again = await createNode({ runtime: host, dataDir });
    assert.equal(again.id, first.id);
    assert.equal(host.disk.fileMode(`${dataDir}/identity.pem`), 0o600);
    assert.notEqual((await createNode({ runtime: host, dataDir: '/elsewhere' })).id, first.id);
    assert.notEqual((await createNode({ runtime: host })).id, first.id, 'without a data directory every node is new, even on one host');
  });

  it('keeps every host its own: another host starts with an empty disk', async () => {
    const simulation = new Simulation({ seed: 4 });
    const first = await createNode({ runtime: simulation.createHost(), dataDir });
    const other = await createNode({ runtime: simulation.createHost(), dataDir });
    assert.notEqual(other.id, first.id);
  });

  it('reports a corrupt identity file as a configuration error, as the real disk does', async () => {
    const host = new Simulation({ seed: 4 }).createHost();
    await host.disk.makeDirectory(dataDir);
    await host.disk.createFile(`${dataDir}/identity.pem`, new TextEncoder().encode('not a key'), { mode: 0o600 });
    await assert.rejects(createNode({ runtime: host, dataDir }), InvalidConfigError);
    await assert.rejects(host.disk.createFile(`${dataDir}/identity.pem`, new Uint8Array(1), { mode: 0o600 }), (error) => {
      assert.ok(error instanceof DiskError);
      assert.equal(error.reason, 'exists');
      return true;
    });
  });

  it('stops taking writes from a crashed host and outlives it: a restarted host has the same disk', async () => {
    const simulation = new Simulation({ seed: 4 });
    const host = simulation.createHost({ name: 'machine.sim' });
    const environment = await host.disk.openKeyValue('/kv');
    environment.database('d').put('before', Uint8Array.of(1));
    const rebooted = simulation.restart(host);
    environment.database('d').put('after', Uint8Array.of(2)); // the dead run's code still holds the handle
    assert.equal(simulation.isAlive(host), false);
    assert.equal(rebooted.hostName, 'machine.sim');
    assert.equal(simulation.getHost('machine.sim'), rebooted);
    const reopened = await rebooted.disk.openKeyValue('/kv');
    assert.deepEqual(
      [...reopened.database('d').entries()].map((entry) => entry.key),
      ['before'],
    );
    assert.throws(() => simulation.restart(host), /already restarted/);
  });
});

describe('simulated node with a data directory', () => {
  /** Six storage nodes, one with a data directory; it stores content, crashes, and its machine is restarted. */
  async function crashAndRestart(seed: number): Promise<{ trace: string; sameId: boolean; blocksBack: boolean; rejoined: boolean }> {
    const cluster = new StorageCluster(seed);
    await cluster.addMany(5, { heartbeatIntervalMs: 2_000 });
    const durable = await cluster.add(storage, { dataDir });
    await cluster.run(500);
    const contentId = await cluster.settle(storageOf(durable).store(new Uint8Array(6_000).fill(seed), { durable: true }));
    const keys = [0, 1].map((part) => blockKeyOf(contentId, part));
    await cluster.run(1_000);
    const rebooted = cluster.simulation.restart(durable.runtime as SimRuntime);
    const restarted = await cluster.add(storage, { dataDir, runtime: rebooted });
    await cluster.run(5_000);
    const groups = storageOf(restarted).groups();
    return {
      trace: cluster.simulation.traceHash(),
      sameId: restarted.id === durable.id,
      blocksBack: keys.every((key) => storageOf(restarted).has(key)),
      // Both blocks are one segment, so one group.
      rejoined: groups.some((group) => group.key === segmentKeyOf(contentId, 0) && group.members.filter((member) => member.status === 'alive').length >= 3),
    };
  }

  it('keeps its id and blocks across a crash and a restart of its machine, and rejoins its groups', async () => {
    const outcome = await crashAndRestart(21);
    assert.deepEqual({ ...outcome, trace: undefined }, { trace: undefined, sameId: true, blocksBack: true, rejoined: true });
  });

  it('replays: the same seed gives the same trace hash, another seed another', async () => {
    const first = await crashAndRestart(22);
    const again = await crashAndRestart(22);
    const other = await crashAndRestart(23);
    assert.equal(again.trace, first.trace);
    assert.notEqual(other.trace, first.trace);
  });
});
