/**
 * Helpers shared by the benchmarks: a bounded latency sample, percentiles,
 * command-line options, a plain-text table and the hand-over of results to
 * `run.ts`. Benchmarks are run by hand (`npm run bench`), never by the tests.
 */
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { Simulation } from '../src/runtime/sim/index.js';
import { storage, type StorageService } from '../src/storage/service.js';

/** What a benchmark hands to `run.ts`: numbers for the JSON file and rows for the table. */
export interface BenchmarkResult {
  name: string;
  /** One row per measured subject, already formatted for reading. */
  rows: Array<Record<string, string>>;
  targets: TargetCheck[];
  /** Raw numbers and parameters, written to bench/results/<name>.json. */
  metrics: Record<string, unknown>;
}

export interface TargetCheck {
  name: string;
  target: string;
  actual: string;
  met: boolean;
}

/**
 * A uniform sample of at most `capacity` values (reservoir sampling, algorithm R),
 * so that a long run keeps bounded memory and its percentiles stay unbiased.
 */
export class Reservoir {
  private readonly values: Float64Array;
  private seen = 0;

  constructor(readonly capacity = 200_000) {
    this.values = new Float64Array(capacity);
  }

  get count(): number {
    return this.seen;
  }

  add(value: number): void {
    if (this.seen < this.capacity) {
      this.values[this.seen] = value;
    } else {
      const slot = Math.floor(Math.random() * (this.seen + 1));
      if (slot < this.capacity) this.values[slot] = value;
    }
    this.seen += 1;
  }

  /** Nearest-rank percentiles, e.g. `percentiles([50, 99])`; NaN when empty. */
  percentiles(ranks: number[]): number[] {
    const sorted = this.values.slice(0, Math.min(this.seen, this.capacity)).sort();
    return ranks.map((rank) => {
      if (sorted.length === 0) return NaN;
      const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1));
      return sorted[index] as number;
    });
  }
}

/** Reads `--name value` from the arguments as a positive number. */
export function numberOption(args: readonly string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!(value > 0)) throw new Error(`--${name} needs a positive number, got ${String(args[index + 1])}`);
  return value;
}

/** Aligns rows of strings under their keys. */
export function formatTable(rows: Array<Record<string, string>>): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, index) => cell.padEnd(widths[index] as number)).join('  ').trimEnd();
  const body = rows.map((row) => line(columns.map((column) => row[column] ?? '')));
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...body].join('\n');
}

export function formatTargets(targets: TargetCheck[]): string {
  return targets.map((check) => `${check.met ? 'MET   ' : 'NOT MET'} ${check.name}: ${check.actual} (target ${check.target})`).join('\n');
}

/**
 * Prints the result and, when started by `run.ts` (forked, with an IPC channel),
 * sends it to the runner, which writes the JSON file.
 */
export async function report(result: BenchmarkResult): Promise<void> {
  console.log(`\n${result.name}\n${formatTable(result.rows)}\n${formatTargets(result.targets)}`);
  const send = process.send?.bind(process);
  if (send) await new Promise<void>((resolve, reject) => send(result, undefined, {}, (error) => (error ? reject(error) : resolve())));
}

/** The middle value (the upper middle of an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

export function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export const bytesPerMebibyte = 1024 * 1024;

export type StorageNode = ButterNode<{ storage: StorageService }>;

/**
 * A simulated network of `nodeCount` storage nodes (each bootstrapped from every
 * earlier one), each of which has durably stored `blocksPerNode` random blocks,
 * left 20 s for recruitment and shedding to settle: the steady state the storage
 * benchmarks measure from. With `dataDir`, each node keeps its blocks in the disk store on
 * its simulated host's own disk.
 */
export async function settledStorageNetwork(nodeCount: number, blocksPerNode: number, seed = 3, memoryMB = 64, dataDir?: string): Promise<{ simulation: Simulation; nodes: StorageNode[] }> {
  const simulation = new Simulation({ seed });
  const nodes: StorageNode[] = [];
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    void promise.finally(() => (done = true)).catch(() => undefined);
    while (!done) await simulation.runFor(10);
    return promise;
  };
  for (let index = 0; index < nodeCount; index += 1) {
    const bootstrap = nodes.map((earlier) => earlier.address);
    const node = await createNode({ host: '127.0.0.1', memoryMB, dataDir, runtime: simulation.createHost({}), bootstrap, services: { storage: storage() } });
    await settle(node.spawn());
    nodes.push(node);
  }
  await simulation.runFor(1_000);
  for (const node of nodes) await settle(node.services.storage.store(node.runtime.random.bytes(blocksPerNode * 4096), { durable: true }));
  await simulation.runFor(20_000); // recruitment and shedding settle
  return { simulation, nodes };
}

/** Calls `work` (synchronous, one thread) after a warm-up until `measureMs` of CPU time has passed; returns the CPU seconds per call. */
export function cpuSecondsPerCall(work: () => void, measureMs: number): number {
  for (let warmup = 0; warmup < 20; warmup += 1) work();
  const start = process.cpuUsage();
  let calls = 0;
  let elapsedMicros = 0;
  while (elapsedMicros < measureMs * 1000) {
    work();
    calls += 1;
    const used = process.cpuUsage(start);
    elapsedMicros = used.user + used.system;
  }
  return elapsedMicros / 1e6 / calls;
}
