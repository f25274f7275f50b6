/**
 * False positives of a keyword table (src/retrieval/keyword-table.ts) by size and hash
 * count: N random words added, 100,000 other words probed. A false positive costs one
 * wasted last-hop query, so this sets the table's size (docs/BENCHMARKS.md, "keyword search").
 *
 *   node dist/bench/run.js keyword-table
 */
import { bloomAdd, bloomHas, type BloomFilter } from '../src/retrieval/bloom.js';
import { keywordTableBytes, keywordTableHashes } from '../src/retrieval/keyword-table.js';
import { report, round } from './common.js';

const probes = 100_000;
const wordCounts = [50, 200, 800, 1_600];
const shapes = [
  { bytes: 1_024, hashes: 2 },
  { bytes: 2_048, hashes: 1 },
  { bytes: 2_048, hashes: 2 },
  { bytes: 2_048, hashes: 3 },
  { bytes: 4_096, hashes: 3 },
  { bytes: 4_096, hashes: 2 },
  { bytes: 8_192, hashes: 1 },
];

function falsePositivePercent(bytes: number, hashes: number, words: number): number {
  const table: BloomFilter = { bits: new Uint8Array(bytes), hashCount: hashes };
  for (let index = 0; index < words; index += 1) bloomAdd(table, `word${index}`);
  let hits = 0;
  for (let index = 0; index < probes; index += 1) if (bloomHas(table, `probe${index}`)) hits += 1;
  return (100 * hits) / probes;
}

const metrics: Record<string, number> = {};
const rows: Array<Record<string, string>> = [];
for (const { bytes, hashes } of shapes) {
  const row: Record<string, string> = { table: `${bytes} B, ${hashes} hash${hashes > 1 ? 'es' : ''}` };
  for (const words of wordCounts) {
    const percent = falsePositivePercent(bytes, hashes, words);
    metrics[`${bytes}B/k${hashes}/${words}`] = percent;
    row[`${words} words`] = `${round(percent, 3)} %`;
  }
  rows.push(row);
}

const chosen = metrics[`${keywordTableBytes}B/k${keywordTableHashes}/800`] as number;
await report({
  name: 'keyword-table',
  rows,
  targets: [{ name: 'false positives of the chosen table at 800 words', target: '≤ 1 %', actual: `${round(chosen, 3)} %`, met: chosen <= 1 }],
  metrics: { ...metrics, probes, keywordTableBytes, keywordTableHashes },
});
