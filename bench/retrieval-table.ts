/** The real-node retrieval table shared by the retrieval benchmarks (bench/retrieval.ts, bench/retrieval-dht.ts). */
import type { Strategy } from '../src/retrieval/messages.js';
import { noChurn } from '../src/testbed/churn.js';
import type { Params } from '../src/testbed/experiment.js';
import { retrievalExperiment } from '../src/testbed/experiments/retrieval.js';
import { runExperiment } from '../src/testbed/runner.js';
import { round } from './common.js';

export interface StrategyRow {
  strategy: Strategy;
  figures: Record<string, number>;
  /** Messages by label and phase: what else the nodes were busy with while searching. */
  traffic: Record<string, { seconds: number; messages: number; byLabel: Record<string, number> }>;
}

/**
 * The testbed's `retrieval` experiment on the real runtime (one process, loopback):
 * `nodes` nodes, 100 items of 4 KiB (3 copies), `queries` lookups, one case per strategy.
 */
export async function retrievalTable({ nodes, queries, seed, strategies }: { nodes: number; queries: number; seed: number; strategies: Strategy[] }): Promise<StrategyRow[]> {
  const params: Params = {
    nodes,
    runtime: 'real',
    seed,
    repeat: 1,
    joinIntervalMs: retrievalExperiment.defaults?.joinIntervalMs ?? 20,
    warmupSeconds: retrievalExperiment.defaults?.warmupSeconds ?? 20,
    churn: noChurn,
    recoverySeconds: retrievalExperiment.defaults?.recoverySeconds ?? 5,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 1,
  };
  for (const option of retrievalExperiment.options) params[option.key] = option.defaultValue;
  params.queries = queries;
  params.strategies = strategies;
  let phase = '';
  const result = await runExperiment(retrievalExperiment, params, (progress) => {
    const now = `${progress.caseLabel} ${progress.phase}`;
    if (now !== phase) console.error(`retrieval: ${(phase = now)}`);
  });
  return result.results.cases.map((outcome) => {
    const figures: Record<string, number> = {};
    for (const [name, figure] of Object.entries(outcome.figures)) figures[name] = figure.mean;
    const traffic: StrategyRow['traffic'] = {};
    for (const [name, totals] of Object.entries(outcome.traffic)) {
      const byLabel: Record<string, number> = {};
      for (const [label, count] of Object.entries(totals.byLabel)) byLabel[label] = count.messages;
      traffic[name] = { seconds: round(totals.seconds, 1), messages: totals.messages, byLabel };
    }
    return { strategy: outcome.label as Strategy, figures, traffic };
  });
}
