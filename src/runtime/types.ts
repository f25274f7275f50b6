/**
 * The runtime seam. Protocol code (transport, node, discovery, hosts, storage,
 * retrieval) reaches time, timers, randomness, byte streams, datagrams and the disk only
 * through a `Runtime`. Two implementations exist: the real one (node:net,
 * node:dgram, node:crypto, node:fs and LMDB, the wall clock) and the simulated
 * one (virtual time, a seeded PRNG, in-memory links and disks), so the same
 * protocol code runs on both.
 */
import type { KeyObject } from 'node:crypto';
import type { Disk } from './disk.js';

/** A transport address: an IP (or simulated host name) and a port. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Parses `host:port` or `[v6]:port`; throws a TypeError on anything else. */
export function parseAddress(text: string): Address {
  const match = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`invalid address "${text}": expected host:port`);
  }
  return { host: match[1] as string, port };
}

export interface TimerHandle {
  cancel(): void;
}

/** Randomness. In the simulator every stream derives from one root seed. */
export interface Random {
  /**
   * A stream of its own for one component (`hosts`, `discovery`, `storage`, …),
   * taken once at construction, so that one module drawing more never changes
   * another's draws. Simulated: derived from the seed and the label, not from
   * what was drawn. Real: an independent CSPRNG-backed stream.
   */
  fork(label: string): Random;
  /** Uniform float in [0, 1). */
  float(): number;
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** Random bytes; in the real runtime these come from a CSPRNG (used for key generation). */
  bytes(length: number): Uint8Array;
}

export interface StreamHandlers {
  onData(chunk: Uint8Array): void;
  /** Called once when the stream ends for any reason; `error` is set when it broke. */
  onClose(error?: Error): void;
}

/**
 * The key pair a node proves itself with on every stream it opens or accepts
 * (its Ed25519 identity). The runtime derives what its channel needs from it
 * once per key pair (on the real runtime, a self-signed certificate and a TLS
 * context) and keeps that for as long as the key pair object lives, so pass
 * the same object every time.
 */
export interface ChannelIdentity {
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/**
 * A reliable, ordered byte stream that proves nothing about who is at the other end
 * (one end of a relay circuit, say): `Runtime.secure` runs the channel's handshake over
 * it and makes it a `Stream`.
 */
export interface ByteCarrier {
  readonly localAddress: Address;
  /** The address the other end was seen from (for inbound streams, usually an ephemeral port). */
  readonly remoteAddress: Address;
  /** Attaches handlers; data that arrived before is delivered right after. Call once. */
  start(handlers: StreamHandlers): void;
  write(chunk: Uint8Array): void;
  /** Bytes accepted by `write` and not yet handed to the network. */
  bufferedBytes(): number;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once, dropping unsent data. */
  destroy(): void;
}

/**
 * A reliable, ordered, authenticated byte stream: TLS 1.3 over TCP in the real
 * runtime, an in-memory link in the simulator, or either over a `ByteCarrier`
 * (`Runtime.secure`: a relay circuit). Before protocol code sees a stream, the
 * runtime has verified that the other end holds the private key of
 * `remotePublicKey`; a peer that cannot prove an Ed25519 key never becomes a stream.
 * A future transport (WebSocket) keeps the same contract.
 */
export interface Stream extends ByteCarrier {
  /** Raw 32-byte Ed25519 public key the other end proved it holds (its certificate's key, checked by the TLS handshake). */
  readonly remotePublicKey: Uint8Array;
  /**
   * 32 bytes both ends of this stream compute and nobody else knows (TLS 1.3 exported keying
   * material; a shared random value in the simulator): a proof computed over it is good on
   * this stream only, so it cannot be replayed on another or relayed by someone in between.
   */
  readonly channelBinding: Uint8Array;
}

export interface Listener {
  readonly address: Address;
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  /** 0 picks any free port. */
  port: number;
  /** Who this end is on every accepted stream. */
  identity: ChannelIdentity;
  /**
   * How long an accepted connection may take to finish the channel's own handshake (TLS)
   * before it is dropped; it is not a stream until then. Default 5 000 ms on the real runtime;
   * the simulator's channel has no handshake of its own.
   */
  handshakeTimeoutMs?: number;
}

export interface ConnectOptions {
  /** Bounds the whole setup: TCP connect and the channel's handshake. */
  timeoutMs: number;
  /** Who this end is on the stream. */
  identity: ChannelIdentity;
}

export interface SecureOptions {
  /** The client speaks first (the end that opened the carrier); the server asks for the client's certificate. */
  role: 'client' | 'server';
  /** Who this end is on the stream. */
  identity: ChannelIdentity;
  /** Bounds the handshake; the carrier is destroyed when it has not finished by then. */
  timeoutMs: number;
}

export interface DatagramOptions {
  /** UDP port: with a group, the port every member binds (with address reuse); without, usually 0 (any free port). */
  port: number;
  /** IPv4 multicast group to join and to send to, e.g. 239.255.42.99; without one the socket only sends and receives unicast. */
  multicastGroup?: string;
  /** Local interface address: the group is joined and sent to on it, and a socket without a group binds to it; all interfaces when absent. */
  multicastInterface?: string;
}

export interface DatagramSocket {
  readonly localAddress: Address;
  /** `data` is read-only: the simulator hands one buffer to every receiver of a datagram. */
  onMessage(handler: (data: Uint8Array, from: Address) => void): void;
  /** Multicasts to the group; a socket opened without one throws a TypeError. */
  sendToGroup(data: Uint8Array): void;
  send(data: Uint8Array, to: Address): void;
  close(): void;
}

/** Unrecoverable failure to reach an address (refused, unreachable, timed out, or the peer did not prove an Ed25519 key). */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(
    message: string,
    readonly reason: 'refused' | 'timeout' | 'unreachable' | 'unauthenticated',
  ) {
    super(message);
  }
}

/** The address cannot be listened on: the port is taken, the host is unknown or not this machine's, or permission is denied. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly reason: 'in-use' | 'unknown-host' | 'not-local' | 'denied',
  ) {
    super(message);
  }
}

export interface Runtime {
  readonly kind: 'real' | 'sim';
  /** The machine's disk: the identity file and the block store of a node with a data directory. */
  readonly disk: Disk;
  /** Milliseconds on a monotonic clock with an arbitrary origin. */
  now(): number;
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  readonly random: Random;
  listen(options: ListenOptions, onStream: (stream: Stream) => void): Promise<Listener>;
  connect(address: Address, options: ConnectOptions): Promise<Stream>;
  /**
   * Runs the channel's handshake (real: TLS 1.3, mutual, the same checks as `connect` and
   * `listen`) end to end over `carrier`, whoever carries its bytes: the stream's key is the
   * other end's own and its binding is secret to the two ends, so a carrier in between sees
   * only ciphertext and cannot alter it unnoticed. Rejects with a `ConnectError`
   * ('unauthenticated', 'timeout', 'unreachable') and destroys the carrier on failure.
   */
  secure(carrier: ByteCarrier, options: SecureOptions): Promise<Stream>;
  openDatagramSocket(options: DatagramOptions): Promise<DatagramSocket>;
  /** Memory of the machine (or simulated host), bounding a node's allocation. */
  totalMemoryBytes(): number;
}
