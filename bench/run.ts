/**
 * Runs the benchmarks, each in its own child process, prints their tables and
 * writes bench/results/<name>.json. Run by hand, never by the test suite:
 *
 *   npm run bench                                  # all
 *   node dist/bench/run.js transport --seconds 5   # one; later options go to the benchmark
 */
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, formatTargets, type BenchmarkResult } from './common.js';

interface Benchmark {
  name: string;
  script: string;
  nodeFlags: string[];
  /** Needs setup outside the project: run only when named. */
  byNameOnly?: boolean;
}

const benchmarks: Benchmark[] = [
  { name: 'transport', script: 'transport.js', nodeFlags: [] },
  // global.gc() is needed to measure what stays alive, not what awaits collection.
  { name: 'idle-memory', script: 'idle-memory.js', nodeFlags: ['--expose-gc'] },
  { name: 'discovery', script: 'discovery.js', nodeFlags: [] },
  { name: 'storage-blocks', script: 'storage-blocks.js', nodeFlags: ['--expose-gc'] },
  { name: 'storage-retention', script: 'storage-retention.js', nodeFlags: [] },
  { name: 'storage-throughput', script: 'storage-throughput.js', nodeFlags: [] },
  { name: 'storage-disk-idle', script: 'storage-disk-idle.js', nodeFlags: ['--expose-gc'] },
  { name: 'storage-stall', script: 'storage-stall.js', nodeFlags: [] },
  // 100,000 blocks held by each of 4 simulated nodes: about 2 GiB of blocks in one process.
  { name: 'storage-scale', script: 'storage-scale.js', nodeFlags: ['--max-old-space-size=8000'] },
  { name: 'authorship', script: 'authorship.js', nodeFlags: [] },
  { name: 'keyword-table', script: 'keyword-table.js', nodeFlags: [] },
  { name: 'fuzz', script: 'fuzz.js', nodeFlags: ['--expose-gc'] },
  { name: 'cli', script: 'cli.js', nodeFlags: [] },
  { name: 'wiki-demo', script: 'wiki-demo.js', nodeFlags: [] },
  { name: 'relay', script: 'relay.js', nodeFlags: [] },
  // 100 real nodes in one process, three strategies, then 1 MiB between two nodes: minutes.
  { name: 'retrieval', script: 'retrieval.js', nodeFlags: [] },
  // Needs --harness <dir>: a copy of the libp2p-dht anchor, installed there (see the script).
  { name: 'retrieval-dht', script: 'retrieval-dht.js', nodeFlags: [], byNameOnly: true },
  // Minutes long: each network size runs in its own child process.
  { name: 'testbed-scale', script: 'testbed-scale.js', nodeFlags: [] },
];

const benchDirectory = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const projectDirectory = path.resolve(benchDirectory, '../..');
const resultsDirectory = path.join(projectDirectory, 'bench', 'results');

function runBenchmark(benchmark: Benchmark, args: string[]): Promise<BenchmarkResult> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(benchDirectory, benchmark.script), args, { execArgv: benchmark.nodeFlags, stdio: 'inherit' });
    let result: BenchmarkResult | undefined;
    child.on('message', (message) => (result = message as BenchmarkResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${benchmark.name} exited with code ${code}${result ? '' : ' and no result'}`));
    });
  });
}

const [selected, ...benchmarkArgs] = process.argv.slice(2);
const everyBenchmark = benchmarks.filter((benchmark) => !benchmark.byNameOnly);
const chosen = selected === undefined || selected.startsWith('--') ? everyBenchmark : benchmarks.filter((benchmark) => benchmark.name === selected);
if (chosen.length === 0) {
  console.error(`unknown benchmark "${selected}"; known: ${benchmarks.map((benchmark) => benchmark.name).join(', ')}`);
  process.exit(2);
}
// With no name, every argument goes to every benchmark (e.g. `npm run bench -- --seconds 5`).
const args = chosen === everyBenchmark ? process.argv.slice(2) : benchmarkArgs;

const machine = {
  cores: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  totalMemoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
};
console.log(`node ${process.version}, ${machine.cores} cores (${machine.cpuModel}), ${machine.totalMemoryGiB} GiB, ${machine.platform}`);

await mkdir(resultsDirectory, { recursive: true });
const results: BenchmarkResult[] = [];
for (const benchmark of chosen) {
  const result = await runBenchmark(benchmark, args);
  results.push(result);
  const command = ['node', ...benchmark.nodeFlags, `dist/bench/${benchmark.script}`, ...args].join(' ');
  const file = path.join(resultsDirectory, `${benchmark.name}.json`);
  const { name, ...measured } = result;
  const record = { name, date: new Date().toISOString(), node: process.version, machine, command, ...measured };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
}

console.log('\n=== summary ===');
for (const result of results) console.log(`\n${result.name}\n${formatTable(result.rows)}\n${formatTargets(result.targets)}`);
console.log(`\nresults written to ${path.relative(process.cwd(), resultsDirectory) || '.'}/`);
