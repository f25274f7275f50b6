import type { Address, Random } from '../runtime/types.js';

/**
 * When to try the bootstrap addresses (sans-IO): at once at start, then again
 * with exponential backoff (±25 % jitter, capped) for as long as the node knows
 * no host, and at once whenever its list empties again. A node whose bootstrap
 * peer was down at its start therefore joins when that peer comes up, instead
 * of staying alone for good; a node that knows hosts costs its bootstrap peers nothing.
 */
export class BootstrapSchedule {
  private delayMs: number;
  private nextAtMs: number;

  constructor(
    private readonly addresses: readonly Address[],
    private readonly random: Random,
    private readonly firstRetryMs: number,
    private readonly maxRetryMs: number,
    nowMs: number,
  ) {
    this.delayMs = firstRetryMs;
    this.nextAtMs = nowMs;
  }

  /** The known-host list changed: knowing someone stops the retries, an empty list starts them again at once. */
  listChanged(nowMs: number, knowsAnyone: boolean): void {
    if (knowsAnyone) {
      this.nextAtMs = Infinity;
      this.delayMs = this.firstRetryMs;
    } else if (this.nextAtMs === Infinity) {
      this.nextAtMs = nowMs;
    }
  }

  /** The addresses to try now (all of them, when an attempt is due), scheduling the next attempt. */
  due(nowMs: number): readonly Address[] {
    if (this.addresses.length === 0 || nowMs < this.nextAtMs) return [];
    this.nextAtMs = nowMs + this.delayMs * (0.75 + 0.5 * this.random.float());
    this.delayMs = Math.min(this.maxRetryMs, this.delayMs * 2);
    return this.addresses;
  }

  nextDeadline(): number {
    return this.addresses.length === 0 ? Infinity : this.nextAtMs;
  }
}
