import type { ByteCarrier, Runtime, StreamHandlers } from '../../src/runtime/types.js';

/** What a carrier in between sees and does: every chunk it carries, each way, and what it forwards instead. */
export interface CarrierPath {
  /** Chunks carried from the first end to the second, then back, as they were written. */
  readonly forward: Uint8Array[];
  readonly backward: Uint8Array[];
  /** Rewrites a chunk on its way (a hostile relay); identity when unset. */
  tamper?: (chunk: Uint8Array, direction: 'forward' | 'backward') => Uint8Array;
}

class PipeEnd implements ByteCarrier {
  readonly localAddress = { host: 'carrier', port: 1 };
  readonly remoteAddress = { host: 'carrier', port: 2 };
  other!: PipeEnd;
  private handlers: StreamHandlers | undefined;
  private readonly early: Uint8Array[] = [];
  private closed = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly path: CarrierPath,
    private readonly direction: 'forward' | 'backward',
  ) {}

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    for (const chunk of this.early.splice(0)) handlers.onData(chunk);
    if (this.closed) handlers.onClose();
  }

  write(chunk: Uint8Array): void {
    if (this.closed) return;
    const copy = new Uint8Array(chunk);
    (this.direction === 'forward' ? this.path.forward : this.path.backward).push(copy);
    const carried = this.path.tamper ? this.path.tamper(copy, this.direction) : copy;
    // Delivered from the runtime's event loop, as a relay's message would be.
    this.runtime.setTimer(0, () => this.other.deliver(carried));
  }

  bufferedBytes(): number {
    return 0;
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.close();
    this.runtime.setTimer(0, () => this.other.close());
  }

  private deliver(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.onData(chunk);
    else this.early.push(chunk);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose();
  }
}

/** Two carrier ends joined in memory (as a relay circuit joins them), on `runtime`'s event loop. */
export function carrierPair(runtime: Runtime, path: CarrierPath = { forward: [], backward: [] }): { first: ByteCarrier; second: ByteCarrier; path: CarrierPath } {
  const first = new PipeEnd(runtime, path, 'forward');
  const second = new PipeEnd(runtime, path, 'backward');
  first.other = second;
  second.other = first;
  return { first, second, path };
}
