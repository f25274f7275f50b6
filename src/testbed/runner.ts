import { InvalidArgumentError } from '../errors.js';
import type { SimRuntime } from '../runtime/sim/index.js';
import { pickDeaths } from './churn.js';
import type { Experiment, ExperimentCase, Figures, Params, Phase } from './experiment.js';
import { checkInvariants, genericInvariants, type ChurnClock } from './invariants.js';
import { TestNetwork, type TrafficTotals } from './network.js';
import { spread, type Spread } from './statistics.js';

export interface PhaseTraffic {
  seconds: number;
  messages: number;
  bytes: number;
  messagesPerNodePerSecond: number;
  /** The same per message label (`request:<route>`, `datagram:ping`, …), so each protocol's cost shows. */
  byLabel: Record<string, LabelTraffic>;
}

export interface LabelTraffic {
  messages: number;
  bytes: number;
  messagesPerNodePerSecond: number;
}

export interface SamplePoint {
  seconds: number;
  phase: Phase;
  figures: Figures;
}

export interface CaseResult {
  label: string;
  /** Each final figure over the repeated runs: mean, sd, min, max and every run's value. */
  figures: Record<string, Spread>;
  /** Traffic per phase, from the first run. */
  traffic: Partial<Record<Phase, PhaseTraffic>>;
  deaths: Spread;
  /** The time series of the first run. */
  series: SamplePoint[];
}

export interface RunReport {
  experiment: string;
  params: Params;
  results: { cases: CaseResult[] };
}

export interface Progress {
  caseLabel: string;
  run: number;
  runs: number;
  phase: Phase;
  /** Share of this run's planned time already simulated, 0..1. */
  fraction: number;
  /** Time elapsed in this run: virtual on the simulator. */
  simulatedSeconds: number;
  /** Events the simulator has processed in this run; 0 on real sockets. */
  eventsProcessed: number;
}

interface RunOutcome {
  figures: Figures;
  traffic: Partial<Record<Phase, PhaseTraffic>>;
  deaths: number;
  series: SamplePoint[];
}

/**
 * Runs an experiment: for each case and each of `repeat` seeds, builds the
 * network with staggered joins, then warm-up, churn (with faults), recovery
 * and measurement, and gathers figures, traffic and a time series.
 */
export async function runExperiment(experiment: Experiment, params: Params, onProgress?: (progress: Progress) => void): Promise<RunReport> {
  checkParams(params);
  const cases: ExperimentCase[] = experiment.cases?.(params) ?? [{ label: 'default', overrides: {} }];
  const results: CaseResult[] = [];
  for (const experimentCase of cases) {
    const caseParams = { ...params, ...experimentCase.overrides } as Params;
    const outcomes: RunOutcome[] = [];
    for (let run = 0; run < params.repeat; run += 1) {
      const seed = params.seed + run;
      outcomes.push(
        await runOnce(experiment, { ...caseParams, seed }, (step) =>
          onProgress?.({ caseLabel: experimentCase.label, run: run + 1, runs: params.repeat, ...step }),
        ),
      );
    }
    results.push(summarise(experimentCase.label, outcomes));
  }
  return { experiment: experiment.name, params, results: { cases: results } };
}

function summarise(label: string, outcomes: RunOutcome[]): CaseResult {
  const first = outcomes[0] as RunOutcome;
  const figures: Record<string, Spread> = {};
  for (const name of Object.keys(first.figures)) figures[name] = spread(outcomes.map((outcome) => outcome.figures[name] ?? NaN));
  return {
    label,
    figures,
    traffic: first.traffic,
    deaths: spread(outcomes.map((outcome) => outcome.deaths)),
    series: first.series,
  };
}

type RunStep = Pick<Progress, 'phase' | 'fraction' | 'simulatedSeconds' | 'eventsProcessed'>;

async function runOnce(experiment: Experiment, params: Params, onStep: (step: RunStep) => void): Promise<RunOutcome> {
  const network = new TestNetwork(
    { runtime: params.runtime, seed: params.seed, subnetSize: params.subnetSize, link: params.link, hostOf: experiment.hostOf && ((index) => experiment.hostOf?.(index, params) ?? {}) },
    (index, net) => experiment.nodeOptions(index, params, net),
    async (node, index) => {
      if (experiment.setupNode) await experiment.setupNode(node, index, params);
      else await node.spawn();
    },
  );
  const plannedMs =
    params.nodes * params.joinIntervalMs + (params.warmupSeconds + params.churn.churnSeconds + params.recoverySeconds) * 1000;
  const series: SamplePoint[] = [];
  const traffic: Partial<Record<Phase, PhaseTraffic>> = {};
  const clock: ChurnClock = { churnEndedAtMs: undefined };
  const invariants = [...genericInvariants, ...(experiment.invariants?.(params, clock) ?? [])];
  let nextSampleMs = 0;
  // Every sample checks the invariants first: a broken one fails the run with its seed.
  const sampleIfDue = (phase: Phase) => {
    if (network.now() < nextSampleMs) return;
    nextSampleMs = network.now() + params.sampleSeconds * 1000;
    checkInvariants(invariants, network, network.now(), params.seed);
    if (experiment.sample) series.push({ seconds: round(network.now() / 1000), phase, figures: experiment.sample(network, params) });
  };
  const report = (phase: Phase, fraction: number) =>
    onStep({ phase, fraction, simulatedSeconds: network.now() / 1000, eventsProcessed: network.simulation?.eventsProcessed ?? 0 });
  const tick = (phase: Phase) => {
    sampleIfDue(phase);
    report(phase, Math.min(1, network.now() / plannedMs));
  };

  try {
    await accountPhase(network, traffic, 'join', async () => {
      for (let index = 0; index < params.nodes; index += 1) {
        await network.addNode();
        await network.advance(params.joinIntervalMs);
        tick('join');
      }
      await experiment.afterJoin?.(network, params);
    });
    await accountPhase(network, traffic, 'warm-up', () => runSeconds(network, params.warmupSeconds, () => tick('warm-up')));
    await accountPhase(network, traffic, 'churn', () => churnPhase(experiment, network, params, () => tick('churn')));
    clock.churnEndedAtMs = network.now();
    await accountPhase(network, traffic, 'recovery', () => runSeconds(network, params.recoverySeconds, () => tick('recovery')));
    let figures: Figures = {};
    await accountPhase(network, traffic, 'measurement', async () => {
      figures = await experiment.measure(network, params);
    });
    report('measurement', 1);
    return { figures, traffic, deaths: network.deaths, series };
  } finally {
    await network.shutdown();
  }
}

async function runSeconds(network: TestNetwork, seconds: number, afterEachSecond: () => void): Promise<void> {
  for (let second = 0; second < seconds; second += 1) {
    await network.advance(1000);
    afterEachSecond();
  }
}

/**
 * Every second each node dies with the chance (replaced by a fresh node); an optional partition comes and heals;
 * the experiment's `duringChurn` runs in each second, after its deaths and replacements.
 */
async function churnPhase(experiment: Experiment, network: TestNetwork, params: Params, afterEachSecond: () => void): Promise<void> {
  const { churn, partition } = params;
  for (let second = 0; second < churn.churnSeconds; second += 1) {
    if (partition && second === partition.startSeconds) partitionNetwork(network, partition.fraction);
    if (partition && second === partition.startSeconds + partition.durationSeconds) network.simulation?.heal();
    const deaths = pickDeaths(network.nodes, churn, () => network.churnRandom.float());
    for (const death of deaths) await network.kill(death.member, death.kind);
    // A fresh node takes the dead one's seat: its LAN and its place in it (as in the original, n stays constant).
    if (churn.replace) for (const death of deaths) await network.addNode({}, network.nodeIndex(death.member));
    const secondStartedMs = network.now();
    await experiment.duringChurn?.(network, params, second);
    // What the experiment did took some of the second already; the churn's clock stays one death draw per second.
    await network.advance(Math.max(0, 1000 - (network.now() - secondStartedMs)));
    afterEachSecond();
  }
  network.simulation?.heal();
}

function partitionNetwork(network: TestNetwork, fraction: number): void {
  const simulation = network.simulation;
  if (!simulation) return;
  const hosts = network.nodes.map((node) => node.runtime as SimRuntime);
  const cut = Math.round(hosts.length * fraction);
  simulation.partition(hosts.slice(0, cut), hosts.slice(cut));
}

async function accountPhase(
  network: TestNetwork,
  traffic: Partial<Record<Phase, PhaseTraffic>>,
  phase: Phase,
  body: () => Promise<void>,
): Promise<void> {
  const before = network.traffic();
  const startedMs = network.now();
  const sizeBefore = network.size;
  await body();
  const seconds = (network.now() - startedMs) / 1000;
  // The population changes while nodes join; the mean of both ends approximates node-seconds.
  const nodeSeconds = ((sizeBefore + network.size) / 2) * seconds;
  traffic[phase] = phaseTraffic(before, network.traffic(), seconds, nodeSeconds);
}

function phaseTraffic(before: TrafficTotals, after: TrafficTotals, seconds: number, nodeSeconds: number): PhaseTraffic {
  const perNodeSecond = (messages: number) => (nodeSeconds > 0 ? round(messages / nodeSeconds) : 0);
  const byLabel: PhaseTraffic['byLabel'] = {};
  for (const [label, entry] of Object.entries(after.byLabel)) {
    const earlier = before.byLabel[label] ?? { messages: 0, bytes: 0 };
    const messages = entry.messages - earlier.messages;
    if (messages > 0) byLabel[label] = { messages, bytes: entry.bytes - earlier.bytes, messagesPerNodePerSecond: perNodeSecond(messages) };
  }
  const messages = after.messages - before.messages;
  return {
    seconds: round(seconds),
    messages,
    bytes: after.bytes - before.bytes,
    messagesPerNodePerSecond: perNodeSecond(messages),
    byLabel,
  };
}

function checkParams(params: Params): void {
  if (!Number.isInteger(params.nodes) || params.nodes < 1) throw new InvalidArgumentError('--nodes must be a positive integer');
  if (!Number.isInteger(params.repeat) || params.repeat < 1) throw new InvalidArgumentError('--repeat must be a positive integer');
  if (params.partition && params.runtime !== 'sim') throw new InvalidArgumentError('partitions need the simulated runtime (--runtime sim)');
  if (Object.keys(params.link).length > 0 && params.runtime !== 'sim') {
    throw new InvalidArgumentError('link faults (--latency, --loss) need the simulated runtime (--runtime sim)');
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
