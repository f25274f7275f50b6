import { randomBytes, randomFillSync } from 'node:crypto';
import type { Random } from '../types.js';

/** Bytes fetched from the CSPRNG at a time, so float() and int() stay cheap. */
const poolBytes = 4096;
const twoPow53 = 2 ** 53;

/**
 * Randomness from node:crypto. `bytes()` goes straight to the CSPRNG (keys are
 * made from it); `float()` and `int()` draw 53-bit integers from a pooled
 * buffer of CSPRNG output, which is fast enough and needs no seeding.
 */
export function createRealRandom(): Random {
  let pool = randomBytes(poolBytes);
  let offset = 0;

  /** Uniform integer in [0, 2^53). */
  function next53(): number {
    if (offset + 7 > pool.length) {
      pool = randomBytes(poolBytes);
      offset = 0;
    }
    // 21 high bits from the first three bytes, 32 low bits from the next four.
    const high = pool.readUIntBE(offset, 3) & 0x1fffff;
    const low = pool.readUInt32BE(offset + 3);
    offset += 7;
    return high * 2 ** 32 + low;
  }

  return {
    // Every fork is a CSPRNG stream of its own: nothing to derive, nothing to replay.
    fork: () => createRealRandom(),
    float: () => next53() / twoPow53,
    int(maxExclusive: number): number {
      if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
        throw new RangeError(`random.int: maxExclusive must be a safe integer >= 1, got ${maxExclusive}`);
      }
      // Rejection sampling: drop the top partial bucket so every result is equally likely.
      const limit = twoPow53 - (twoPow53 % maxExclusive);
      while (true) {
        const value = next53();
        if (value < limit) return value % maxExclusive;
      }
    },
    bytes(length: number): Uint8Array {
      // A plain Uint8Array (not a Buffer) so callers comparing byte arrays see one type.
      return randomFillSync(new Uint8Array(length));
    },
  };
}
