import type { HostQuality } from '../hosts/known-hosts.js';
import type { HostEntry } from '../hosts/messages.js';
import type { Address, Random } from '../runtime/types.js';
import { discoveryDatagramCodec, pongSampleCodec, type DiscoveryDatagram, type Ping, type Pong } from './messages.js';

export interface DiscoveryOptions {
  /** Multicast discovery on or off (bootstrap addresses and peer exchange still work when off). */
  enabled: boolean;
  /** IPv4 multicast group of the LAN (administratively scoped range). */
  multicastGroup: string;
  /** UDP port every node binds (with address reuse) to hear the group. */
  port: number;
  /** Local interface address to join the group on; every interface when unset. */
  multicastInterface: string | undefined;
  /** PINGs while the node knows no host, about this often (±50 % jitter). */
  pingIntervalMs: number;
  /**
   * Answers to one PING are spread over this window, widened in proportion on a LAN of more
   * than 25 peers; those not yet sent when the pinger announces it has enough are dropped.
   */
  pongSpreadMs: number;
  /** PONGs after which a pinger announces that it has enough (ANSWERED), so the others stay quiet. */
  pongsPerPing: number;
  /** Hosts sampled into one PONG. */
  pongSampleSize: number;
  /** Larger datagrams are dropped before decoding. */
  maxDatagramBytes: number;
  /** Datagrams processed per second at most (burst of the same size); the excess is dropped unread. */
  maxDatagramsPerSecond: number;
}

export const defaultDiscoveryOptions: DiscoveryOptions = {
  enabled: true,
  multicastGroup: '239.255.77.77',
  port: 47_477,
  multicastInterface: undefined,
  pingIntervalMs: 1_000,
  pongSpreadMs: 100,
  pongsPerPing: 3,
  pongSampleSize: 8,
  maxDatagramBytes: 1_400,
  maxDatagramsPerSecond: 200,
};

const none: readonly never[] = Object.freeze([]);

/** Answers scheduled at once; PINGs beyond are not answered (a flood cannot grow this). */
const maxPendingPongs = 64;

/**
 * LAN peers per `pongSpreadMs` of answer window. An answer is dropped only once the pinger's
 * ANSWERED reaches it, about two LAN latencies after the third answer: answers due in between
 * are sent anyway. A window that grows with the LAN keeps their number (LAN size × latency ÷
 * window) from growing with it (5 – 6 PONGs per PING on simulated LANs of 250), and the first
 * answer still comes within about pongSpreadMs ÷ 25 on any LAN larger than 25 nodes.
 */
const lanPeersPerPongSpread = 25;

/** What the core reads from its node, synchronously and without I/O. */
export interface DiscoveryLocal {
  readonly id: string;
  readonly networkId: string;
  /** The TCP address the node listens on (host 0.0.0.0 or :: when on every interface). */
  listenAddress(): Address;
  knowsAnyone(): boolean;
  quality(): HostQuality;
  sample(count: number, exceptId: string): HostEntry[];
  /** Distinct nodes recently heard on the LAN's group: an estimate of the LAN's size. */
  lanPeers(): number;
}

/** A host heard of through discovery; `forced` for a pinger this node answers: it knows no one, so SPEC §3 always accepts it. */
export interface DiscoveredHost {
  id: string;
  address: Address;
  quality: HostQuality | undefined;
  forced: boolean;
  /** Heard on the multicast group itself (not a host sampled into a PONG): certainly on this LAN. */
  onLan: boolean;
}

export interface OutgoingDatagram {
  kind: 'ping' | 'pong' | 'answered';
  bytes: Uint8Array;
  /** Unicast destination (a PONG goes to the pinger's reply port); multicast to the group when unset. */
  to?: Address;
}

export interface DiscoveryStats {
  received: number;
  oversized: number;
  rateLimited: number;
  malformed: number;
  foreignNetwork: number;
  /** PONGs that reached this node's reply port but answer another node (e.g. one that used the port before). */
  stray: number;
}

interface PendingPong {
  dueAt: number;
  pinger: DiscoveredHost;
  /** The pinger's reply socket: the PING's source address and its `replyPort`. */
  replyTo: Address;
}

/**
 * LAN discovery, sans I/O: datagrams and `now` go in; datagrams to send,
 * discovered hosts and the next deadline come out. The adapter (service.ts)
 * owns the sockets (the group's and this node's reply socket) and the single timer.
 *
 * A node that knows no one multicasts PING; the others answer it after a random
 * delay with a unicast PONG to its reply socket; once it has `pongsPerPing`
 * answers it multicasts ANSWERED and the nodes still waiting stay quiet. A join
 * thus costs a LAN of n nodes about 2n datagrams received, whatever n.
 */
export class DiscoveryCore {
  readonly stats: DiscoveryStats = { received: 0, oversized: 0, rateLimited: 0, malformed: 0, foreignNetwork: 0, stray: 0 };
  private outgoing: OutgoingDatagram[] = [];
  private discovered: DiscoveredHost[] = [];
  /** Pinging id -> when to answer it, and where. */
  private readonly pendingPongs = new Map<string, PendingPong>();
  private nextPingAt: number | undefined;
  /** PONGs received since this node last pinged, and whether it announced it had enough. */
  private answersSincePing = 0;
  private answeredAnnounced = true;
  /** Due time of the first pending PONG, so that a datagram's step does not walk them all. */
  private earliestPongAt = Infinity;
  private tokens: number;
  private tokensAt: number;

  constructor(
    private readonly local: DiscoveryLocal,
    private readonly options: DiscoveryOptions,
    private readonly random: Random,
    now: number,
    /** The UDP port of this node's reply socket, announced in its PINGs. */
    private readonly replyPort: number,
  ) {
    this.tokens = options.maxDatagramsPerSecond;
    this.tokensAt = now;
  }

  /** Handles one datagram with bounded work; anything unwanted is counted and dropped. */
  receive(bytes: Uint8Array, from: Address, now: number): void {
    this.stats.received += 1;
    if (!this.takeToken(now)) {
      this.stats.rateLimited += 1;
      return;
    }
    if (bytes.byteLength > this.options.maxDatagramBytes) {
      this.stats.oversized += 1;
      return;
    }
    let message: DiscoveryDatagram;
    try {
      message = discoveryDatagramCodec.decode(bytes);
    } catch {
      this.stats.malformed += 1;
      return;
    }
    if (message.networkId !== this.local.networkId) {
      this.stats.foreignNetwork += 1;
      return;
    }
    if (message.id === this.local.id) return; // our own, looped back
    if (message.type === 'ping') this.receivePing(message, from, now);
    else if (message.type === 'pong') this.receivePong(message, from);
    else this.dropPendingPong(message.id);
  }

  private receivePing(ping: Ping, from: Address, now: number): void {
    const address = { host: ping.host ?? from.host, port: ping.port };
    this.discovered.push({ id: ping.id, address, quality: ping.quality, forced: false, onLan: true });
    const pinger = { id: ping.id, address, quality: ping.quality, forced: true, onLan: true };
    this.schedulePong(pinger, { host: from.host, port: ping.replyPort }, now);
  }

  private receivePong(pong: Pong, from: Address): void {
    if (pong.to !== this.local.id) {
      this.stats.stray += 1;
      return;
    }
    let hosts: HostEntry[];
    try {
      hosts = pongSampleCodec.decode(pong.hosts);
    } catch {
      this.stats.malformed += 1;
      return;
    }
    // It heard this node's multicast PING: it is on this LAN.
    this.discovered.push({ id: pong.id, address: { host: pong.host ?? from.host, port: pong.port }, quality: pong.quality, forced: false, onLan: true });
    for (const entry of hosts) {
      if (entry.id === this.local.id) continue;
      this.discovered.push({ id: entry.id, address: { host: entry.host, port: entry.port }, quality: undefined, forced: false, onLan: false });
    }
    this.answersSincePing += 1;
    if (!this.answeredAnnounced && this.answersSincePing >= this.options.pongsPerPing) {
      this.answeredAnnounced = true;
      const answered = { type: 'answered' as const, networkId: this.local.networkId, id: this.local.id };
      this.outgoing.push({ kind: 'answered', bytes: discoveryDatagramCodec.encode(answered) });
    }
  }

  /** Sends what is due at `now`: a PING while no host is known, PONGs whose time came. */
  tick(now: number): void {
    if (this.local.knowsAnyone()) {
      this.nextPingAt = undefined;
    } else if (this.nextPingAt === undefined) {
      // Just started, or the list emptied: ping soon, but not in lockstep with other nodes.
      this.nextPingAt = now + this.random.float() * Math.min(50, this.options.pingIntervalMs);
    } else if (now >= this.nextPingAt) {
      this.outgoing.push({ kind: 'ping', bytes: discoveryDatagramCodec.encode({ ...this.header('ping'), replyPort: this.replyPort }) });
      this.answersSincePing = 0;
      this.answeredAnnounced = false;
      this.nextPingAt = now + this.options.pingIntervalMs * (0.5 + this.random.float());
    }
    if (now >= this.earliestPongAt) this.sendDuePongs(now);
  }

  /** Answers the PINGs whose time came (those whose pinger announced enough answers were dropped). */
  private sendDuePongs(now: number): void {
    let earliest = Infinity;
    for (const [id, pending] of this.pendingPongs) {
      if (pending.dueAt > now) {
        earliest = Math.min(earliest, pending.dueAt);
        continue;
      }
      this.pendingPongs.delete(id);
      // The few nodes that answer also take the pinger in, whatever its class: it knows no one (SPEC §3).
      this.discovered.push(pending.pinger);
      const hosts = pongSampleCodec.encode(this.local.sample(this.options.pongSampleSize, id));
      this.outgoing.push({ kind: 'pong', bytes: discoveryDatagramCodec.encode({ ...this.header('pong'), to: id, hosts }), to: pending.replyTo });
    }
    this.earliestPongAt = earliest;
  }

  /** When `tick` next has something to do; Infinity when nothing is pending. */
  nextDeadline(): number {
    return Math.min(this.nextPingAt ?? Infinity, this.earliestPongAt);
  }

  takeOutgoing(): readonly OutgoingDatagram[] {
    if (this.outgoing.length === 0) return none; // most steps send nothing: no new array each time
    const outgoing = this.outgoing;
    this.outgoing = [];
    return outgoing;
  }

  takeDiscovered(): readonly DiscoveredHost[] {
    if (this.discovered.length === 0) return none;
    const discovered = this.discovered;
    this.discovered = [];
    return discovered;
  }

  private header<Type extends 'ping' | 'pong'>(type: Type) {
    const { host, port } = this.local.listenAddress();
    const header = { type, networkId: this.local.networkId, id: this.local.id, port, quality: this.local.quality() };
    return host === '0.0.0.0' || host === '::' ? header : { ...header, host };
  }

  private schedulePong(pinger: DiscoveredHost, replyTo: Address, now: number): void {
    if (this.pendingPongs.has(pinger.id) || this.pendingPongs.size >= maxPendingPongs) return;
    const spreadMs = this.options.pongSpreadMs * Math.max(1, this.local.lanPeers() / lanPeersPerPongSpread);
    const dueAt = now + this.random.float() * spreadMs;
    this.pendingPongs.set(pinger.id, { dueAt, pinger, replyTo });
    this.earliestPongAt = Math.min(this.earliestPongAt, dueAt);
  }

  /** The pinger has enough answers: this node stays quiet, and its timer need not wake it for nothing. */
  private dropPendingPong(id: string): void {
    const pending = this.pendingPongs.get(id);
    if (pending === undefined) return;
    this.pendingPongs.delete(id);
    if (pending.dueAt > this.earliestPongAt) return;
    let earliest = Infinity;
    for (const pending of this.pendingPongs.values()) earliest = Math.min(earliest, pending.dueAt);
    this.earliestPongAt = earliest;
  }

  private takeToken(now: number): boolean {
    const rate = this.options.maxDatagramsPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
