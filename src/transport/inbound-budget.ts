/**
 * One cap on the bytes of partial inbound frames that every connection of a node holds
 * together, charged from the node's memory allocation: a frame that completes is released
 * at once, so only bytes a peer leaves hanging are held against the cap.
 */
export class InboundBudget {
  private used = 0;

  constructor(readonly capacityBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** Charges `bytes` if they fit; false (nothing charged) if they do not. */
  tryCharge(bytes: number): boolean {
    if (this.used + bytes > this.capacityBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
