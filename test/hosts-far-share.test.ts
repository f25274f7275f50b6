import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noChurn } from '../src/testbed/churn.js';
import type { ButterNode } from '../src/node/node.js';
import type { Experiment, Params } from '../src/testbed/experiment.js';
import { discoveryExperiment } from '../src/testbed/experiments/discovery.js';
import { runExperiment } from '../src/testbed/runner.js';

/** Ten LANs of 15 nodes, each linked to the others only by its first node's bootstrap; half the nodes die and are replaced. */
const params: Params = {
  nodes: 150,
  runtime: 'sim',
  seed: 3,
  repeat: 1,
  joinIntervalMs: 10,
  warmupSeconds: 10,
  churn: { ...noChurn, chance: 1 / 200, churnSeconds: 100 },
  recoverySeconds: 10,
  subnetSize: 15,
  link: {},
  partition: undefined,
  sampleSeconds: 1,
  memory: 64,
};

interface Outcome {
  largestComponent: number;
  farHostShare: number;
  maintenance: number;
}

/** One seeded run of the discovery experiment, with or without the far share. */
async function runWith(farShare: number | undefined, seed: number): Promise<Outcome> {
  let farHostShare = 0;
  const experiment: Experiment = {
    ...discoveryExperiment,
    nodeOptions(index, runParams, network) {
      const options = discoveryExperiment.nodeOptions(index, runParams, network);
      return farShare === undefined ? options : { ...options, hosts: { ...options.hosts, farShare } };
    },
    async measure(network, runParams) {
      const nodes: ButterNode[] = network.nodes;
      farHostShare = nodes.filter((node) => node.hosts.report().hosts.some((host) => host.far)).length / nodes.length;
      return discoveryExperiment.measure(network, runParams);
    },
  };
  const figures = (await runExperiment(experiment, { ...params, seed })).results.cases[0]?.figures;
  return {
    largestComponent: figures?.largestComponent?.mean ?? NaN,
    farHostShare,
    maintenance: figures?.maintenanceMessagesPerNodePerSecond?.mean ?? Infinity,
  };
}

describe('far share', () => {
  it('keeps small LANs linked through churn far better than LAN-only lists', { timeout: 120_000 }, async () => {
    const seeds = [1, 2, 3, 4];
    const withFarShare: Outcome[] = [];
    const withoutFarShare: Outcome[] = [];
    for (const seed of seeds) {
      withFarShare.push(await runWith(undefined, seed));
      withoutFarShare.push(await runWith(0, seed));
    }
    const mean = (outcomes: Outcome[]) => outcomes.reduce((sum, outcome) => sum + outcome.largestComponent, 0) / outcomes.length;
    const summary = `largest component with far share ${withFarShare.map((o) => o.largestComponent.toFixed(2))}, without ${withoutFarShare.map((o) => o.largestComponent.toFixed(2))}`;
    assert.ok(mean(withFarShare) >= 0.95, summary);
    assert.ok(mean(withFarShare) > mean(withoutFarShare) + 0.1, summary);
    for (const outcome of withFarShare) {
      assert.ok(outcome.farHostShare >= 0.9, `only ${(outcome.farHostShare * 100).toFixed(0)} % of nodes hold far hosts`);
      // The shuffles stay cheap: within the budget of the discovery benchmark (≤ 2 messages per node per second).
      assert.ok(outcome.maintenance <= 2, `maintenance ${outcome.maintenance} messages per node per second`);
    }
  });
});
