/**
 * Discovery and known-host maintenance at scale, on the simulated runtime,
 * through the testbed's `discovery` experiment: N nodes join 10 ms apart in
 * LANs of 250 (multicast inside a LAN, one bootstrap address into an earlier
 * LAN for each LAN's first node), then 30 s of warm-up and 10 s of recovery.
 *
 *   node dist/bench/discovery.js [--sizes 100,1000,10000] [--seed 1]
 */
import { noChurn } from '../src/testbed/churn.js';
import type { Params } from '../src/testbed/experiment.js';
import { discoveryExperiment } from '../src/testbed/experiments/discovery.js';
import { runExperiment } from '../src/testbed/runner.js';
import { numberOption, report, round, type BenchmarkResult } from './common.js';

const args = process.argv.slice(2);
const sizesIndex = args.indexOf('--sizes');
const sizes = (sizesIndex >= 0 ? String(args[sizesIndex + 1]) : '100,1000,10000').split(',').map(Number);
if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--sizes needs positive integers, e.g. 100,1000');
const seed = numberOption(args, 'seed', 1);
const targetSeconds = 10;
const targetMessagesPerNodePerSecond = 2;

function params(nodes: number): Params {
  return {
    nodes,
    runtime: 'sim',
    seed,
    repeat: 1,
    joinIntervalMs: 10,
    warmupSeconds: 30,
    churn: noChurn,
    recoverySeconds: 10,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 1,
    memory: 64,
  };
}

const rows: BenchmarkResult['rows'] = [];
const runs: Array<Record<string, unknown>> = [];
for (const nodes of sizes) {
  const startedAt = performance.now();
  const outcome = await runExperiment(discoveryExperiment, params(nodes));
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const result = outcome.results.cases[0];
  if (!result) throw new Error('the discovery experiment returned no result');
  const figure = (name: string): number => result.figures[name]?.mean ?? NaN;
  const run = {
    nodes,
    secondsToOneComponentAfterLastJoin: figure('secondsToOneComponent'),
    largestComponentAtEnd: figure('largestComponent'),
    maintenanceMessagesPerNodePerSecond: round(figure('maintenanceMessagesPerNodePerSecond'), 3),
    joinPhaseMessagesPerNodePerSecond: result.traffic.join?.messagesPerNodePerSecond ?? NaN,
    knownHosts: { min: figure('knownHostsMin'), p50: figure('knownHostsP50'), max: figure('knownHostsMax') },
    classStandardDeviation: { mean: round(figure('classSdMean'), 3), p50: round(figure('classSdP50'), 3), p90: round(figure('classSdP90'), 3) },
    trafficAfterJoin: { warmUp: result.traffic['warm-up']?.byLabel, recovery: result.traffic.recovery?.byLabel },
    wallSeconds: round(wallSeconds, 1),
  };
  runs.push(run);
  rows.push({
    nodes: String(nodes),
    's to 99 % one component': String(run.secondsToOneComponentAfterLastJoin),
    'largest component': `${round(run.largestComponentAtEnd * 100, 1)} %`,
    'maintenance msg/node/s': String(run.maintenanceMessagesPerNodePerSecond),
    'join msg/node/s': String(run.joinPhaseMessagesPerNodePerSecond),
    'list size min/p50/max': `${run.knownHosts.min}/${run.knownHosts.p50}/${run.knownHosts.max}`,
    'class S.D. mean/p50/p90': `${run.classStandardDeviation.mean}/${run.classStandardDeviation.p50}/${run.classStandardDeviation.p90}`,
    'wall s': String(run.wallSeconds),
  });
  console.log(`discovery: ${nodes} nodes done in ${round(wallSeconds, 1)} s`);
}

const largest = runs[runs.length - 1] as { nodes: number; secondsToOneComponentAfterLastJoin: number };
const worstMaintenance = Math.max(...runs.map((run) => run.maintenanceMessagesPerNodePerSecond as number));
await report({
  name: 'discovery',
  rows,
  targets: [
    {
      name: `${largest.nodes} nodes one component (99 %) after the last join`,
      target: `≤ ${targetSeconds} simulated s`,
      actual: `${largest.secondsToOneComponentAfterLastJoin} s`,
      met: largest.secondsToOneComponentAfterLastJoin <= targetSeconds,
    },
    {
      name: 'maintenance messages per node per second (worst size)',
      target: `≤ ${targetMessagesPerNodePerSecond}`,
      actual: String(worstMaintenance),
      met: worstMaintenance <= targetMessagesPerNodePerSecond,
    },
  ],
  metrics: { seed, joinIntervalMs: 10, lanSize: 250, memoryMB: 64, warmupSeconds: 30, recoverySeconds: 10, runs },
});
