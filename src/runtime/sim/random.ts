import { unsafeUniformIntDistribution, xoroshiro128plus, type RandomGenerator } from 'pure-rand';
import type { Random } from '../types.js';

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;

/** 32-bit FNV-1a over the UTF-16 code units of a label. */
function hashLabel(label: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3 finaliser: spreads every input bit over the whole word. */
function mix32(value: number): number {
  let h = value | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Normalises any finite number to 32 bits without dropping its high word. */
function seedWord(seed: number): number {
  if (!Number.isFinite(seed)) {
    throw new RangeError(`seed must be a finite number, got ${seed}`);
  }
  const integer = Math.trunc(seed);
  const low = integer >>> 0;
  const high = Math.floor(integer / TWO_POW_32) >>> 0;
  return mix32(low ^ mix32(high + 0x9e3779b9));
}

/**
 * Derives an independent child seed from a parent seed and a label, so a child
 * stream depends only on (root seed, label) and not on how much the parent consumed.
 */
export function deriveSeed(seed: number, label: string | number): number {
  const labelWord = typeof label === 'number' ? mix32(seedWord(label) + 0x632be5ab) : hashLabel(label);
  return mix32(seedWord(seed) ^ mix32(labelWord + 0x7f4a7c15));
}

/** Expands a 32-bit seed into a full 128-bit xoroshiro state (splitmix-style), never all zero. */
function generatorFromSeed(seed: number): RandomGenerator {
  let state = seed >>> 0;
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    words.push(mix32(state) | 0);
  }
  if ((words[0]! | words[1]! | words[2]! | words[3]!) === 0) words[0] = 1; // all-zero is a fixed point
  return xoroshiro128plus.fromState(words);
}

/** Seeded, deterministic `Random` over pure-rand's xoroshiro128+ (mutable API for speed). */
export class SeededRandom implements Random {
  readonly seed: number;
  private readonly generator: RandomGenerator;

  constructor(seed: number) {
    this.seed = seedWord(seed);
    this.generator = generatorFromSeed(this.seed);
  }

  /** A child stream derived from this stream's seed and `label` (not from its current state). */
  fork(label: string | number): SeededRandom {
    return new SeededRandom(deriveSeed(this.seed, label));
  }

  float(): number {
    // 53 random bits, the full precision of a double.
    const high = this.generator.unsafeNext() >>> 5;
    const low = this.generator.unsafeNext() >>> 6;
    return (high * 0x4000000 + low) / TWO_POW_53;
  }

  int(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
      throw new RangeError(`int() bound must be a positive safe integer, got ${maxExclusive}`);
    }
    return maxExclusive === 1 ? 0 : unsafeUniformIntDistribution(0, maxExclusive - 1, this.generator);
  }

  bytes(length: number): Uint8Array {
    const result = new Uint8Array(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const word = this.generator.unsafeNext();
      result[i] = word;
      result[i + 1] = word >>> 8;
      result[i + 2] = word >>> 16;
      result[i + 3] = word >>> 24;
    }
    if (i < length) {
      let word = this.generator.unsafeNext();
      for (; i < length; i++, word >>>= 8) {
        result[i] = word;
      }
    }
    return result;
  }
}

/**
 * A simulated machine's randomness. Its own draws come from the host's stream;
 * `fork(label)` hands a component a stream of its own, derived from the host's
 * seed, the label and how many streams of that label the host handed out
 * before, never from how much anything drew. So a module that draws more does
 * not reshuffle another's draws, and two nodes run one after the other on one
 * simulated machine get different streams, as two processes on a real one do.
 */
export class HostRandom implements Random {
  /** Streams handed out per label: a handful of labels per node. */
  private readonly forks = new Map<string, number>();

  constructor(private readonly root: SeededRandom) {}

  get seed(): number {
    return this.root.seed;
  }

  fork(label: string): SeededRandom {
    const earlier = this.forks.get(label) ?? 0;
    this.forks.set(label, earlier + 1);
    const stream = this.root.fork(label);
    return earlier === 0 ? stream : stream.fork(earlier);
  }

  float(): number {
    return this.root.float();
  }

  int(maxExclusive: number): number {
    return this.root.int(maxExclusive);
  }

  bytes(length: number): Uint8Array {
    return this.root.bytes(length);
  }
}
