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
    /** Both let go once cancelled: a cancelled timer stays queued until its time, its closure need not. */
    public target: EventTarget | null,
    public payload: unknown,
    readonly source: unknown,
    readonly byteLength: number,
  ) {}

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.target = null;
    this.payload = null;
    if (this.queued) this.queue.noteCancelled();
  }
}

/** Rebuilding the heap pays off only when cancelled events dominate a big heap. */
const COMPACT_MIN_CANCELLED = 4096;
const INITIAL_CAPACITY = 1024;
/** Children per heap node: a shallower heap, and the children's keys share a cache line. */
const ARITY = 4;

/**
 * Events in total order by (time, insertion sequence). Cancelled events are removed lazily.
 *
 * A 4-ary min-heap whose keys live in typed arrays beside the events: with a
 * million pending events the sift loops compare numbers in contiguous memory
 * instead of chasing event objects spread over the heap.
 */
export class EventQueue {
  private events: Array<SimEvent | undefined> = new Array<SimEvent | undefined>(INITIAL_CAPACITY);
  private times = new Float64Array(INITIAL_CAPACITY);
  private sequences = new Float64Array(INITIAL_CAPACITY);
  private size = 0;
  private nextSequence = 0;
  private cancelledCount = 0;

  get length(): number {
    return this.size;
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
    if (this.size === this.times.length) this.grow();
    this.siftUp(this.size++, event);
    return event;
  }

  peek(): SimEvent | undefined {
    return this.size > 0 ? this.events[0] : undefined;
  }

  pop(): SimEvent | undefined {
    if (this.size === 0) return undefined;
    const event = this.events[0] as SimEvent;
    const last = --this.size;
    if (last > 0) this.siftDown(0, this.events[last] as SimEvent);
    this.events[last] = undefined;
    event.queued = false;
    if (event.cancelled) this.cancelledCount--;
    return event;
  }

  noteCancelled(): void {
    this.cancelledCount++;
    // Protocols reset timeouts constantly; without compaction the heap fills with dead timers.
    if (this.cancelledCount >= COMPACT_MIN_CANCELLED && this.cancelledCount * 2 > this.size) {
      this.compact();
    }
  }

  /** Places `event` at `index` or above, moving earlier-ordered parents down. */
  private siftUp(index: number, event: SimEvent): void {
    const { events, times, sequences } = this;
    const time = event.timeMs;
    const sequence = event.sequence;
    while (index > 0) {
      const parent = ((index - 1) / ARITY) | 0;
      const parentTime = times[parent] as number;
      if (parentTime < time || (parentTime === time && (sequences[parent] as number) < sequence)) break;
      events[index] = events[parent];
      times[index] = parentTime;
      sequences[index] = sequences[parent] as number;
      index = parent;
    }
    events[index] = event;
    times[index] = time;
    sequences[index] = sequence;
  }

  /** Places `event` at `index` or below, moving the earliest child up at each level. */
  private siftDown(index: number, event: SimEvent): void {
    const { events, times, sequences, size } = this;
    const time = event.timeMs;
    const sequence = event.sequence;
    while (true) {
      const first = index * ARITY + 1;
      if (first >= size) break;
      let best = first;
      let bestTime = times[first] as number;
      let bestSequence = sequences[first] as number;
      const end = Math.min(first + ARITY, size);
      for (let child = first + 1; child < end; child++) {
        const childTime = times[child] as number;
        if (childTime < bestTime || (childTime === bestTime && (sequences[child] as number) < bestSequence)) {
          best = child;
          bestTime = childTime;
          bestSequence = sequences[child] as number;
        }
      }
      if (time < bestTime || (time === bestTime && sequence < bestSequence)) break;
      events[index] = events[best];
      times[index] = bestTime;
      sequences[index] = bestSequence;
      index = best;
    }
    events[index] = event;
    times[index] = time;
    sequences[index] = sequence;
  }

  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    times.set(this.times);
    const sequences = new Float64Array(capacity);
    sequences.set(this.sequences);
    this.times = times;
    this.sequences = sequences;
    this.events.length = capacity;
  }

  private compact(): void {
    const live: SimEvent[] = [];
    for (let index = 0; index < this.size; index++) {
      const event = this.events[index] as SimEvent;
      if (event.cancelled) event.queued = false;
      else live.push(event);
    }
    this.events.fill(undefined, 0, this.size);
    this.size = 0;
    this.cancelledCount = 0;
    for (const event of live) this.siftUp(this.size++, event);
  }
}
