import { DatagramRouter } from './datagrams.js';
import { EventQueue, type EventKind, type EventTarget, type SimEvent } from './event-queue.js';
import type { SimHost } from './host.js';
import type { SeededRandom } from './random.js';
import { ChannelTickets } from './secure-carrier.js';
import { TraceHash } from './trace-hash.js';

export interface LinkConditions {
  /** One-way base latency. */
  latencyMs: number;
  /** Uniform extra one-way delay in [0, jitterMs). */
  jitterMs: number;
  /** Probability in [0, 1] that a datagram is dropped or a stream segment needs a retransmission. */
  lossRate: number;
}

export const DEFAULT_LINK_CONDITIONS: Readonly<LinkConditions> = { latencyMs: 1, jitterMs: 0.5, lossRate: 0 };

/** Counters for the testbed; plain mutable numbers so bumping them is free. */
export interface SimStats {
  eventsProcessed: number;
  /** Cancelled timers and events whose host had crashed. */
  eventsSkipped: number;
  streamChunksDelivered: number;
  streamBytesDelivered: number;
  /** Chunks lost to crashes or partitions (retransmitted chunks are delayed, not counted here). */
  streamChunksDropped: number;
  streamChunksRetransmitted: number;
  connectsEstablished: number;
  connectsRefused: number;
  connectsTimedOut: number;
  datagramsDelivered: number;
  datagramBytesDelivered: number;
  datagramsDropped: number;
}

function emptyStats(): SimStats {
  return {
    eventsProcessed: 0,
    eventsSkipped: 0,
    streamChunksDelivered: 0,
    streamBytesDelivered: 0,
    streamChunksDropped: 0,
    streamChunksRetransmitted: 0,
    connectsEstablished: 0,
    connectsRefused: 0,
    connectsTimedOut: 0,
    datagramsDelivered: 0,
    datagramBytesDelivered: 0,
    datagramsDropped: 0,
  };
}

export function validateLinkConditions(link: LinkConditions): void {
  if (!(link.latencyMs >= 0) || !Number.isFinite(link.latencyMs)) {
    throw new RangeError(`latencyMs must be a finite number >= 0, got ${link.latencyMs}`);
  }
  if (!(link.jitterMs >= 0) || !Number.isFinite(link.jitterMs)) {
    throw new RangeError(`jitterMs must be a finite number >= 0, got ${link.jitterMs}`);
  }
  if (!(link.lossRate >= 0 && link.lossRate <= 1)) {
    throw new RangeError(`lossRate must be within [0, 1], got ${link.lossRate}`);
  }
}

/**
 * The shared state of the simulated world that hosts, streams and datagram
 * sockets reach: the clock, the event queue, link sampling, partitions and hosts.
 */
export class Network {
  nowMs = 0;
  readonly queue = new EventQueue();
  readonly stats: SimStats = emptyStats();
  readonly trace = new TraceHash();
  readonly hosts: SimHost[] = [];
  readonly hostsByName = new Map<string, SimHost>();
  readonly datagrams = new DatagramRouter(this);
  link: LinkConditions;
  private readonly partitions: { a: ReadonlySet<SimHost>; b: ReadonlySet<SimHost> }[] = [];

  /** What proves an end's identity across a carrier (`Runtime.secure`). */
  readonly channelTickets: ChannelTickets;
  /** Draws the streams' channel bindings: a stream of its own, so latencies and losses draw as before. */
  private readonly bindingRandom: SeededRandom;

  constructor(
    /** Draws latencies and losses; one stream for the whole network, consumed in event order. */
    private readonly random: SeededRandom,
    link: LinkConditions,
  ) {
    validateLinkConditions(link);
    this.link = link;
    this.bindingRandom = random.fork('channel-bindings');
    const ticketRandom = random.fork('channel-tickets');
    this.channelTickets = new ChannelTickets((length) => ticketRandom.bytes(length));
  }

  /** 32 random bytes the two ends of a new stream share, as TLS exported keying material would be. */
  channelBinding(): Uint8Array {
    return this.bindingRandom.bytes(32);
  }

  schedule(
    timeMs: number,
    kind: EventKind,
    host: SimHost,
    target: EventTarget | null,
    payload: unknown,
    source: unknown,
    byteLength: number,
  ): SimEvent {
    return this.queue.push(timeMs, kind, host, target, payload, source, byteLength);
  }

  /** An event without payload (timeouts, handshake steps, local closes). */
  scheduleSignal(timeMs: number, kind: EventKind, host: SimHost, target: EventTarget): SimEvent {
    return this.queue.push(timeMs, kind, host, target, undefined, null, 0);
  }

  sampleOneWayMs(): number {
    const { latencyMs, jitterMs } = this.link;
    return jitterMs > 0 ? latencyMs + this.random.float() * jitterMs : latencyMs;
  }

  sampleLoss(): boolean {
    const { lossRate } = this.link;
    return lossRate > 0 && this.random.float() < lossRate;
  }

  addPartition(a: ReadonlySet<SimHost>, b: ReadonlySet<SimHost>): void {
    this.partitions.push({ a, b });
  }

  clearPartitions(): void {
    this.partitions.length = 0;
  }

  isPartitioned(x: SimHost, y: SimHost): boolean {
    if (this.partitions.length === 0 || x === y) return false;
    for (const { a, b } of this.partitions) {
      if ((a.has(x) && b.has(y)) || (a.has(y) && b.has(x))) return true;
    }
    return false;
  }

  /** True when packets between the two hosts can flow right now. */
  canReach(from: SimHost, to: SimHost): boolean {
    return from.alive && to.alive && !this.isPartitioned(from, to);
  }
}
