import { Type, type Static } from '@sinclair/typebox';
import type { ButterError } from '../errors.js';
import type { Address } from '../runtime/types.js';

/**
 * The words every Butter message is made of, defined once: node ids, host
 * names, ports, peer addresses and host entries. Each protocol module builds
 * its messages from these, so a limit changes in one place (docs/PROTOCOL.md).
 */

/** A node id: SHA-256 of its Ed25519 public key, in lower-case hex. */
export const nodeIdPattern = '^[0-9a-f]{64}$';
export const nodeIdSchema = Type.String({ pattern: nodeIdPattern });
const nodeIdRegExp = new RegExp(nodeIdPattern);

export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && nodeIdRegExp.test(value);
}

/** An IP address or DNS name (at most 253 characters), or a simulated host name. */
export const maxHostNameLength = 255;
export const hostNameSchema = Type.String({ minLength: 1, maxLength: maxHostNameLength });
/** A port a node accepts connections on. */
export const listenPortSchema = Type.Integer({ minimum: 1, maximum: 65535 });
/** Any port, such as the ephemeral one a peer was seen from. */
export const portSchema = Type.Integer({ minimum: 0, maximum: 65535 });

/**
 * An address names its transport. Only `tcp` exists today; a WebSocket or a
 * relayed address will be another member of this union, with its own code.
 */
export type TransportName = 'tcp';
export interface PeerAddress extends Address {
  readonly transport: TransportName;
}

export const transportCodes: Record<TransportName, number> = { tcp: 0 };
const transportByCode = ['tcp'] as const satisfies readonly TransportName[];

/** On the wire: `[transport, host, port]` (transport 0 = tcp). */
export const peerAddressTupleSchema = Type.Tuple([Type.Literal(transportCodes.tcp), hostNameSchema, portSchema]);

export function addressToTuple(address: PeerAddress): Static<typeof peerAddressTupleSchema> {
  return [transportCodes[address.transport] as 0, address.host, address.port];
}

export function addressFromTuple([code, host, port]: Static<typeof peerAddressTupleSchema>): PeerAddress {
  // The schema admits known codes only.
  return { transport: transportByCode[code] as TransportName, host, port };
}

export function tcpAddress(address: Address): PeerAddress {
  return { transport: 'tcp', host: address.host, port: address.port };
}

/** A host another node knows: its id and where it accepts connections. */
export interface HostEntry {
  id: string;
  host: string;
  port: number;
}

/** On the wire: `[id, host, port]`. */
export const hostEntryTupleSchema = Type.Tuple([nodeIdSchema, hostNameSchema, listenPortSchema]);

export function entryToTuple(entry: HostEntry): Static<typeof hostEntryTupleSchema> {
  return [entry.id, entry.host, entry.port];
}

export function entryFromTuple([id, host, port]: Static<typeof hostEntryTupleSchema>): HostEntry {
  return { id, host, port };
}

/** Who sent an inbound request. `address` is unset when the peer accepts no connections. */
export interface PeerInfo {
  readonly id: string;
  readonly address: Address | undefined;
}

/**
 * Whom a request may go to: a peer id (dialled at the address its HELLO
 * proved), `host:port`, an address, or `{ id, address }` (dial there, check the id).
 */
export type PeerRef = string | Address | PeerInfo;

/** A peer a request failed to reach: its id when known, the address tried when there was one. */
export interface FailedPeer {
  readonly id: string | undefined;
  readonly address: Address | undefined;
}

export type PeerFailureListener = (peer: FailedPeer, error: ButterError) => void;
