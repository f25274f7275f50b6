import { formatAddress, type Address, type Random } from '../runtime/types.js';

/**
 * When to try the bootstrap addresses (sans-IO): at once at start, then again
 * with exponential backoff (±25 % jitter, capped) for as long as the node knows
 * no host, and at once whenever its list empties again. A node whose bootstrap
 * peer was down at its start therefore joins when that peer comes up, instead
 * of staying alone for good.
 *
 * While the node knows hosts, only the configured addresses that have never
 * answered keep being retried (same backoff): a node given two Ambassadors, one
 * of them down at its start, still meets the second when it comes up. A
 * bootstrap peer that answered once costs nothing more while the node knows
 * anyone, and hosts restored from disk are only tried while it knows no one.
 */
export class BootstrapSchedule {
  private delayMs: number;
  private nextAtMs: number;
  private knowsAnyone = false;
  private readonly answeredKeys = new Set<string>();

  constructor(
    private readonly addresses: readonly Address[],
    private readonly configured: readonly Address[],
    private readonly random: Random,
    private readonly firstRetryMs: number,
    private readonly maxRetryMs: number,
    nowMs: number,
  ) {
    this.delayMs = firstRetryMs;
    this.nextAtMs = nowMs;
  }

  /** The known-host list changed: an empty list starts the retries again at once, from the first delay. */
  listChanged(nowMs: number, knowsAnyone: boolean): void {
    const emptied = this.knowsAnyone && !knowsAnyone;
    this.knowsAnyone = knowsAnyone;
    if (knowsAnyone) {
      if (this.unanswered().length === 0) this.nextAtMs = Infinity;
    } else if (emptied || this.nextAtMs === Infinity) {
      this.nextAtMs = nowMs;
      this.delayMs = this.firstRetryMs;
    }
  }

  /** `address` answered an introduction: while hosts are known it is not tried again. */
  answered(address: Address): void {
    this.answeredKeys.add(formatAddress(address));
    if (this.knowsAnyone && this.unanswered().length === 0) this.nextAtMs = Infinity;
  }

  /** The addresses to try now (all of them while no host is known, else the configured ones never answered), scheduling the next attempt. */
  due(nowMs: number): readonly Address[] {
    if (nowMs < this.nextAtMs) return [];
    const targets = this.knowsAnyone ? this.unanswered() : this.addresses;
    if (targets.length === 0) {
      this.nextAtMs = Infinity;
      return [];
    }
    this.nextAtMs = nowMs + this.delayMs * (0.75 + 0.5 * this.random.float());
    this.delayMs = Math.min(this.maxRetryMs, this.delayMs * 2);
    return targets;
  }

  nextDeadline(): number {
    return this.addresses.length === 0 ? Infinity : this.nextAtMs;
  }

  private unanswered(): Address[] {
    return this.configured.filter((address) => !this.answeredKeys.has(formatAddress(address)));
  }
}
