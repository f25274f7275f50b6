import type { Experiment } from '../experiment.js';
import { measureRetention, sampleGroups, storageNodeOptions, storageOptions, storageRunInvariants, storeItems } from './storage-items.js';

/**
 * The original's churn table: N nodes each store one random item; nodes die
 * with `--chance` per second for `--churn-seconds` and are replaced; after
 * recovery a fresh node retrieves every item by an exhaustive walk.
 */
export const churnExperiment: Experiment = {
  name: 'churn',
  description: 'retention of stored items under churn (the original churn table); maintenance traffic by type',
  chartFigure: 'coldGroups',
  options: [
    ...storageOptions,
    { flag: '--heartbeat <ms>', key: 'heartbeatMs', description: 'group heartbeat interval', defaultValue: 2000, parse: Number },
  ],
  defaults: { nodes: 250, joinIntervalMs: 20, warmupSeconds: 10, recoverySeconds: 10 },
  nodeOptions: storageNodeOptions,
  afterJoin: storeItems,
  sample: sampleGroups,
  invariants: storageRunInvariants,
  measure: measureRetention,
};
