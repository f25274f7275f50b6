import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noChurn } from '../src/testbed/churn.js';
import type { Params } from '../src/testbed/experiment.js';
import { popularityExperiment } from '../src/testbed/experiments/popularity.js';
import { runExperiment } from '../src/testbed/runner.js';

describe('the popularity experiment', () => {
  it('raises the hot item above r while every node reads it, not while one node hammers it; cold items stay at r', { timeout: 300_000 }, async () => {
    const params: Params = {
      nodes: 50,
      runtime: 'sim',
      seed: 7,
      repeat: 1,
      joinIntervalMs: 20,
      warmupSeconds: 100,
      churn: noChurn,
      recoverySeconds: 0,
      subnetSize: 250,
      link: {},
      partition: undefined,
      sampleSeconds: 1,
    };
    for (const option of popularityExperiment.options) params[option.key] = option.defaultValue;
    Object.assign(params, { demandSeconds: 30 });
    const [everyone, oneReader] = (await runExperiment(popularityExperiment, params)).results.cases;
    const figure = (result: typeof everyone, name: string) => result?.figures[name]?.mean;
    assert.equal(figure(everyone, 'foundPercent'), 100);
    assert.ok((figure(everyone, 'hotCopiesPeak') ?? 0) > 3, `peak ${figure(everyone, 'hotCopiesPeak')}`);
    assert.equal(figure(everyone, 'hotCopiesAtEnd'), 3, 'back at r once demand stopped');
    assert.equal(figure(oneReader, 'foundPercent'), 100);
    assert.equal(figure(oneReader, 'hotCopiesPeak'), 3, '300 retrievals from one node raise nothing');
    for (const result of [everyone, oneReader]) {
      assert.equal(figure(result, 'coldCopiesMin'), 3);
      assert.equal(figure(result, 'coldCopiesMax'), 3);
    }
  });
});
