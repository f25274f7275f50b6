import { Type, type Static } from '@sinclair/typebox';
import type { HostQuality } from '../hosts/known-hosts.js';
import { maxSampledHosts } from '../hosts/messages.js';
import { entryFromTuple, entryToTuple, hostEntryTupleSchema, hostNameSchema, listenPortSchema, nodeIdSchema, type HostEntry } from '../transport/vocabulary.js';
import { qualityFromTuple, qualityToTuple, qualityTupleSchema } from '../hosts/quality.js';
import { tupleCodec } from '../transport/codec.js';
import { maxNetworkIdLength } from '../transport/envelope.js';

/** What a PING or PONG says of its sender. */
interface Announcement {
  /** Separate Butter networks on one LAN ignore each other's datagrams. */
  networkId: string;
  /** The sender's node id. */
  id: string;
  /** The sender's TCP listen port. */
  port: number;
  /** The address the sender listens on, when it listens on one address only; otherwise the datagram's source address is used. */
  host?: string;
  /** The sender's quality, so that receivers can run peer selection with no extra round trip. */
  quality: HostQuality;
}

/** Multicast by a node that knows no host. */
export interface Ping extends Announcement {
  type: 'ping';
  /** The UDP port of the pinger's own socket, where answers go (unicast, to the PING's source address). */
  replyPort: number;
}

/** Answer to a PING, unicast to the pinger's reply port: the answerer and a sample of the hosts it knows. */
export interface Pong extends Announcement {
  type: 'pong';
  /** Id of the node whose PING this answers. */
  to: string;
  /** The sample, encoded apart (`pongSampleCodec`) and decoded only once the PONG proved to be for this node. */
  hosts: Uint8Array;
}

/** Multicast by a pinger that received enough PONGs: the nodes still waiting to answer it stay quiet. */
export interface Answered {
  type: 'answered';
  networkId: string;
  /** The pinger. */
  id: string;
}

export type DiscoveryDatagram = Ping | Pong | Answered;

/** The first element of a datagram's tuple. */
const DatagramKind = { ping: 0, pong: 1, answered: 2 } as const;

/** Largest encoded host sample a PONG carries: 16 entries of about 80 bytes, with room. */
export const maxPongSampleBytes = 2_048;

const networkIdSchema = Type.String({ minLength: 1, maxLength: maxNetworkIdLength });
/** The sender's listen address, or null when it listens on every interface. */
const listenHostSchema = Type.Union([hostNameSchema, Type.Null()]);

/** `[0, networkId, id, port, host, quality, replyPort]` */
const pingTupleSchema = Type.Tuple([Type.Literal(DatagramKind.ping), networkIdSchema, nodeIdSchema, listenPortSchema, listenHostSchema, qualityTupleSchema, listenPortSchema]);
/** `[1, networkId, id, port, host, quality, to, hosts]` */
const pongTupleSchema = Type.Tuple([
  Type.Literal(DatagramKind.pong),
  networkIdSchema,
  nodeIdSchema,
  listenPortSchema,
  listenHostSchema,
  qualityTupleSchema,
  nodeIdSchema,
  Type.Uint8Array({ maxByteLength: maxPongSampleBytes }),
]);
/** `[2, networkId, id]` */
const answeredTupleSchema = Type.Tuple([Type.Literal(DatagramKind.answered), networkIdSchema, nodeIdSchema]);
const datagramTupleSchema = Type.Union([pingTupleSchema, pongTupleSchema, answeredTupleSchema]);
type DatagramTuple = Static<typeof datagramTupleSchema>;

function datagramToTuple(datagram: DiscoveryDatagram): DatagramTuple {
  switch (datagram.type) {
    case 'ping':
      return [DatagramKind.ping, datagram.networkId, datagram.id, datagram.port, datagram.host ?? null, qualityToTuple(datagram.quality), datagram.replyPort];
    case 'pong':
      return [
        DatagramKind.pong,
        datagram.networkId,
        datagram.id,
        datagram.port,
        datagram.host ?? null,
        qualityToTuple(datagram.quality),
        datagram.to,
        datagram.hosts,
      ];
    default:
      return [DatagramKind.answered, datagram.networkId, datagram.id];
  }
}

function datagramFromTuple(tuple: DatagramTuple): DiscoveryDatagram {
  if (tuple[0] === DatagramKind.answered) return { type: 'answered', networkId: tuple[1], id: tuple[2] };
  const [, networkId, id, port, host, quality] = tuple;
  const announcement = host === null ? { networkId, id, port, quality: qualityFromTuple(quality) } : { networkId, id, port, host, quality: qualityFromTuple(quality) };
  return tuple[0] === DatagramKind.ping ? { type: 'ping', ...announcement, replyPort: tuple[6] } : { type: 'pong', ...announcement, to: tuple[6], hosts: tuple[7] };
}

/** Every discovery datagram is one MessagePack array whose first element says which. */
export const discoveryDatagramCodec = tupleCodec('discovery datagram', datagramTupleSchema, { toTuple: datagramToTuple, fromTuple: datagramFromTuple });

const pongSampleTupleSchema = Type.Array(hostEntryTupleSchema, { maxItems: maxSampledHosts });

/** The `hosts` of a PONG: a MessagePack array of `[id, host, port]` entries. */
export const pongSampleCodec = tupleCodec('PONG host sample', pongSampleTupleSchema, {
  toTuple: (entries: HostEntry[]): Static<typeof pongSampleTupleSchema> => entries.map(entryToTuple),
  fromTuple: (tuples): HostEntry[] => tuples.map(entryFromTuple),
});
