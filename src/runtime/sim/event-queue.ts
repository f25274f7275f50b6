import TinyQueue from 'tinyqueue';
import type { TimerHandle } from '../types.js';
import type { SimHost } from './host.js';

/** Event kinds; small integers so they can be mixed into the trace hash. */
export const EventKind = {
  Timer: 1,
  StreamData: 2,
  StreamFin: 3,
  StreamReset: 4,
  StreamFlush: 5,
  StreamLocalClose: 6,
  ConnectSyn: 7,
  ConnectReply: 8,
  ConnectTimeout: 9,
  Datagram: 10,
  StreamLinger: 11,
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

/** Something an event is delivered to. Returns true when it ran user code (so microtasks must be drained). */
export interface EventTarget {
  handleEvent(event: SimEvent): boolean;
}

/**
 * One scheduled event. A single class with fixed fields (rather than closures or
 * one class per kind) keeps the heap's comparator monomorphic and allocations low.
 * It doubles as the `TimerHandle` of a timer: cancelling only flags it.
 */
export class SimEvent implements TimerHandle {
  cancelled = false;
  queued = true;

  constructor(
    private readonly queue: EventQueue,
    readonly timeMs: number,
    readonly sequence: number,
    readonly kind: EventKind,
    /** The host whose code the event runs on; the event is dropped if it has crashed. */
    readonly host: SimHost,
    readonly target: EventTarget | null,
    readonly payload: unknown,
    readonly source: unknown,
    readonly byteLength: number,
  ) {}

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.queued) this.queue.noteCancelled();
  }
}

function compareEvents(a: SimEvent, b: SimEvent): number {
  return a.timeMs - b.timeMs || a.sequence - b.sequence;
}

/** Rebuilding the heap pays off only when cancelled events dominate a big heap. */
const COMPACT_MIN_CANCELLED = 4096;

/** Events in total order by (time, insertion sequence). Cancelled events are removed lazily. */
export class EventQueue {
  private heap = new TinyQueue<SimEvent>([], compareEvents);
  private nextSequence = 0;
  private cancelledCount = 0;

  get length(): number {
    return this.heap.length;
  }

  push(
    timeMs: number,
    kind: EventKind,
    host: SimHost,
    target: EventTarget | null,
    payload: unknown,
    source: unknown,
    byteLength: number,
  ): SimEvent {
    const event = new SimEvent(this, timeMs, this.nextSequence++, kind, host, target, payload, source, byteLength);
    this.heap.push(event);
    return event;
  }

  peek(): SimEvent | undefined {
    return this.heap.peek();
  }

  pop(): SimEvent | undefined {
    const event = this.heap.pop();
    if (event !== undefined) {
      event.queued = false;
      if (event.cancelled) this.cancelledCount--;
    }
    return event;
  }

  noteCancelled(): void {
    this.cancelledCount++;
    // Protocols reset timeouts constantly; without compaction the heap fills with dead timers.
    if (this.cancelledCount >= COMPACT_MIN_CANCELLED && this.cancelledCount * 2 > this.heap.length) {
      this.compact();
    }
  }

  private compact(): void {
    const live: SimEvent[] = [];
    for (const event of this.heap.data) {
      if (event.cancelled) event.queued = false;
      else live.push(event);
    }
    this.heap = new TinyQueue<SimEvent>(live, compareEvents);
    this.cancelledCount = 0;
  }
}
