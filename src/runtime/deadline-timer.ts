import type { Runtime, TimerHandle } from './types.js';

/**
 * One timer armed at an absolute deadline on the runtime's clock, as sans-IO
 * cores report "call me again at": arming again replaces the earlier deadline,
 * and `Infinity` means no deadline.
 */
export class DeadlineTimer {
  private handle: TimerHandle | undefined;
  private deadlineMs = Infinity;

  constructor(
    private readonly runtime: Runtime,
    /** Called with the deadline it was armed at: how late it runs shows how far the event loop fell behind. */
    private readonly onDeadline: (deadlineMs: number) => void,
  ) {}

  /** The deadline armed now; `Infinity` when none is. */
  get armedAtMs(): number {
    return this.deadlineMs;
  }

  armAt(deadlineMs: number): void {
    this.cancel();
    if (deadlineMs === Infinity) return;
    this.deadlineMs = deadlineMs;
    this.handle = this.runtime.setTimer(Math.max(0, deadlineMs - this.runtime.now()), () => {
      this.handle = undefined;
      this.deadlineMs = Infinity;
      this.onDeadline(deadlineMs);
    });
  }

  cancel(): void {
    this.handle?.cancel();
    this.handle = undefined;
    this.deadlineMs = Infinity;
  }
}
