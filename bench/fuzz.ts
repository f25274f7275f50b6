/**
 * Fuzzing at scale (issue "Security", item 5): a million seeded random and
 * mutated frames through the frame and envelope decoders, a million datagrams
 * through the discovery core, and thousands of hostile connections through a
 * live simulated node's handshake. Asserts no crash (every refusal a typed
 * error), no unhandled rejection, bounded memory, and a node still serving.
 *
 *   node --expose-gc dist/bench/fuzz.js [--frames 1000000] [--datagrams 1000000] [--connections 20000] [--seed 1]
 *
 * The test suite runs a short version (test/fuzz-short.test.ts).
 */
import { fuzzDatagrams, fuzzFrames, fuzzHandshakes, type FuzzOutcome } from '../src/testbed/fuzz.js';
import { bytesPerMebibyte, numberOption, report, round, type TargetCheck } from './common.js';

const args = process.argv.slice(2);
const frames = numberOption(args, 'frames', 1_000_000);
const datagrams = numberOption(args, 'datagrams', 1_000_000);
const connections = numberOption(args, 'connections', 20_000);
const seed = numberOption(args, 'seed', 1);

let unhandled = 0;
process.on('unhandledRejection', () => (unhandled += 1));
const heapMiB = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / bytesPerMebibyte;
};

const rows: Array<Record<string, string>> = [];
const targets: TargetCheck[] = [];
const metrics: Record<string, unknown> = { seed };

async function measure(name: string, run: () => FuzzOutcome | Promise<FuzzOutcome>): Promise<FuzzOutcome> {
  const heapBefore = heapMiB();
  const started = performance.now();
  const outcome = await run();
  const seconds = (performance.now() - started) / 1000;
  const heapGrowth = heapMiB() - heapBefore;
  rows.push({
    driver: name,
    inputs: String(outcome.inputs),
    refused: String(outcome.refused),
    crashes: String(outcome.crashes),
    'inputs/s': String(round(outcome.inputs / seconds)),
    'heap growth MiB': String(round(heapGrowth, 1)),
  });
  targets.push({ name: `${name}: crashes`, target: '0', actual: String(outcome.crashes), met: outcome.crashes === 0 });
  targets.push({ name: `${name}: heap growth after the run`, target: '≤ 64 MiB', actual: `${round(heapGrowth, 1)} MiB`, met: heapGrowth <= 64 });
  metrics[name] = { ...outcome, seconds: round(seconds, 1), heapGrowthMiB: round(heapGrowth, 1) };
  if (outcome.firstCrash) console.error(`${name}: first crash\n${outcome.firstCrash}`);
  return outcome;
}

await measure('frames and envelopes', () => fuzzFrames(frames, seed));
await measure('discovery datagrams', () => fuzzDatagrams(datagrams, seed));
const handshakes = (await measure('handshakes of a live node', () => fuzzHandshakes(connections, seed))) as Awaited<ReturnType<typeof fuzzHandshakes>>;
targets.push({ name: 'a real peer served after the hostile connections', target: 'yes', actual: handshakes.stillServing ? 'yes' : 'no', met: handshakes.stillServing });
targets.push({ name: 'unhandled rejections', target: '0', actual: String(unhandled), met: unhandled === 0 });
await report({ name: 'fuzz', rows, targets, metrics });
