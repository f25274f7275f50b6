import { InvalidArgumentError } from '../../errors.js';
import type { Experiment, ExperimentCase, Params } from '../experiment.js';
import { measureRetention, sampleGroups, storageNodeOptions, storageOptions, storageRunInvariants, storeItems } from './storage-items.js';

function intervalList(text: string): number[] {
  const seconds = text.split(',').map(Number);
  if (seconds.length === 0 || seconds.some((value) => !(value > 0))) throw new InvalidArgumentError('expected positive seconds like 10,5,2,1');
  return seconds;
}

/**
 * The original's heartbeat table: the churn experiment once per heartbeat
 * interval, with the maintenance messages beside each row.
 */
export const heartbeatExperiment: Experiment = {
  name: 'heartbeat',
  description: 'retention under churn for several heartbeat intervals (the original heartbeat table)',
  chartFigure: 'coldGroups',
  options: [
    ...storageOptions,
    { flag: '--intervals <seconds>', key: 'intervals', description: 'heartbeat intervals to compare', defaultValue: [10, 5, 2, 1], parse: intervalList },
  ],
  defaults: { nodes: 100, joinIntervalMs: 20, warmupSeconds: 10, recoverySeconds: 10 },
  cases(params: Params): ExperimentCase[] {
    return (params.intervals as number[]).map((seconds) => ({ label: `${seconds} s`, overrides: { heartbeatMs: seconds * 1000 } }));
  },
  nodeOptions: storageNodeOptions,
  afterJoin: storeItems,
  sample: sampleGroups,
  invariants: storageRunInvariants,
  measure: measureRetention,
};
