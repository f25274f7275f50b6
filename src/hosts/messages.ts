import { Type, type Static } from '@sinclair/typebox';
import { tupleCodec } from '../transport/codec.js';
import { hostEntryTupleSchema, hostNameSchema, listenPortSchema, nodeIdSchema, type HostEntry } from '../transport/vocabulary.js';

export type { HostEntry } from '../transport/vocabulary.js';
import type { HostQuality, KnownHost } from './known-hosts.js';
import { qualityFromTuple, qualityToTuple, qualityTupleSchema } from './quality.js';


/** Most hosts a PONG or a peer-exchange answer carries. */
export const maxSampledHosts = 16;

/** A host in a peer-exchange answer, with the answerer's cached copy of its quality when it has one. */
export interface ExchangedHost extends HostEntry {
  quality?: HostQuality;
}

/** On the wire: `[id, host, port]`, or `[id, host, port, quality]`. */
const exchangedHostTupleSchema = Type.Union([hostEntryTupleSchema, Type.Tuple([nodeIdSchema, hostNameSchema, listenPortSchema, qualityTupleSchema])]);

function exchangedToTuple(entry: ExchangedHost): Static<typeof exchangedHostTupleSchema> {
  return entry.quality ? [entry.id, entry.host, entry.port, qualityToTuple(entry.quality)] : [entry.id, entry.host, entry.port];
}

function exchangedFromTuple(tuple: Static<typeof exchangedHostTupleSchema>): ExchangedHost {
  const [id, host, port, quality] = tuple;
  return quality === undefined ? { id, host, port } : { id, host, port, quality: qualityFromTuple(quality) };
}

export interface ExchangeRequest {
  /** The asker's quality. */
  quality: HostQuality;
  /** Set by a node that no one seems to know (no quality request for a while): always accepted. */
  introduce: boolean;
  /** A shuffle: the answerer takes the asker into its far share and answers its far hosts first. */
  far?: boolean;
}

const exchangeRequestTupleSchema = Type.Tuple([qualityTupleSchema, Type.Boolean(), Type.Boolean()]);

/** Request of the `peer-exchange` route, on the wire `[quality, introduce, far]`. */
export const exchangeRequestCodec = tupleCodec('peer-exchange request', exchangeRequestTupleSchema, {
  toTuple: (request: ExchangeRequest): Static<typeof exchangeRequestTupleSchema> => [qualityToTuple(request.quality), request.introduce, request.far === true],
  fromTuple: ([quality, introduce, far]): ExchangeRequest => ({ quality: qualityFromTuple(quality), introduce, far }),
});

export interface ExchangeAnswer {
  /** A sample of the answerer's hosts. */
  hosts: ExchangedHost[];
  /** The host it evicted to take the asker in. */
  displaced?: ExchangedHost;
}

const sampledHostsSchema = Type.Array(exchangedHostTupleSchema, { maxItems: maxSampledHosts });
const exchangeAnswerTupleSchema = Type.Union([Type.Tuple([sampledHostsSchema]), Type.Tuple([sampledHostsSchema, exchangedHostTupleSchema])]);

/** Answer of `peer-exchange`, on the wire `[hosts]` or `[hosts, displaced]`. */
export const exchangeAnswerCodec = tupleCodec('peer-exchange answer', exchangeAnswerTupleSchema, {
  toTuple: (answer: ExchangeAnswer): Static<typeof exchangeAnswerTupleSchema> => {
    const hosts = answer.hosts.map(exchangedToTuple);
    return answer.displaced ? [hosts, exchangedToTuple(answer.displaced)] : [hosts];
  },
  fromTuple: ([hosts, displaced]): ExchangeAnswer =>
    displaced === undefined ? { hosts: hosts.map(exchangedFromTuple) } : { hosts: hosts.map(exchangedFromTuple), displaced: exchangedFromTuple(displaced) },
});

/** Largest peer-exchange answer worth decoding (16 entries of ~110 bytes, with room). */
export const maxExchangeAnswerBytes = 4_096;

export function toEntry(host: KnownHost): HostEntry {
  return { id: host.id, host: host.address.host, port: host.address.port };
}

/** A listed host as it travels, with its cached quality (only its known fields go on the wire). */
export function toExchanged(host: KnownHost): ExchangedHost {
  const entry = toEntry(host);
  return host.quality ? { ...entry, quality: host.quality } : entry;
}

/** A host received from a peer, as a candidate for the list. */
export function fromEntry(entry: ExchangedHost): KnownHost {
  const address = { host: entry.host, port: entry.port };
  return entry.quality ? { id: entry.id, address, quality: entry.quality } : { id: entry.id, address };
}
