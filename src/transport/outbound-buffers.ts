/**
 * One cap on the bytes the node's connections have written that their peers have not taken
 * yet (the streams' send buffers), charged from the node's memory allocation. Without it a
 * peer that asks and never reads makes the node hold up to `maxBufferedWriteBytes` per
 * connection: 16 GiB over 1,024 connections. A holder's figure is what its stream reported
 * at its own last write, so the figures of holders that stopped writing go stale as their
 * buffers drain (they can only be too high): `recount` reads them all again before anyone
 * is dropped for the cap.
 */
export class OutboundBuffers<Holder> {
  private readonly held = new Map<Holder, number>();
  private used = 0;

  constructor(readonly capacityBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  get overCapacity(): boolean {
    return this.used > this.capacityBytes;
  }

  /** What `holder` has buffered now (0 once it closed); false when all holders together are over the cap. */
  record(holder: Holder, bytes: number): boolean {
    const before = this.held.get(holder) ?? 0;
    if (bytes > 0) this.held.set(holder, bytes);
    else this.held.delete(holder);
    this.used += bytes - before;
    return !this.overCapacity;
  }

  /** Reads every holder's buffer again. */
  recount(current: (holder: Holder) => number): void {
    for (const holder of [...this.held.keys()]) this.record(holder, current(holder));
  }

  /** The holders, the largest buffer first. */
  largestFirst(): Holder[] {
    return [...this.held].sort((a, b) => b[1] - a[1]).map(([holder]) => holder);
  }
}
