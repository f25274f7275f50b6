/**
 * Butter's informed search beside js-libp2p kad-dht in one run (issue 13, item 7):
 * the kad-dht anchor harness (../shared/anchors/libp2p-dht, copied outside the
 * project and installed there with `npm ci`: libp2p never enters this project's
 * package.json) runs first in a child process — N = 100 nodes on loopback, 100
 * values of 4 KiB, 100 gets, no churn — then Butter's informed case of the same
 * size in this process. Reports both `get` p50s; target: Butter's ≤ 1/10 of kad-dht's.
 *
 *   d=$(mktemp -d) && cp -r ../shared/anchors/libp2p-dht "$d" && (cd "$d/libp2p-dht" && npm ci)
 *   node dist/bench/retrieval-dht.js --harness "$d/libp2p-dht" [--nodes 100] [--queries 100] [--seed 1]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { numberOption, report, round } from './common.js';
import { retrievalTable } from './retrieval-table.js';

const args = process.argv.slice(2);
const harnessIndex = args.indexOf('--harness');
const harness = harnessIndex >= 0 ? args[harnessIndex + 1] : undefined;
if (!harness) throw new Error('--harness <dir> is required: a copy of the libp2p-dht anchor with `npm ci` run in it');
const nodes = numberOption(args, 'nodes', 100);
const queries = numberOption(args, 'queries', 100);
const seed = numberOption(args, 'seed', 1);

interface DhtSummary {
  getP50Ms: number[];
  getP95Ms: number[];
  getSuccessPct: number[];
  rpcsPerGetMean: number[];
  putP50Ms: number[];
}

/** Runs the harness's own script with its documented flags (no churn round) and reads its summary. */
async function runDht(): Promise<DhtSummary> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'butter-dht-'));
  const out = path.join(scratch, 'results.json');
  try {
    const child = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=8192', 'bench.mjs', String(nodes), `--k=${queries}`, '--churn=', `--out=${out}`], {
      cwd: harness,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`the kad-dht harness exited with code ${code}`);
    return (JSON.parse(await readFile(out, 'utf8')) as { summary: DhtSummary }).summary;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const dht = await runDht();
const [butter] = await retrievalTable({ nodes, queries, seed, strategies: ['informed'] });
if (!butter) throw new Error('the retrieval experiment returned no informed case');
const dhtP50 = dht.getP50Ms[0] ?? NaN;
const butterP50 = butter.figures.latencyP50Ms ?? NaN;
await report({
  name: 'retrieval-dht',
  rows: [
    {
      system: 'kad-dht get',
      found: `${dht.getSuccessPct[0]} %`,
      'messages per lookup (mean)': `${dht.rpcsPerGetMean[0]} RPCs`,
      'p50': `${dht.getP50Ms[0]} ms`,
      'p95': `${dht.getP95Ms[0]} ms`,
    },
    {
      system: 'Butter informed retrieve',
      found: `${butter.figures.foundPercent} %`,
      'messages per lookup (mean)': `${butter.figures.messagesPerQueryMean} messages`,
      'p50': `${round(butterP50, 1)} ms`,
      'p95': `${round(butter.figures.latencyP95Ms ?? NaN, 1)} ms`,
    },
  ],
  targets: [{ name: `informed p50 against kad-dht get p50 at ${nodes} real nodes`, target: '≤ 1/10', actual: `${round(butterP50, 1)} / ${dhtP50} ms = 1/${round(dhtP50 / butterP50, 1)}`, met: butterP50 * 10 <= dhtP50 }],
  metrics: { nodes, queries, seed, loadAverage1m: round(os.loadavg()[0] ?? 0, 2), dht, butter },
});
