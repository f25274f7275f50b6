import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupSnapshot } from '../src/storage/membership.js';
import { noChurn } from '../src/testbed/churn.js';
import type { Experiment, Params } from '../src/testbed/experiment.js';
import { churnExperiment } from '../src/testbed/experiments/churn.js';
import { discoveryExperiment } from '../src/testbed/experiments/discovery.js';
import {
  checkInvariants,
  groupsRecoverWithin,
  InvariantViolationError,
  knownHostsWithinCapacity,
  oneLeaderPerView,
  storedBytesWithinAllocation,
  type CheckedNode,
} from '../src/testbed/invariants.js';
import { runExperiment } from '../src/testbed/runner.js';

const id = (letter: string): string => letter.repeat(64);

/** A node as the checkers see it, with a fake storage service holding `groups`. */
function fakeNode(letter: string, options: { groups?: GroupSnapshot[]; knownHosts?: number; usedBytes?: number } = {}): CheckedNode {
  const { groups = [], knownHosts = 3, usedBytes = 100 } = options;
  return {
    id: id(letter),
    knownHosts: { size: knownHosts, capacity: 8 },
    memory: { storageBytes: 1_000 },
    services: { storage: { groups: () => groups, blocks: { usedBytes: () => usedBytes, capacityBytes: 1_000 } } },
  };
}

/** A snapshot of group `key` as one node sees it: `alive` members, led by the highest id unless `leader` says otherwise. */
function snapshot(key: string, alive: string[], leader = [...alive].sort().at(-1) as string, target = 3): GroupSnapshot {
  const members = alive.map((letter) => ({ id: id(letter), incarnation: 1, status: 'alive' as const }));
  const state = alive.length < target ? 'cold' : alive.length === target ? 'goldilocks' : 'hot';
  return { key, state, replicas: target, target, leader: id(leader), members };
}

describe('testbed invariants on broken and healthy states', () => {
  it('finds two nodes that agree on a view and both lead it, and only them', () => {
    // a and c see the same view {a, b, c}; c leads it rightly, a wrongly thinks it leads too.
    const broken = [fakeNode('a', { groups: [snapshot('g', ['a', 'b', 'c'], 'a')] }), fakeNode('c', { groups: [snapshot('g', ['a', 'b', 'c'])] })];
    const violations = oneLeaderPerView.check({ nodes: broken }, 0);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!.detail, /group g: aaaaaaaa, cccccccc all lead/);
    // Different views may each have a leader while they converge.
    const converging = [fakeNode('a', { groups: [snapshot('g', ['a', 'b'])] }), fakeNode('c', { groups: [snapshot('g', ['a', 'b', 'c'])] })];
    assert.deepEqual(oneLeaderPerView.check({ nodes: converging }, 0), []);
  });

  it('fails a run with a typed error naming the seed and the invariant', () => {
    const broken = [fakeNode('a', { groups: [snapshot('g', ['a', 'c'], 'a')] }), fakeNode('c', { groups: [snapshot('g', ['a', 'c'])] })];
    assert.throws(
      () => checkInvariants([knownHostsWithinCapacity, oneLeaderPerView], { nodes: broken }, 12_500, 77),
      (error: unknown) => {
        assert.ok(error instanceof InvariantViolationError);
        assert.equal(error.seed, 77);
        assert.match(error.message, /"at most one leader per agreed view" broken at 12\.5 s with seed 77 \(replay with --seed 77\)/);
        return true;
      },
    );
    assert.doesNotThrow(() => checkInvariants([knownHostsWithinCapacity, oneLeaderPerView], { nodes: [fakeNode('a')] }, 0, 1));
  });

  it('finds a list over capacity and a store over its allocation', () => {
    assert.equal(knownHostsWithinCapacity.check({ nodes: [fakeNode('a', { knownHosts: 9 })] }, 0).length, 1);
    assert.equal(storedBytesWithinAllocation.check({ nodes: [fakeNode('a', { usedBytes: 1_001 })] }, 0).length, 1);
    assert.deepEqual(storedBytesWithinAllocation.check({ nodes: [fakeNode('a', { usedBytes: 1_000 })] }, 0), []);
  });

  it('lets a group be cold during churn and for the bound after, not later', () => {
    const clock = { churnEndedAtMs: undefined as number | undefined };
    const recovered = groupsRecoverWithin(10_000, clock);
    const nodes = [fakeNode('b', { groups: [snapshot('g', ['a', 'b'])] }), fakeNode('c', { groups: [snapshot('h', ['a', 'b', 'c'])] })];
    assert.deepEqual(recovered.check({ nodes }, 50_000), [], 'churn still running');
    clock.churnEndedAtMs = 45_000;
    assert.deepEqual(recovered.check({ nodes }, 54_999), [], 'within the bound');
    const late = recovered.check({ nodes }, 55_000);
    assert.equal(late.length, 1);
    assert.match(late[0]!.detail, /group g led by bbbbbbbb has 2 of 3 members/);
  });

  it('pass on a healthy storage run with churn, and a broken checker fails the run with its seed', { timeout: 120_000 }, async () => {
    const params: Params = {
      nodes: 30,
      runtime: 'sim',
      seed: 3,
      repeat: 1,
      joinIntervalMs: 20,
      warmupSeconds: 5,
      churn: { ...noChurn, chance: 0.02, churnSeconds: 10 },
      recoverySeconds: 15,
      subnetSize: 250,
      link: {},
      partition: undefined,
      sampleSeconds: 1,
      replicas: 3,
      itemBytes: 1024,
      memory: 32,
      heartbeatMs: 2000,
      recoveryBound: 'auto',
    };
    const report = await runExperiment(churnExperiment, params);
    const figures = report.results.cases[0]?.figures;
    assert.ok(figures && (report.results.cases[0]?.deaths.mean ?? 0) > 0, 'nodes died');
    assert.ok(churnExperiment.invariants, 'the storage experiments add their checkers');
    // Copies per item: over the run between 1 and the cap, at the end r for every item kept (recovery is long enough).
    const one = (name: string) => figures[name]?.runs[0] as number;
    assert.ok(one('copiesMean') > 1 && one('copiesMean') <= 16, `copies mean ${one('copiesMean')}`);
    assert.equal(one('copiesP99AtEnd'), 3);
    assert.ok(one('itemsLostAtOnce') <= one('itemsLost'));
    // Survivors counted both ways: here retrieval from a random live node finds every item the exhaustive walk finds.
    assert.equal(one('itemsMissedByRetrieval'), 0);
    assert.equal(one('itemsLostByRetrieval'), one('itemsLost'));

    const alwaysBroken: Experiment = {
      ...discoveryExperiment,
      invariants: () => [{ name: 'never holds', check: (_network, nowMs) => (nowMs > 1_000 ? [{ invariant: 'never holds', detail: 'on purpose' }] : []) }],
    };
    await assert.rejects(runExperiment(alwaysBroken, { ...params, nodes: 5, seed: 9, churn: noChurn, memory: 64 }), (error: unknown) => {
      assert.ok(error instanceof InvariantViolationError);
      assert.match(error.message, /"never holds" broken at .* with seed 9/);
      return true;
    });
  });
});
