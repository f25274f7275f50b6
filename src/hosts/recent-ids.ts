/**
 * A bounded set of node ids, oldest forgotten first, kept as 28-bit
 * fingerprints in one typed array. A node hears every id of its LAN; as
 * strings, the 1,024 it remembers cost about 100 KB per node, more than the
 * rest of an idle node, while the fingerprints cost 4 KB.
 *
 * Node ids are SHA-256 digests in hex, so their first 7 digits are uniformly
 * random: a false match, which only makes `has` answer yes for an id never
 * added, happens about once in 2^28 / capacity lookups.
 */
export class RecentIds {
  /** Grown by doubling up to `capacity`: a node on a small LAN never pays for 1,024. */
  private fingerprints = new Uint32Array(0);
  private count = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.count;
  }

  /** Remembers `id` as the most recent, forgetting the oldest when full. */
  add(id: string): void {
    const fingerprint = fingerprintOf(id);
    const held = this.held();
    const index = held.indexOf(fingerprint);
    if (index >= 0) {
      held.copyWithin(index, index + 1); // move it to the recent end
      held[this.count - 1] = fingerprint;
      return;
    }
    if (this.count === this.capacity) {
      held.copyWithin(0, 1);
      held[this.count - 1] = fingerprint;
      return;
    }
    if (this.count === this.fingerprints.length) this.grow();
    this.fingerprints[this.count++] = fingerprint;
  }

  has(id: string): boolean {
    return this.held().includes(fingerprintOf(id));
  }

  private grow(): void {
    const grown = new Uint32Array(Math.min(this.capacity, Math.max(16, this.fingerprints.length * 2)));
    grown.set(this.fingerprints);
    this.fingerprints = grown;
  }

  private held(): Uint32Array {
    return this.fingerprints.subarray(0, this.count);
  }
}

/** The first 7 hex digits as a number; other strings (never a valid node id) hash to some value all the same. */
function fingerprintOf(id: string): number {
  let value = 0;
  for (let index = 0; index < 7; index += 1) {
    const code = id.charCodeAt(index);
    const digit = code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 102 ? code - 87 : code & 15;
    value = value * 16 + digit;
  }
  return value;
}
