import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noChurn, type ChurnPlan } from '../src/testbed/churn.js';
import type { Params } from '../src/testbed/experiment.js';
import { retrievalExperiment } from '../src/testbed/experiments/retrieval.js';
import { runExperiment } from '../src/testbed/runner.js';

/** 30 simulated nodes, 20 items, 10 informed queries, the experiment's other defaults. */
function informedParams(seed: number, churn: ChurnPlan): Params {
  const params: Params = {
    nodes: 30,
    runtime: 'sim',
    seed,
    repeat: 1,
    joinIntervalMs: 20,
    warmupSeconds: 10,
    churn,
    recoverySeconds: 2,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 1,
  };
  for (const option of retrievalExperiment.options) params[option.key] = option.defaultValue;
  return Object.assign(params, { items: 20, queries: 10, strategies: ['informed'] });
}

describe('the retrieval experiment', () => {
  it('on a settled simulated network: informed finds every item, and storage sends no offer while the queries run', { timeout: 120_000 }, async () => {
    const [informed] = (await runExperiment(retrievalExperiment, informedParams(1, noChurn))).results.cases;
    assert.ok(informed);
    assert.equal(informed.figures.foundPercent?.mean, 100);
    assert.ok((informed.figures.messagesPerQueryMean?.mean ?? Infinity) <= 10);
    // The figure that tells a result taken inside a recruitment storm (docs/BENCHMARKS.md, "retrieval") from a calm one.
    assert.equal(informed.figures.storageOffersPerNodePerSecond?.mean, 0);
  });

  it('with churn, the queries run during it, not after recovery', { timeout: 120_000 }, async () => {
    const churn: ChurnPlan = { chance: 1 / 50, churnSeconds: 5, gracefulFraction: 0, crash: 'machine', replace: true };
    const [informed] = (await runExperiment(retrievalExperiment, informedParams(2, churn))).results.cases;
    assert.ok(informed);
    assert.equal(informed.figures.queries?.mean, 10);
    const queriesIn = (phase: 'churn' | 'measurement') =>
      Object.entries(informed.traffic[phase]?.byLabel ?? {})
        .filter(([label]) => label.endsWith(':retrieval/query'))
        .reduce((sum, [, count]) => sum + count.messages, 0);
    assert.ok(queriesIn('churn') > 0);
    assert.equal(queriesIn('measurement'), 0);
  });
});
