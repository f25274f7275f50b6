import { Type, type Static } from '@sinclair/typebox';
import { messageCodec } from '../transport/codec.js';
import type { KnownHost } from './known-hosts.js';
import { hostQualitySchema } from './quality.js';

/** A node id: SHA-256 of its public key, in lower-case hex. */
export const nodeIdSchema = Type.String({ pattern: '^[0-9a-f]{64}$' });

/** Most hosts a PONG or a peer-exchange answer carries. */
export const maxSampledHosts = 16;

/** A host another node knows, as it travels in PONGs and peer-exchange answers. */
export const hostEntrySchema = Type.Object({
  id: nodeIdSchema,
  host: Type.String({ minLength: 1, maxLength: 64 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
});
export type HostEntry = Static<typeof hostEntrySchema>;

/** A host in a peer-exchange answer, with the answerer's cached copy of its quality when it has one. */
export const exchangedHostSchema = Type.Object({
  id: nodeIdSchema,
  host: Type.String({ minLength: 1, maxLength: 64 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  quality: Type.Optional(hostQualitySchema),
});
export type ExchangedHost = Static<typeof exchangedHostSchema>;

/** Request of the `peer-exchange` route: who asks (its quality) and whether it needs to be taken in. */
export const exchangeRequestCodec = messageCodec(
  'peer-exchange request',
  Type.Object({
    quality: hostQualitySchema,
    /** Set by a node that no one seems to know (no quality request for a while): always accepted. */
    introduce: Type.Boolean(),
    /** A shuffle: the answerer takes the asker into its far share and answers its far hosts first. */
    far: Type.Optional(Type.Boolean()),
  }),
);

/** Answer of `peer-exchange`: a sample of the answerer's hosts and the host it evicted to take the asker in. */
export const exchangeAnswerCodec = messageCodec(
  'peer-exchange answer',
  Type.Object({
    hosts: Type.Array(exchangedHostSchema, { maxItems: maxSampledHosts }),
    displaced: Type.Optional(exchangedHostSchema),
  }),
);

/** Largest peer-exchange answer worth decoding (16 entries of ~160 bytes, with room). */
export const maxExchangeAnswerBytes = 4_096;

export function toEntry(host: KnownHost): HostEntry {
  return { id: host.id, host: host.address.host, port: host.address.port };
}

/** A listed host as it travels; its quality is sent as held: the list only holds copies of the known fields (HostManager). */
export function toExchanged(host: KnownHost): ExchangedHost {
  const { id, address, quality } = host;
  return quality ? { id, host: address.host, port: address.port, quality } : { id, host: address.host, port: address.port };
}

/** A host received from a peer, as a candidate for the list; HostManager copies its quality if it takes it in. */
export function fromEntry(entry: HostEntry | ExchangedHost): KnownHost {
  const address = { host: entry.host, port: entry.port };
  return 'quality' in entry && entry.quality ? { id: entry.id, address, quality: entry.quality } : { id: entry.id, address };
}
