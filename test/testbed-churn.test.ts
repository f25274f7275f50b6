import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../src/errors.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { noChurn, parseChance, pickDeaths } from '../src/testbed/churn.js';
import { largestComponentSize } from '../src/testbed/connectivity.js';

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
