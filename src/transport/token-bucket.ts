/**
 * A token bucket on the caller's clock (sans-IO): `ratePerSecond` tokens flow in, at most
 * `burst` are held, and each admitted event takes one. It starts full, so a peer that has
 * been quiet may burst before the rate applies.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.updatedAtMs = nowMs;
  }

  /** Takes a token if one is there; false means the caller is over its rate. */
  take(nowMs: number): boolean {
    // A clock that steps back refills nothing (and takes nothing back).
    if (nowMs > this.updatedAtMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedAtMs) * this.ratePerSecond) / 1_000);
      this.updatedAtMs = nowMs;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
