/**
 * Scale of the testbed: the `discovery` experiment with churn at 1/1000 per node
 * per second for 600 simulated seconds, at 1,000, 3,000 and 10,000 nodes, each
 * run in a fresh child process so that its peak memory is its own. Records wall
 * time, CPU time, peak RSS and heap, events processed and simulated seconds per
 * wall-clock second. Target (issue 4): 10,000 nodes in under 5 minutes of wall
 * time and under 8 GiB. Children get the heap flags `butter testbed` runs with.
 *
 *   node dist/bench/testbed-scale.js [--nodes 1000,3000,10000] [--churn-seconds 600] [--seed 1]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testbedHeapFlags } from '../src/cli/testbed-heap.js';
import { noChurn } from '../src/testbed/churn.js';
import type { Params } from '../src/testbed/experiment.js';
import { discoveryExperiment } from '../src/testbed/experiments/discovery.js';
import { runExperiment } from '../src/testbed/runner.js';
import { bytesPerMebibyte, numberOption, report, round } from './common.js';

const targetNodes = 10_000;
const targetWallSeconds = 300;
const targetRssBytes = 8 * 1024 * bytesPerMebibyte;
const chance = 1 / 1000;

interface ScaleRun {
  nodes: number;
  simulatedSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  peakHeapBytes: number;
  eventsProcessed: number;
  simulatedSecondsPerWallSecond: number;
  deaths: number;
  churnMessagesPerNodePerSecond: number;
  largestComponent: number;
}

const args = process.argv.slice(2);
const churnSeconds = numberOption(args, 'churn-seconds', 600);
const seed = numberOption(args, 'seed', 1);
const oneIndex = args.indexOf('--one');

if (oneIndex >= 0) {
  // Child: one network size, measured from inside this process.
  const run = await measureOne(Number(args[oneIndex + 1]));
  await new Promise<void>((resolve, reject) => process.send?.(run, undefined, {}, (error) => (error ? reject(error) : resolve())));
} else {
  const sizesIndex = args.indexOf('--nodes');
  const sizes = sizesIndex >= 0 ? (args[sizesIndex + 1] ?? '').split(',').map(Number) : [1_000, 3_000, targetNodes];
  if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--nodes needs sizes like 1000,3000,10000');
  const runs: ScaleRun[] = [];
  for (const size of sizes) {
    console.error(`testbed-scale: ${size} nodes…`);
    runs.push(await inChild(size));
  }
  const target = runs.find((run) => run.nodes === targetNodes);
  const gibibytes = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  await report({
    name: 'testbed-scale',
    rows: runs.map((run) => ({
      nodes: String(run.nodes),
      'simulated s': String(round(run.simulatedSeconds)),
      'wall s': run.wallSeconds.toFixed(1),
      'CPU s': run.cpuSeconds.toFixed(1),
      'peak RSS': gibibytes(run.peakRssBytes),
      'peak heap': gibibytes(run.peakHeapBytes),
      events: String(run.eventsProcessed),
      'sim s / wall s': run.simulatedSecondsPerWallSecond.toFixed(1),
      deaths: String(run.deaths),
      'churn msg/node/s': String(run.churnMessagesPerNodePerSecond),
    })),
    targets: target
      ? [
          {
            name: `${targetNodes} nodes, ${churnSeconds} s of churn: wall time`,
            target: `< ${targetWallSeconds} s`,
            actual: `${target.wallSeconds.toFixed(1)} s (CPU ${target.cpuSeconds.toFixed(1)} s)`,
            met: target.wallSeconds < targetWallSeconds,
          },
          {
            name: `${targetNodes} nodes: peak RSS`,
            target: '< 8 GiB',
            actual: gibibytes(target.peakRssBytes),
            met: target.peakRssBytes < targetRssBytes,
          },
        ]
      : [],
    metrics: { experiment: 'discovery', chance, churnSeconds, seed, runs },
  });
}

function inChild(nodes: number): Promise<ScaleRun> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url);
    // The heap settings `butter testbed` runs with.
    const child = fork(script, ['--one', String(nodes), '--churn-seconds', String(churnSeconds), '--seed', String(seed)], {
      stdio: 'inherit',
      execArgv: [...testbedHeapFlags(), ...process.execArgv],
    });
    let result: ScaleRun | undefined;
    child.on('message', (message) => (result = message as ScaleRun));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${nodes} nodes: exit code ${code}`))));
  });
}

async function measureOne(nodes: number): Promise<ScaleRun> {
  const params: Params = {
    nodes,
    runtime: 'sim',
    seed,
    repeat: 1,
    joinIntervalMs: discoveryExperiment.defaults?.joinIntervalMs ?? 10,
    warmupSeconds: discoveryExperiment.defaults?.warmupSeconds ?? 30,
    churn: { ...noChurn, chance, churnSeconds },
    recoverySeconds: discoveryExperiment.defaults?.recoverySeconds ?? 10,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 1,
  };
  for (const option of discoveryExperiment.options) params[option.key] = option.defaultValue;
  let peakHeapBytes = 0;
  let simulatedSeconds = 0;
  let eventsProcessed = 0;
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  const result = await runExperiment(discoveryExperiment, params, (progress) => {
    peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
    simulatedSeconds = progress.simulatedSeconds;
    eventsProcessed = progress.eventsProcessed;
  });
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const [outcome] = result.results.cases;
  return {
    nodes,
    simulatedSeconds,
    wallSeconds: round(wallSeconds, 2),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    peakHeapBytes,
    eventsProcessed,
    simulatedSecondsPerWallSecond: round(simulatedSeconds / wallSeconds, 2),
    deaths: outcome?.deaths.mean ?? NaN,
    churnMessagesPerNodePerSecond: outcome?.traffic.churn?.messagesPerNodePerSecond ?? NaN,
    largestComponent: outcome?.figures.largestComponent?.mean ?? NaN,
  };
}
