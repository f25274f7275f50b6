import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BootstrapSchedule } from '../src/hosts/bootstrap.js';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { SeededRandom, Simulation } from '../src/runtime/sim/index.js';
import { freeLoopbackPort, within } from './support/world.js';

const seedAddress = { host: 'seed.sim', port: 10_000 };

describe('bootstrap schedule', () => {
  it('tries at once, then backs off by doubling (±25 %) up to the cap while no host is known', () => {
    const schedule = new BootstrapSchedule([seedAddress], [seedAddress], new SeededRandom(1), 1_000, 8_000, 0);
    assert.deepEqual(schedule.due(0), [seedAddress]);
    assert.deepEqual(schedule.due(1), [], 'not again before the next deadline');
    let now = 0;
    const gaps: number[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const next = schedule.nextDeadline();
      gaps.push(next - now);
      now = next;
      assert.equal(schedule.due(now).length, 1);
    }
    for (const [index, base] of [1_000, 2_000, 4_000, 8_000, 8_000, 8_000].entries()) {
      assert.ok(gaps[index]! >= base * 0.75 && gaps[index]! <= base * 1.25, `gap ${index}: ${gaps[index]} around ${base}`);
    }
  });

  it('stops once the address answered and a host is known, and tries again at once, from the first delay, when the list empties', () => {
    const schedule = new BootstrapSchedule([seedAddress], [seedAddress], new SeededRandom(2), 1_000, 60_000, 0);
    schedule.due(0);
    schedule.due(schedule.nextDeadline());
    schedule.answered(seedAddress);
    schedule.listChanged(5_000, true);
    assert.equal(schedule.nextDeadline(), Infinity);
    schedule.listChanged(9_000, false);
    assert.equal(schedule.nextDeadline(), 9_000);
    schedule.due(9_000);
    const gap = schedule.nextDeadline() - 9_000;
    assert.ok(gap >= 750 && gap <= 1_250, `backoff restarted: ${gap}`);
  });

  it('while hosts are known, keeps retrying only the addresses that never answered, with the same backoff', () => {
    const other = { host: 'other.sim', port: 10_000 };
    const schedule = new BootstrapSchedule([seedAddress, other], [seedAddress, other], new SeededRandom(6), 1_000, 8_000, 0);
    assert.deepEqual(schedule.due(0), [seedAddress, other]);
    schedule.answered(seedAddress);
    schedule.listChanged(100, true);
    const retryAt = schedule.nextDeadline();
    assert.ok(retryAt >= 750 && retryAt <= 1_250, `the silent address is retried on the backoff: ${retryAt}`);
    assert.deepEqual(schedule.due(retryAt), [other], 'only the address that never answered');
    const later = schedule.nextDeadline() - retryAt;
    assert.ok(later >= 1_500 && later <= 2_500, `and backs off: ${later}`);
    schedule.answered(other);
    assert.equal(schedule.nextDeadline(), Infinity, 'every address answered: nothing more while hosts are known');
    schedule.listChanged(30_000, false);
    assert.deepEqual(schedule.due(30_000), [seedAddress, other], 'an empty list tries them all again at once');
  });

  it('tries hosts restored from disk only while no host is known', () => {
    const restored = { host: 'restored.sim', port: 10_000 };
    const schedule = new BootstrapSchedule([restored, seedAddress], [seedAddress], new SeededRandom(8), 1_000, 8_000, 0);
    assert.deepEqual(schedule.due(0), [restored, seedAddress]);
    schedule.answered(seedAddress);
    schedule.listChanged(100, true);
    assert.equal(schedule.nextDeadline(), Infinity, 'the restored host that never answered is not retried while hosts are known');
  });

  it('has nothing to do without bootstrap addresses', () => {
    const schedule = new BootstrapSchedule([], [], new SeededRandom(3), 1_000, 60_000, 0);
    assert.equal(schedule.nextDeadline(), Infinity);
    assert.deepEqual(schedule.due(0), []);
  });
});

describe('a node whose bootstrap peer comes up late', () => {
  it('joins it once it is up (simulator: the peer appears 20 s after the node)', async () => {
    const simulation = new Simulation({ seed: 4 });
    const lateHost = simulation.createHost({});
    const bootstrap = [{ host: lateHost.hostName, port: 10_000 }];
    const lonely = await createNode({ runtime: simulation.createHost({}), memoryMB: 16, bootstrap, services: {}, discovery: { enabled: false } });
    const spawning = lonely.spawn();
    await simulation.runFor(0);
    await spawning;
    await simulation.runFor(20_000);
    assert.equal(lonely.knownHosts.size, 0);
    const late = await createNode({ runtime: lateHost, port: 10_000, memoryMB: 16, services: {}, discovery: { enabled: false } });
    const lateSpawn = late.spawn();
    await simulation.runFor(0);
    await lateSpawn;
    // Attempts at about 0, 1, 3, 7, 15 and 31 s: the one after the peer came up finds it.
    await simulation.runFor(20_000);
    assert.deepEqual(lonely.knownHosts.list().map((host) => host.id), [late.id]);
  });

  it('joins it once it is up (real TCP on loopback)', { timeout: 30_000 }, async () => {
    const port = await freeLoopbackPort();
    const nodes: ButterNode[] = [];
    try {
      const lonely = await createNode({
        host: '127.0.0.1',
        memoryMB: 16,
        bootstrap: [`127.0.0.1:${port}`],
        services: {},
        discovery: { enabled: false },
        hosts: { bootstrapRetryMs: 100, maxBootstrapRetryMs: 400 },
      });
      nodes.push(lonely);
      await lonely.spawn();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(lonely.knownHosts.size, 0);
      const late = await createNode({ host: '127.0.0.1', port, memoryMB: 16, services: {}, discovery: { enabled: false } });
      nodes.push(late);
      await late.spawn();
      await within(
        (async () => {
          while (lonely.knownHosts.get(late.id) === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
        })(),
        'the late peer in the list',
        5_000,
      );
    } finally {
      await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
    }
  });
});

describe('a node with two bootstrap peers, one of them up late', () => {
  it('meets the late one too, although it already knows the other (simulator)', async () => {
    const simulation = new Simulation({ seed: 7 });
    const settle = async <T>(promise: Promise<T>): Promise<T> => {
      await simulation.runFor(0);
      return promise;
    };
    const quiet = { memoryMB: 16, services: {}, discovery: { enabled: false } } as const;
    const early = await createNode({ ...quiet, runtime: simulation.createHost({}) });
    await settle(early.spawn());
    const lateHost = simulation.createHost({});
    const node = await createNode({ ...quiet, runtime: simulation.createHost({}), bootstrap: [early.address, { host: lateHost.hostName, port: 10_000 }] });
    await settle(node.spawn());
    await simulation.runFor(10_000);
    assert.deepEqual(node.knownHosts.list().map((host) => host.id), [early.id]);
    const late = await createNode({ ...quiet, runtime: lateHost, port: 10_000 });
    await settle(late.spawn());
    await simulation.runFor(40_000);
    assert.ok(node.knownHosts.get(late.id) !== undefined, 'the late bootstrap peer joined the list');
  });
});

describe('known hosts kept in the data directory', () => {
  it('a restarted node tries the hosts it knew first, with neither bootstrap addresses nor multicast', async () => {
    const simulation = new Simulation({ seed: 5 });
    const settle = async <T>(promise: Promise<T>): Promise<T> => {
      await simulation.runFor(0);
      return promise;
    };
    const quiet = { memoryMB: 16, services: {}, discovery: { enabled: false } } as const;
    const peer = await createNode({ ...quiet, runtime: simulation.createHost({}) });
    await settle(peer.spawn());
    const machine = simulation.createHost({});
    const first = await createNode({ ...quiet, runtime: machine, dataDir: '/var/butter', bootstrap: [peer.address] });
    await settle(first.spawn());
    await simulation.runFor(2_000);
    assert.deepEqual(first.knownHosts.list().map((host) => host.id), [peer.id]);

    // The machine crashes and boots again; its disk keeps what the node wrote.
    const rebooted = simulation.restart(machine);
    const again = await createNode({ ...quiet, runtime: rebooted, dataDir: '/var/butter' });
    assert.equal(again.id, first.id);
    await settle(again.spawn());
    await simulation.runFor(2_000);
    assert.deepEqual(again.knownHosts.list().map((host) => host.id), [peer.id], 'the restored host is back in the list');
  });
});
