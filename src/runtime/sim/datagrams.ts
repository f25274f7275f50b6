import type { Address, DatagramSocket } from '../types.js';
import { copyBytes } from './bytes.js';
import { EventKind, type EventTarget, type SimEvent } from './event-queue.js';
import type { SimHost } from './host.js';
import type { Network } from './network.js';

type MessageHandler = (data: Uint8Array, from: Address) => void;

/** A UDP socket bound with address reuse and joined to one multicast group, or (without a group) a unicast socket of its own. */
export class SimDatagramSocket implements DatagramSocket, EventTarget {
  private handler: MessageHandler | null = null;
  closed = false;

  constructor(
    private readonly router: DatagramRouter,
    readonly host: SimHost,
    readonly localAddress: Address,
    readonly multicastGroup: string | undefined,
  ) {}

  /** Replaces the previous handler, as the real runtime does. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  sendToGroup(data: Uint8Array): void {
    if (this.multicastGroup === undefined) throw new TypeError('this datagram socket has no multicast group');
    if (this.closed || !this.host.alive) return;
    this.router.sendToGroup(this, data, this.multicastGroup);
  }

  send(data: Uint8Array, to: Address): void {
    if (this.closed || !this.host.alive) return;
    this.router.sendTo(this, data, to);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.router.unbind(this);
  }

  handleEvent(event: SimEvent): boolean {
    return this.router.deliver(this, event);
  }

  dispatch(data: Uint8Array, from: Address): boolean {
    if (this.handler === null) return false;
    this.handler(data, from);
    return true;
  }
}

/**
 * Routes datagrams. Multicast domains are subnets: a group send reaches every
 * socket bound to the same (group, port) on hosts of the sender's subnet,
 * including the sender's own host and the sender itself (multicast loopback).
 */
export class DatagramRouter {
  /** `subnet \0 group \0 port` -> sockets, in bind order (which keeps fan-out deterministic). */
  private readonly groups = new Map<string, Set<SimDatagramSocket>>();
  /** `host:port` -> sockets, for unicast. */
  private readonly bound = new Map<string, Set<SimDatagramSocket>>();
  private nextEphemeralPort = 50000;

  constructor(private readonly network: Network) {}

  open(host: SimHost, port: number, multicastGroup: string | undefined): SimDatagramSocket {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`invalid port ${port}`);
    }
    const chosen = port === 0 ? this.allocatePort() : port;
    const socket = new SimDatagramSocket(this, host, Object.freeze({ host: host.name, port: chosen }), multicastGroup);
    if (multicastGroup !== undefined) addTo(this.groups, groupKey(host.subnet, multicastGroup, chosen), socket);
    addTo(this.bound, boundKey(host.name, chosen), socket);
    host.datagramSockets.add(socket);
    return socket;
  }

  unbind(socket: SimDatagramSocket): void {
    const { host, localAddress } = socket;
    if (socket.multicastGroup !== undefined) removeFrom(this.groups, groupKey(host.subnet, socket.multicastGroup, localAddress.port), socket);
    removeFrom(this.bound, boundKey(host.name, localAddress.port), socket);
    host.datagramSockets.delete(socket);
  }

  sendToGroup(sender: SimDatagramSocket, data: Uint8Array, multicastGroup: string): void {
    const key = groupKey(sender.host.subnet, multicastGroup, sender.localAddress.port);
    this.fanOut(sender, data, this.groups.get(key));
  }

  sendTo(sender: SimDatagramSocket, data: Uint8Array, to: Address): void {
    this.fanOut(sender, data, this.bound.get(boundKey(to.host, to.port)));
  }

  deliver(socket: SimDatagramSocket, event: SimEvent): boolean {
    const sender = event.source as SimDatagramSocket;
    const network = this.network;
    // Sent before a crash or partition but still in flight: lost.
    if (socket.closed || !network.canReach(sender.host, socket.host)) {
      network.stats.datagramsDropped++;
      return false;
    }
    const data = event.payload as Uint8Array;
    network.stats.datagramsDelivered++;
    network.stats.datagramBytesDelivered += data.byteLength;
    return socket.dispatch(data, sender.localAddress);
  }

  /**
   * Each receiver independently draws loss and latency. They share one copy of the bytes,
   * taken from the sender's buffer (which it may reuse): received bytes are read-only (see
   * `DatagramSocket.onMessage`), so a copy for each of the 250 nodes of a LAN buys nothing.
   */
  private fanOut(sender: SimDatagramSocket, data: Uint8Array, receivers: Set<SimDatagramSocket> | undefined): void {
    if (receivers === undefined) return;
    const network = this.network;
    const copy = copyBytes(data);
    for (const receiver of receivers) {
      if (!network.canReach(sender.host, receiver.host) || network.sampleLoss()) {
        network.stats.datagramsDropped++;
        continue;
      }
      const deliveryMs = network.nowMs + network.sampleOneWayMs();
      network.schedule(deliveryMs, EventKind.Datagram, receiver.host, receiver, copy, sender, copy.byteLength);
    }
  }

  private allocatePort(): number {
    const port = this.nextEphemeralPort;
    this.nextEphemeralPort = port >= 65535 ? 50000 : port + 1;
    return port;
  }
}

function groupKey(subnet: string, group: string, port: number): string {
  return `${subnet}\u0000${group}\u0000${port}`;
}

function boundKey(host: string, port: number): string {
  return `${host}:${port}`;
}

function addTo(map: Map<string, Set<SimDatagramSocket>>, key: string, socket: SimDatagramSocket): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(socket);
}

function removeFrom(map: Map<string, Set<SimDatagramSocket>>, key: string, socket: SimDatagramSocket): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(socket);
  if (set.size === 0) map.delete(key);
}
