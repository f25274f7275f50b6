import { Type, type Static } from '@sinclair/typebox';
import { messageCodec } from '../transport/codec.js';
import { hostNameSchema, listenPortSchema, nodeIdSchema, portSchema } from '../transport/vocabulary.js';
import { relayRefusals } from './relay/relay-limits.js';

/**
 * The NAT traversal messages (docs/PROTOCOL.md, "NAT traversal"): each route's
 * payload is a MessagePack array checked against its schema here.
 */
export const natRoutes = {
  /** Asker -> Ambassador: what address do you see me at? */
  observe: 'nat.observe',
  /** Asker -> Ambassador: dial my observed IP at this port and tell me whether it worked. */
  dialBack: 'nat.dial-back',
  /** Node -> Ambassador: list me for bridging (and hold a relay reservation when I am not reachable). */
  register: 'nat.register',
  /** Ambassador -> node behind NAT: dial this reachable host yourself (connection reversal). */
  reverse: 'nat.reverse',
  /** Source -> Ambassador: open a circuit to a reservation holder. */
  circuitOpen: 'nat.circuit.open',
  /** Ambassador -> reservation holder: a circuit to you is opening. */
  circuitIncoming: 'nat.circuit.incoming',
  /** Either end -> Ambassador: bytes to carry on a circuit. */
  circuitData: 'nat.circuit.data',
  /** Ambassador -> the other end: bytes carried on a circuit (same payload). */
  circuitDeliver: 'nat.circuit.deliver',
  /** Either end -> Ambassador: this end closed the circuit. */
  circuitClose: 'nat.circuit.close',
  /** Ambassador -> an end: the circuit is closed, and why. */
  circuitClosed: 'nat.circuit.closed',
} as const;

const nonceSchema = Type.Uint8Array({ minByteLength: 16, maxByteLength: 16 });
const circuitIdSchema = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const refusalSchema = Type.Union(relayRefusals.map((refusal) => Type.Literal(refusal)));
const noRefusal = Type.Null();

/** Most hosts one registration answer introduces. */
export const maxIntroducedHosts = 16;
/** Bytes one circuit data message carries at most; a relay refuses more. */
export const maxCircuitChunkBytes = 64 * 1024;

/** `[host, port]`: where the Ambassador saw the asker connect from. */
export const observeAnswerCodec = messageCodec('observe answer', Type.Tuple([hostNameSchema, portSchema]));

/** `[port, nonce]`: the port to dial back on, and a nonce the answer echoes. */
export const dialBackRequestCodec = messageCodec('dial-back request', Type.Tuple([listenPortSchema, nonceSchema]));
/** `[nonce, reachable]`. */
export const dialBackAnswerCodec = messageCodec('dial-back answer', Type.Tuple([nonceSchema, Type.Boolean()]));

/** `[listenPort, reachable]`: reachable nodes are introduced at their seen IP and this port. */
export const registerRequestCodec = messageCodec('register request', Type.Tuple([listenPortSchema, Type.Boolean()]));

/** An introduced host: `[id, host, port, relayed]`; a relayed one is reached through the answering Ambassador. */
const introducedHostSchema = Type.Tuple([nodeIdSchema, hostNameSchema, listenPortSchema, Type.Boolean()]);
export type IntroducedHost = Static<typeof introducedHostSchema>;
/** `[refusal | null, introduced hosts]`: a refused relay reservation still gets introductions. */
export const registerAnswerCodec = messageCodec(
  'register answer',
  Type.Tuple([Type.Union([refusalSchema, noRefusal]), Type.Array(introducedHostSchema, { maxItems: maxIntroducedHosts })]),
);

/** `[id, host, port]` of a reachable host to dial. */
export const reverseCodec = messageCodec('reverse', Type.Tuple([nodeIdSchema, hostNameSchema, listenPortSchema]));

/** `[targetId]`. */
export const circuitOpenRequestCodec = messageCodec('circuit open request', Type.Tuple([nodeIdSchema]));
/** `[null, circuitId, relayId]` or `[refusal]`. */
export const circuitOpenAnswerCodec = messageCodec(
  'circuit open answer',
  Type.Union([Type.Tuple([noRefusal, circuitIdSchema, nodeIdSchema]), Type.Tuple([refusalSchema])]),
);
/** `[circuitId, sourceId]`: the source's id is what the relay claims; the ends' TLS proves the key. */
export const circuitIncomingCodec = messageCodec('circuit incoming', Type.Tuple([circuitIdSchema, nodeIdSchema]));
/** `[circuitId, sequence, bytes]`: sequence numbers count each direction's messages from 0. */
export const circuitDataCodec = messageCodec(
  'circuit data',
  Type.Tuple([circuitIdSchema, Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Uint8Array({ maxByteLength: maxCircuitChunkBytes })]),
);
/** `[circuitId, reason]`: `null` for an ordinary close by an end. */
export const circuitCloseCodec = messageCodec('circuit close', Type.Tuple([circuitIdSchema, Type.Union([refusalSchema, noRefusal])]));
