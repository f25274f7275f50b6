import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError } from '../src/errors.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { noChurn, parseChance, pickDeaths } from '../src/testbed/churn.js';
import { KnownHostGraph, largestComponentSize, type GraphNode } from '../src/testbed/connectivity.js';

describe('churn model', () => {
  it('parses chances as decimals, fractions and percentages', () => {
    assert.equal(parseChance('0.02'), 0.02);
    assert.equal(parseChance('1/50'), 0.02);
    assert.equal(parseChance('2%'), 0.02);
    assert.equal(parseChance('1 / 1000'), 0.001);
    for (const bad of ['', 'x', '1/0', '-0.1', '1.5', '3/2', 'NaN']) {
      assert.throws(() => parseChance(bad), InvalidArgumentError, bad);
    }
  });

  it('kills N × chance × T nodes on average over a long seeded run', () => {
    const random = new SeededRandom(7);
    const population = Array.from({ length: 1000 }, (_, index) => index);
    const plan = { ...noChurn, chance: 1 / 50, churnSeconds: 200 };
    let deaths = 0;
    for (let second = 0; second < plan.churnSeconds; second += 1) deaths += pickDeaths(population, plan, () => random.float()).length;
    const expected = population.length * plan.chance * plan.churnSeconds; // 4,000
    const standardDeviation = Math.sqrt(expected * (1 - plan.chance));
    assert.ok(Math.abs(deaths - expected) < 4 * standardDeviation, `observed ${deaths} deaths, expected ${expected} ± ${4 * standardDeviation}`);
  });

  it('splits deaths into crashes and graceful leaves by the configured share', () => {
    const random = new SeededRandom(3);
    const population = Array.from({ length: 2000 }, (_, index) => index);
    const deaths = pickDeaths(population, { ...noChurn, chance: 0.5, gracefulFraction: 0.25 }, () => random.float());
    const leaves = deaths.filter((death) => death.kind === 'leave').length;
    assert.ok(Math.abs(leaves / deaths.length - 0.25) < 0.05, `${leaves} leaves of ${deaths.length}`);
  });

  it('kills no one without churn', () => {
    assert.deepEqual(pickDeaths([1, 2, 3], noChurn, () => 0), []);
  });
});

describe('connectivity', () => {
  it('finds the largest component of the undirected known-host graph, ignoring dead hosts', () => {
    const graph: Record<string, string[]> = { a: ['b'], b: [], c: ['b', 'dead'], d: ['e'], e: [], f: [] };
    assert.equal(largestComponentSize(Object.keys(graph), (id) => graph[id] ?? []), 3);
    assert.equal(largestComponentSize([], () => []), 0);
  });
});

/** A node of the graph test: a list of ids that tells its listeners when it changes, as KnownHosts does. */
class FakeNode implements GraphNode {
  private ids: string[] = [];
  private readonly listeners = new Set<() => void>();
  readonly knownHosts = {
    list: () => this.ids.map((id) => ({ id })),
    onChange: (listener: () => void) => {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    },
  };

  constructor(readonly id: string) {}

  setList(ids: string[]): void {
    this.ids = ids;
    for (const listener of this.listeners) listener();
  }

  get listed(): string[] {
    return this.ids;
  }
}

describe('known-host graph kept between samples', () => {
  it('agrees with a fresh computation while nodes join, die and change their lists', () => {
    // Each step: 0 adds a node listing earlier ids (some dead, some not yet created), 1 kills one, 2 rewrites one's list,
    // 3 reverses the population's order (the graph must not depend on it).
    const step = fc.tuple(fc.nat(3), fc.nat(1000), fc.array(fc.nat(1000), { maxLength: 4 }), fc.boolean());
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const graph = new KnownHostGraph();
        const live: FakeNode[] = [];
        let created = 0;
        const idFor = (pick: number) => `n${pick % (created + 2)}`; // may name a node created later, or a dead one
        for (const [kind, pick, links, sample] of steps) {
          if (kind === 0 || live.length === 0) {
            const node = new FakeNode(`n${created++}`);
            node.setList(links.map(idFor));
            live.push(node);
          } else if (kind === 1) {
            live.splice(pick % live.length, 1);
          } else if (kind === 2) {
            (live[pick % live.length] as FakeNode).setList(links.map(idFor));
          } else {
            live.reverse();
          }
          if (!sample) continue;
          const byId = new Map(live.map((node) => [node.id, node]));
          const expected = live.length === 0 ? 0 : largestComponentSize([...byId.keys()], (id) => byId.get(id)?.listed ?? []) / live.length;
          const meanListSize = live.length === 0 ? 0 : live.reduce((sum, node) => sum + node.listed.length, 0) / live.length;
          assert.deepEqual(graph.sample(live), { largestComponent: expected, meanListSize });
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
