/**
 * Cheap incremental hash of the processed events (32-bit FNV-1a style, one
 * 32-bit word per step, plus a murmur finaliser on read). Two runs that process
 * the same events at the same times end with the same value.
 */
export class TraceHash {
  private state = 0x811c9dc5;
  private readonly float = new Float64Array(1);
  private readonly words = new Uint32Array(this.float.buffer);

  mixWord(word: number): void {
    this.state = Math.imul(this.state ^ word, 0x01000193);
    this.state ^= this.state >>> 15;
  }

  mixFloat(value: number): void {
    this.float[0] = value;
    this.mixWord(this.words[0] as number);
    this.mixWord(this.words[1] as number);
  }

  /** Eight hex digits. */
  digest(): string {
    let h = this.state;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0).toString(16).padStart(8, '0');
  }
}
