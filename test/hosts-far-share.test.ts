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

describe('far share', () => {
  it('keeps small LANs one component through churn, with links out of each LAN', { timeout: 60_000 }, async () => {
    let nodesWithFarHosts = 0;
    let nodeCount = 0;
    const counting: Experiment = {
      ...discoveryExperiment,
      async measure(network, runParams) {
        const nodes: ButterNode[] = network.nodes;
        nodeCount = nodes.length;
        nodesWithFarHosts = nodes.filter((node) => node.hosts.report().hosts.some((host) => host.far)).length;
        return discoveryExperiment.measure(network, runParams);
      },
    };
    const report = await runExperiment(counting, params);
    const figures = report.results.cases[0]?.figures;
    // Without the far share the cross-LAN links die with their nodes: 71 % of this network stays together.
    assert.equal(figures?.largestComponent?.mean, 1);
    assert.ok(nodesWithFarHosts >= 0.9 * nodeCount, `${nodesWithFarHosts} of ${nodeCount} nodes hold far hosts`);
    // The shuffles stay cheap: within the budget of the discovery benchmark (≤ 2 messages per node per second).
    assert.ok((figures?.maintenanceMessagesPerNodePerSecond?.mean ?? Infinity) <= 2);
  });
});
