/**
 * Bloom filters for neighbour summaries (docs/PROTOCOL.md, "Retrieval").
 *
 * A node's own filter has `bitsPerEntry` bits per segment it holds (9.6 give 1 %
 * false positives at the best hash count, k = 0.7 · bits per entry), rounded up to
 * a power of two and at least `minBloomBytes`. The 2-hop filter ORs neighbours'
 * filters into one as wide as the narrowest of them: a wider filter folds onto a
 * narrower one without losing a key, whereas tiling a narrow one into a wider
 * filter would copy its fill everywhere and a dozen of them saturate it (measured:
 * 64-bit own filters made every 2-hop filter match everything). So the floor is
 * what bounds the 2-hop false positives: 8,192 bits hold the ~50 segments two hops
 * of 16 neighbours holding 3 each cover (at 10,000 nodes and as many items) at far
 * below 1 %, and up to ~800 at 1 %. The 3-hop filter (~700 nodes behind a neighbour with 4
 * known hosts each) folds onto the same floor: fine while they hold a few hundred segments
 * (the 10,000-node runs hold 0.03 per node), near full when each holds 3; a full one only
 * steers a walker as a random one would go. Hashing is FNV-1a with two seeds and
 * Kirsch–Mitzenmacher double hashing: keys are SHA-256 based (segment keys) or
 * normalised words, so no keyed hash is needed, and no `node:*` import keeps the
 * search core runtime-free.
 */
export const bitsPerEntry = 10;
export const bloomHashCount = 7;
/** Upper bound of one filter on the wire and in memory: 262,144 bits, 1 % false positives up to ~26,000 entries. */
export const maxBloomBytes = 32_768;
export const minBloomBytes = 1_024;

export interface BloomFilter {
  readonly bits: Uint8Array;
  readonly hashCount: number;
}

/** An empty filter with room for `entries` at about 1 % false positives (within the cap). */
export function emptyBloom(entries: number): BloomFilter {
  let bytes = minBloomBytes;
  while (bytes * 8 < entries * bitsPerEntry && bytes < maxBloomBytes) bytes *= 2;
  return { bits: new Uint8Array(bytes), hashCount: bloomHashCount };
}

export function bloomOf(keys: Iterable<string>, entries: number): BloomFilter {
  const filter = emptyBloom(entries);
  for (const key of keys) bloomAdd(filter, key);
  return filter;
}

export function bloomAdd(filter: BloomFilter, key: string): void {
  const width = filter.bits.length * 8;
  const [first, second] = hashPair(key);
  for (let index = 0; index < filter.hashCount; index += 1) {
    const bit = (first + index * second) % width;
    filter.bits[bit >>> 3]! |= 1 << (bit & 7);
  }
}

export function bloomHas(filter: BloomFilter, key: string): boolean {
  const width = filter.bits.length * 8;
  if (width === 0) return false;
  const [first, second] = hashPair(key);
  for (let index = 0; index < filter.hashCount; index += 1) {
    const bit = (first + index * second) % width;
    if ((filter.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

/**
 * Ors `source` into `target`; both widths are powers of two. A wider source folds
 * (its bit i lands on i mod width, where the key's bit lands in the narrower
 * filter); a narrower one is tiled (bit j of the target is set when bit j mod
 * its width is): no key it holds is lost, and its false-positive rate stays.
 */
export function bloomUnion(target: BloomFilter, source: BloomFilter): void {
  if (source.hashCount !== target.hashCount) return;
  const width = Math.max(target.bits.length, source.bits.length);
  for (let index = 0; index < width; index += 1) target.bits[index % target.bits.length]! |= source.bits[index % source.bits.length]!;
}

/** A wire filter is usable only with a power-of-two width (bloomUnion folds on it). */
export function isBloomShape(filter: BloomFilter): boolean {
  const bytes = filter.bits.length;
  return bytes >= 1 && bytes <= maxBloomBytes && (bytes & (bytes - 1)) === 0;
}

function hashPair(key: string): [number, number] {
  let first = 0x811c9dc5;
  let second = 0x01000193 ^ 0x5bd1e995;
  for (let index = 0; index < key.length; index += 1) {
    const code = key.charCodeAt(index);
    first = Math.imul(first ^ code, 0x01000193) >>> 0;
    second = Math.imul(second ^ code, 0x01000193) >>> 0;
  }
  second = Math.imul(second ^ (second >>> 15), 0x2c1b3c6d) >>> 0;
  // An odd step visits every bit of a power-of-two width before repeating.
  return [first, (second | 1) >>> 0];
}
