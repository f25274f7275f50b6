import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { noChurn } from '../src/testbed/churn.js';
import type { ButterNode } from '../src/node/node.js';
import type { Experiment, Params } from '../src/testbed/experiment.js';
import { discoveryExperiment } from '../src/testbed/experiments/discovery.js';
import { runExperiment, type PhaseTraffic } from '../src/testbed/runner.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = promisify(execFile);

function params(overrides: Partial<Params> = {}): Params {
  return {
    nodes: 40,
    runtime: 'sim',
    seed: 1,
    repeat: 1,
    joinIntervalMs: 20,
    warmupSeconds: 5,
    churn: { ...noChurn, chance: 1 / 20, churnSeconds: 5 },
    recoverySeconds: 2,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 1,
    memory: 32,
    ...overrides,
  };
}

describe('testbed runner', () => {
  it('gives identical JSON results for the same seed and different ones for another seed', { timeout: 60_000 }, async () => {
    const first = JSON.stringify(await runExperiment(discoveryExperiment, params()));
    const again = JSON.stringify(await runExperiment(discoveryExperiment, params()));
    const other = JSON.stringify(await runExperiment(discoveryExperiment, params({ seed: 2 })));
    assert.equal(again, first);
    assert.notEqual(other, first);
  });

  it('replaces every dead node so the population stays constant, and accounts each phase', { timeout: 60_000 }, async () => {
    // Small LANs: their first nodes bootstrap into earlier ones, so there is traffic to account.
    const report = await runExperiment(discoveryExperiment, params({ subnetSize: 5, churn: { ...noChurn, chance: 0.2, churnSeconds: 5 } }));
    const [result] = report.results.cases;
    assert.ok(result);
    assert.ok(result.deaths.mean > 10, `only ${result.deaths.mean} deaths at chance 0.2 × 40 nodes × 5 s`);
    const churnSamples = result.series.filter((point) => point.phase === 'churn');
    assert.ok(churnSamples.length >= 4);
    for (const phase of ['join', 'warm-up', 'churn', 'recovery', 'measurement'] as const) {
      const traffic: PhaseTraffic | undefined = result.traffic[phase];
      assert.ok(traffic, phase);
      // Dead nodes' traffic is kept once, whether counted in total or by label.
      const labelled: number = Object.values(traffic.byLabel).reduce((sum: number, entry): number => sum + entry.messages, 0);
      assert.equal(labelled, traffic.messages, `${phase}: labels add up to the total`);
    }
    assert.ok((result.traffic.join?.messages ?? 0) > 0, 'bootstraps sent messages');
    assert.equal(result.traffic.churn?.seconds, 5);
  });

  it('reports mean and spread over repeated seeds', { timeout: 60_000 }, async () => {
    const report = await runExperiment(discoveryExperiment, params({ repeat: 3, churn: { ...noChurn, chance: 0.1, churnSeconds: 3 } }));
    const deaths = report.results.cases[0]?.deaths;
    assert.ok(deaths);
    assert.equal(deaths.runs.length, 3);
    assert.ok(deaths.min <= deaths.mean && deaths.mean <= deaths.max);
  });

  it('lets an experiment add a measuring node and await a long operation on virtual time', { timeout: 60_000 }, async () => {
    const answerDelayMs = 90_000; // longer than settle's default bound
    const megabyte = 1024 * 1024;
    const slowAnswers: Experiment = {
      name: 'slow-answers',
      description: 'a fresh node asks a route that answers after 90 simulated seconds',
      options: [],
      nodeOptions: () => ({ memoryMB: 32 }),
      async setupNode(node) {
        node.route('slow', () => new Promise<Uint8Array>((resolve) => node.runtime.setTimer(answerDelayMs, () => resolve(new Uint8Array(1)))));
        await node.spawn();
      },
      async measure(network) {
        const target = network.nodes[0] as ButterNode;
        const probe = await network.addNode({ memoryMB: 16 });
        await assert.rejects(network.settle(probe.request(target.address, 'slow', new Uint8Array(1), { timeoutMs: 200_000 }), 1_000), /did not settle/);
        const startedMs = network.now();
        await network.settle(probe.request(target.address, 'slow', new Uint8Array(1), { timeoutMs: 200_000 }), 200_000);
        return { answerSeconds: (network.now() - startedMs) / 1000, probeMemoryMB: probe.memory.totalBytes / megabyte };
      },
    };
    const report = await runExperiment(slowAnswers, params({ nodes: 5, churn: noChurn, warmupSeconds: 1, recoverySeconds: 1 }));
    const result = report.results.cases[0];
    assert.ok(result);
    const answerSeconds = result.figures.answerSeconds?.mean ?? NaN;
    // The answer plus a few simulated round trips: the clock stops where the operation finished.
    assert.ok(answerSeconds >= 90 && answerSeconds < 90.1, `answered after ${answerSeconds} s`);
    assert.equal(result.figures.probeMemoryMB?.mean, 16);
    assert.equal(result.traffic.measurement?.byLabel['request:slow']?.messages, 2);
  });

  it('rejects partitions on real sockets', async () => {
    await assert.rejects(
      runExperiment(discoveryExperiment, params({ runtime: 'real', partition: { fraction: 0.5, startSeconds: 1, durationSeconds: 1 } })),
      /simulated runtime/,
    );
  });
});

describe('butter testbed command', () => {
  it('prints exactly one JSON object {experiment, params, results} with --json', { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, [cli, 'testbed', 'discovery', '--nodes', '20', '--warmup', '2', '--recovery', '1', '--json'], {
      timeout: 50_000,
    });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, `stdout has ${lines.length} lines`);
    const report = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report), ['experiment', 'params', 'results']);
    assert.equal(report.experiment, 'discovery');
    assert.equal((report.params as Params).nodes, 20);
  });

  it('runs a small network on real sockets', { timeout: 60_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      [cli, 'testbed', 'discovery', '--runtime', 'real', '--nodes', '20', '--warmup', '2', '--recovery', '1', '--json'],
      { timeout: 50_000 },
    );
    const report = JSON.parse(stdout) as { params: Params; results: { cases: Array<{ traffic: Record<string, unknown> }> } };
    assert.equal(report.params.runtime, 'real');
    assert.ok(report.results.cases[0]?.traffic['warm-up']);
  });

  it('refuses bad options with a clear message', async () => {
    await assert.rejects(run(process.execPath, [cli, 'testbed', 'discovery', '--chance', '2']), /chance must be a probability/);
    await assert.rejects(run(process.execPath, [cli, 'testbed', 'nonsense']), /unknown command|nonsense/);
  });
});
