import { bloomAdd, bloomHas, type BloomFilter } from './bloom.js';

/**
 * QRP-like keyword tables (Gnutella's Query Routing Protocol, simplified): each
 * node sends its neighbours one fixed-size bit table over the hashed normalised
 * words of the content it holds, and a query's last hop goes only to the
 * neighbours whose table has one of the searched words. It is a Bloom filter of fixed
 * width (bloom.ts hashing), so tables need no negotiation and every table on the
 * wire is exactly `keywordTableBytes`.
 *
 * Size by measurement (bench/keyword-table.ts, docs/BENCHMARKS.md, "keyword search"):
 * 2,048 bytes (16,384 bits) with 3 hashes give 0.005 % false positives at 200 words
 * per node and 0.3 % at 800 (2 hashes: 0.07 % and 0.9 %; 1 KiB: 0.2 % and 3 %). A false
 * positive costs one wasted last-hop message, so 2 KiB per table (sent to 16
 * neighbours, 64 kept: 128 KiB per node) is where doubling stops paying.
 */
export const keywordTableBytes = 2_048;
export const keywordTableHashes = 3;

export function keywordTableOf(words: Iterable<string>): BloomFilter {
  const table: BloomFilter = { bits: new Uint8Array(keywordTableBytes), hashCount: keywordTableHashes };
  for (const word of words) bloomAdd(table, word);
  return table;
}

/** True when the table may hold one of `words` (false positives possible, no false negatives): a result needs only one. */
export function tableMatches(table: BloomFilter, words: readonly string[]): boolean {
  return words.some((word) => bloomHas(table, word));
}

/** Share of set bits: a table that is nearly full routes everywhere, which experiments report. */
export function tableFill(table: BloomFilter): number {
  let set = 0;
  for (const byte of table.bits) for (let bit = byte; bit !== 0; bit &= bit - 1) set += 1;
  return set / (table.bits.length * 8);
}
