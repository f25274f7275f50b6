import { Type, type Static } from '@sinclair/typebox';
import { hostEntrySchema, maxSampledHosts, nodeIdSchema } from '../hosts/messages.js';
import { hostQualitySchema } from '../hosts/quality.js';
import { messageCodec } from '../transport/codec.js';
import { maxNetworkIdLength } from '../transport/envelope.js';

const common = {
  /** Separate Butter networks on one LAN ignore each other's datagrams. */
  networkId: Type.String({ minLength: 1, maxLength: maxNetworkIdLength }),
  /** The sender's node id. */
  id: nodeIdSchema,
  /** The sender's TCP listen port. */
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** The address the sender listens on, when it listens on one address only; otherwise the datagram's source address is used. */
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** The sender's quality, so that receivers can run peer selection with no extra round trip. */
  quality: hostQualitySchema,
};

/** Multicast by a node that knows no host. */
export const pingSchema = Type.Object({
  type: Type.Literal('ping'),
  ...common,
  /** The UDP port of the pinger's own socket, where answers go (unicast, to the PING's source address). */
  replyPort: Type.Integer({ minimum: 1, maximum: 65535 }),
});

/** Multicast by a pinger that received enough PONGs: the nodes still waiting to answer it stay quiet. */
export const answeredSchema = Type.Object({
  type: Type.Literal('answered'),
  networkId: common.networkId,
  /** The pinger. */
  id: nodeIdSchema,
});

/** Largest encoded host sample a PONG carries: 16 entries of about 90 bytes, with room. */
export const maxPongSampleBytes = 2_048;

/** Answer to a PING, unicast to the pinger's reply port: the answerer and a sample of the hosts it knows. */
export const pongSchema = Type.Object({
  type: Type.Literal('pong'),
  ...common,
  /** Id of the node whose PING this answers. */
  to: nodeIdSchema,
  /** The sample, encoded apart (`pongSampleCodec`) and decoded only once the PONG proved to be for this node. */
  hosts: Type.Uint8Array({ maxByteLength: maxPongSampleBytes }),
});

export const discoveryDatagramCodec = messageCodec('discovery datagram', Type.Union([pingSchema, pongSchema, answeredSchema]));
export type Ping = Static<typeof pingSchema>;
export type Pong = Static<typeof pongSchema>;
export type DiscoveryDatagram = Ping | Pong | Static<typeof answeredSchema>;

/** The `hosts` of a PONG: a MessagePack array of host entries. */
export const pongSampleCodec = messageCodec('PONG host sample', Type.Array(hostEntrySchema, { maxItems: maxSampledHosts }));
