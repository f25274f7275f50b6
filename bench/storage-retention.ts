/**
 * Retention of stored items under churn, against the original prototype's
 * published tables (SPEC §5), and maintenance traffic as data grows:
 *
 *  (a) churn table: 250 nodes, 30 s churn, heartbeat 2 s, r = 3, 5 seeds, at 1/50, 1/100 and 1/1,000;
 *  (b) heartbeat sweep: 100 nodes, 60 s churn at 1/50, intervals 10/5/2/1 s, 5 seeds;
 *  (c) maintenance messages per node per second with 1,000 blocks per node vs 1 block per node.
 *
 * All on the simulator (virtual time, seeded), through the testbed's `churn` experiment.
 *
 *   node dist/bench/storage-retention.js [--seeds 5] [--only abc] [--traffic-nodes 8]
 */
import type { Params } from '../src/testbed/experiment.js';
import { churnExperiment } from '../src/testbed/experiments/churn.js';
import { runExperiment } from '../src/testbed/runner.js';
import { numberOption, report, round, settledStorageNetwork, type TargetCheck } from './common.js';

const args = process.argv.slice(2);
const seeds = numberOption(args, 'seeds', 5);
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;

function churnParams(nodes: number, chance: number, churnSeconds: number, heartbeatMs: number): Params {
  return {
    nodes,
    runtime: 'sim',
    seed: 1,
    repeat: seeds,
    joinIntervalMs: 20,
    warmupSeconds: 10,
    churn: { chance, churnSeconds, gracefulFraction: 0, replace: true },
    recoverySeconds: 10,
    subnetSize: 250,
    link: {},
    partition: undefined,
    sampleSeconds: 5,
    replicas: 3,
    itemBytes: 1024,
    memory: 32,
    heartbeatMs,
  };
}

interface RetentionRow {
  label: string;
  retentionPercent: number;
  retentionMin: number;
  itemsLost: number;
  items: number;
  heartbeatMessages: number;
  maintenancePerNodePerSecond: number;
  bytesPerNodePerSecond: number;
}

async function retention(label: string, params: Params): Promise<RetentionRow> {
  const started = Date.now();
  const result = (await runExperiment(churnExperiment, params)).results.cases[0]!;
  const figure = (name: string) => result.figures[name]!;
  const row = {
    label,
    retentionPercent: round(figure('retentionPercent').mean, 2),
    retentionMin: round(figure('retentionPercent').min, 2),
    itemsLost: figure('itemsLost').runs.reduce((sum: number, value: number) => sum + value, 0),
    items: figure('items').runs.reduce((sum: number, value: number) => sum + value, 0),
    heartbeatMessages: round(figure('heartbeatPerNodePerSecond').mean * params.nodes * (params.warmupSeconds + params.churn.churnSeconds + params.recoverySeconds)),
    maintenancePerNodePerSecond: round(figure('maintenanceMessagesPerNodePerSecond').mean, 2),
    bytesPerNodePerSecond: round(figure('maintenanceBytesPerNodePerSecond').mean),
  };
  console.error(`${label}: ${JSON.stringify(row)} (${Math.round((Date.now() - started) / 1000)} s)`);
  return row;
}

/** Maintenance messages per node per second in steady state, with `blocksPerNode` blocks stored by each node. */
async function steadyTraffic(nodeCount: number, blocksPerNode: number): Promise<number> {
  const { simulation, nodes } = await settledStorageNetwork(nodeCount, blocksPerNode);
  const byLabel = () => {
    const totals = new Map<string, number>();
    for (const node of nodes) {
      for (const [label, entry] of Object.entries(node.traffic.byLabel())) if (label.includes('storage/')) totals.set(label, (totals.get(label) ?? 0) + entry.messages);
    }
    return totals;
  };
  const before = byLabel();
  const seconds = 30;
  await simulation.runFor(seconds * 1000);
  let total = 0;
  const rates: Record<string, number> = {};
  for (const [label, messages] of byLabel()) {
    const rate = (messages - (before.get(label) ?? 0)) / nodeCount / seconds;
    if (rate > 0) rates[label] = round(rate, 3);
    total += rate;
  }
  console.error(`${blocksPerNode} block(s) per node, ${nodeCount} nodes: ${JSON.stringify(rates)}`);
  return total;
}

const rows: Array<Record<string, string>> = [];
const targets: TargetCheck[] = [];
const metrics: Record<string, unknown> = { seeds };

if (!only || only.includes('a')) {
  const original: Record<string, number> = { '1/50': 74.8, '1/100': 88.4, '1/1000': 98.4 };
  const table: RetentionRow[] = [];
  for (const [label, chance] of [
    ['1/50', 1 / 50],
    ['1/100', 1 / 100],
    ['1/1000', 1 / 1000],
  ] as const) {
    const row = await retention(`churn ${label}`, churnParams(250, chance, 30, 2_000));
    table.push(row);
    rows.push({
      table: 'churn (250 nodes, 30 s, hb 2 s, r 3)',
      case: `chance ${label}`,
      retained: `${row.retentionPercent} % (min ${row.retentionMin} %)`,
      lost: `${row.itemsLost} of ${row.items}`,
      original: `${original[label]} %`,
      'maint. msg/node/s': String(row.maintenancePerNodePerSecond),
      'bytes/node/s': String(row.bytesPerNodePerSecond),
    });
    const goal = label === '1/50' ? 99.9 : 100;
    targets.push({ name: `retention at ${label}`, target: `≥ ${goal} %`, actual: `${row.retentionPercent} %`, met: row.retentionPercent >= goal });
  }
  metrics.churnTable = table;
}

if (!only || only.includes('b')) {
  const original: Record<number, number> = { 10: 58, 5: 60, 2: 72, 1: 74 };
  const table: RetentionRow[] = [];
  for (const seconds of [10, 5, 2, 1]) {
    const row = await retention(`heartbeat ${seconds} s`, churnParams(100, 1 / 50, 60, seconds * 1000));
    table.push(row);
    rows.push({
      table: 'heartbeat sweep (100 nodes, 60 s at 1/50)',
      case: `interval ${seconds} s`,
      retained: `${row.retentionPercent} % (min ${row.retentionMin} %)`,
      lost: `${row.itemsLost} of ${row.items}`,
      original: `${original[seconds]} %`,
      'maint. msg/node/s': String(row.maintenancePerNodePerSecond),
      'bytes/node/s': String(row.bytesPerNodePerSecond),
    });
    // "Far above": at least 20 points over the original's row.
    const floor = (original[seconds] as number) + 20;
    targets.push({ name: `heartbeat ${seconds} s far above the original`, target: `≥ ${floor} %`, actual: `${row.retentionPercent} %`, met: row.retentionPercent >= floor });
  }
  metrics.heartbeatSweep = table;
}

if (!only || only.includes('c')) {
  const nodeCount = numberOption(args, 'traffic-nodes', 8);
  const one = await steadyTraffic(nodeCount, 1);
  const thousand = await steadyTraffic(nodeCount, 1000);
  console.error(`steady traffic: 1 block/node ${one}, 1000 blocks/node ${thousand}`);
  rows.push({
    table: `maintenance vs data (${nodeCount} nodes, no churn)`,
    case: '1 vs 1,000 blocks per node',
    retained: '',
    lost: '',
    original: '',
    'maint. msg/node/s': `${round(one, 3)} vs ${round(thousand, 3)}`,
    'bytes/node/s': '',
  });
  targets.push({ name: 'messages with 1,000 blocks/node ÷ with 1 block/node', target: '≤ 1.5', actual: String(round(thousand / one, 2)), met: thousand / one <= 1.5 });
  metrics.flatTraffic = { nodes: nodeCount, oneBlockPerNode: round(one, 3), thousandBlocksPerNode: round(thousand, 3), ratio: round(thousand / one, 3) };
}

await report({ name: 'storage-retention', rows, targets, metrics });
