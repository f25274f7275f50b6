import { writeFile } from 'node:fs/promises';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseChance, type CrashKind } from '../testbed/churn.js';
import { drawChart } from '../testbed/chart.js';
import type { CommonParams, Experiment, Params } from '../testbed/experiment.js';
import { experiments } from '../testbed/experiments/index.js';
import { formatReport } from '../testbed/report.js';
import { runExperiment, type Progress } from '../testbed/runner.js';
import { relaunchWithTestbedHeap } from './testbed-heap.js';

function integerAtLeast(minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`expected an integer ≥ ${minimum}`);
    return parsed;
  };
}

function nonNegative(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return parsed;
}

function probability(value: string): number {
  try {
    return parseChance(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** `fraction:startSeconds:durationSeconds`, e.g. `0.5:10:20`. */
function partitionSpec(value: string): CommonParams['partition'] {
  const parts = value.split(':').map(Number);
  const [fraction, startSeconds, durationSeconds] = parts as [number, number, number];
  if (parts.length !== 3 || parts.some((part) => !Number.isFinite(part) || part < 0) || fraction <= 0 || fraction >= 1) {
    throw new InvalidArgumentError('expected fraction:startSeconds:durationSeconds with 0 < fraction < 1, e.g. 0.5:10:20');
  }
  return { fraction, startSeconds, durationSeconds };
}

interface CommonFlags {
  nodes?: number;
  runtime: 'sim' | 'real';
  seed: number;
  repeat: number;
  joinInterval?: number;
  warmup?: number;
  chance: number;
  churnSeconds: number;
  graceful: number;
  crash: CrashKind;
  replace: boolean;
  recovery?: number;
  subnetSize: number;
  latency?: number;
  jitter?: number;
  loss?: number;
  partition?: CommonParams['partition'];
  sampleSeconds: number;
  json: boolean;
  chart?: string;
}

/** `butter testbed <experiment>`: one subcommand per experiment, sharing the common flags. */
export function testbedCommand(): Command {
  const command = new Command('testbed').description('run a reproducible experiment on the simulator or on real sockets');
  for (const experiment of experiments) command.addCommand(experimentCommand(experiment));
  return command;
}

function experimentCommand(experiment: Experiment): Command {
  const defaults = experiment.defaults ?? {};
  const command = new Command(experiment.name)
    .description(experiment.description)
    .option('-n, --nodes <count>', `nodes in the network (default ${defaults.nodes ?? 100})`, integerAtLeast(1))
    .addOption(new Option('--runtime <kind>', 'simulated (virtual time) or real sockets on loopback').choices(['sim', 'real']).default('sim'))
    .option('--seed <seed>', 'root seed of a simulated run', integerAtLeast(0), 1)
    .option('--repeat <runs>', 'runs with seeds seed, seed+1, …; figures report mean and spread', integerAtLeast(1), 1)
    .option('--join-interval <ms>', `time between two joins (default ${defaults.joinIntervalMs ?? 100})`, nonNegative)
    .option('--warmup <seconds>', `warm-up after the last join (default ${defaults.warmupSeconds ?? 10})`, nonNegative)
    .option('--chance <p>', 'per-node, per-second chance to die during churn: 0.02, 1/50 or 2%', probability, 0)
    .option('--churn-seconds <seconds>', 'length of the churn phase', integerAtLeast(0), 0)
    .option('--graceful <fraction>', 'share of deaths that are graceful leaves instead of crashes', probability, 0)
    .addOption(
      new Option('--crash <kind>', 'what a crash is on the simulator: machine (goes silent) or process (its OS ends its connections, refuses new ones)')
        .choices(['machine', 'process'])
        .default('machine'),
    )
    .option('--no-replace', 'do not replace dead nodes with fresh ones')
    .option('--recovery <seconds>', `recovery after churn (default ${defaults.recoverySeconds ?? 10})`, nonNegative)
    .option('--subnet-size <nodes>', 'nodes per simulated LAN (multicast domain)', integerAtLeast(1), 250)
    .option('--latency <ms>', 'simulated one-way link latency', nonNegative)
    .option('--jitter <ms>', 'simulated extra latency, uniform in 0..jitter', nonNegative)
    .option('--loss <rate>', 'simulated loss rate of datagrams (streams retransmit)', probability)
    .option('--partition <spec>', 'partition fraction:start:duration (seconds into churn), then heal', partitionSpec)
    .option('--sample-seconds <seconds>', 'time between two points of the time series', integerAtLeast(1), 1)
    .option('--json', 'print exactly one JSON object {experiment, params, results} on stdout', false)
    .option('--chart <file.svg>', `draw ${experiment.chartFigure ?? 'a figure'} over time as SVG`);
  for (const option of experiment.options) {
    command.option(option.flag, `${option.description} (default ${String(option.defaultValue)})`, option.parse ?? ((value: string) => value), option.defaultValue);
  }
  command.action(async (flags: CommonFlags & Record<string, unknown>) => {
    const params = paramsFrom(experiment, flags);
    const exitCode = await relaunchWithTestbedHeap();
    if (exitCode !== undefined) {
      process.exitCode = exitCode;
      return;
    }
    const print = flags.json ? reserveStdout() : (text: string) => process.stdout.write(text);
    const progress = process.stderr.isTTY ? progressBar() : undefined;
    let report;
    try {
      report = await runExperiment(experiment, params, progress?.update);
    } finally {
      progress?.stop();
    }
    if (flags.json) print(`${JSON.stringify(report)}\n`);
    else print(`${formatReport(report)}\n`);
    if (flags.chart && experiment.chartFigure) {
      await writeFile(flags.chart, drawChart(report, experiment.chartFigure));
      if (!flags.json) print(`chart written to ${flags.chart}\n`);
    }
  });
  return command;
}

function paramsFrom(experiment: Experiment, flags: CommonFlags & Record<string, unknown>): Params {
  const defaults = experiment.defaults ?? {};
  const link: CommonParams['link'] = {};
  if (flags.latency !== undefined) link.latencyMs = flags.latency;
  if (flags.jitter !== undefined) link.jitterMs = flags.jitter;
  if (flags.loss !== undefined) link.lossRate = flags.loss;
  const params: Params = {
    nodes: flags.nodes ?? defaults.nodes ?? 100,
    runtime: flags.runtime,
    seed: flags.seed,
    repeat: flags.repeat,
    joinIntervalMs: flags.joinInterval ?? defaults.joinIntervalMs ?? 100,
    warmupSeconds: flags.warmup ?? defaults.warmupSeconds ?? 10,
    churn: { chance: flags.chance, churnSeconds: flags.churnSeconds, gracefulFraction: flags.graceful, crash: flags.crash, replace: flags.replace },
    recoverySeconds: flags.recovery ?? defaults.recoverySeconds ?? 10,
    subnetSize: flags.subnetSize,
    link,
    partition: flags.partition,
    sampleSeconds: flags.sampleSeconds,
  };
  // Commander names a flag's value after the flag (`--heartbeat <ms>` → `heartbeat`), which is not always the param's key.
  for (const option of experiment.options) params[option.key] = flags[new Option(option.flag).attributeName()];
  return params;
}

/**
 * In --json mode stdout carries the report and nothing else: whatever else the
 * run writes there (a stray console.log in an experiment) goes to stderr.
 * Returns the writer for the report itself.
 */
function reserveStdout(): (text: string) => boolean {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  return (text) => write(text);
}

/** A progress bar on stderr with the phase, simulated time and an ETA; only on a terminal. */
function progressBar(): { update: (progress: Progress) => void; stop: () => void } {
  const bar = new SingleBar({
    format: '{case} run {run}/{runs} [{bar}] {percentage}% | {phase} | {simulated} s simulated | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  });
  let started = false;
  return {
    update(progress) {
      const payload = {
        case: progress.caseLabel,
        run: progress.run,
        runs: progress.runs,
        phase: progress.phase,
        simulated: Math.round(progress.simulatedSeconds),
      };
      const value = Math.round(progress.fraction * 1000);
      if (!started) {
        bar.start(1000, value, payload);
        started = true;
      } else {
        bar.update(value, payload);
      }
    },
    stop: () => bar.stop(),
  };
}
