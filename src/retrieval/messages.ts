import { Type, type Static } from '@sinclair/typebox';
import { segmentKeyText } from '../storage/group-messages.js';
import { messageCodec } from '../transport/codec.js';
import { hostNameSchema, listenPortSchema, nodeIdSchema } from '../transport/vocabulary.js';
import { bloomHashCount, maxBloomBytes } from './bloom.js';

/**
 * Wire messages of retrieval (docs/PROTOCOL.md, "Retrieval"). All three are
 * one-way notifications: a query hops from node to node, a hit goes straight
 * back to the query's origin, a summary goes to a neighbour. Every field is
 * bounded here, so a peer cannot make this node loop or hold more than these.
 */

export const routes = {
  query: 'retrieval/query',
  hit: 'retrieval/hit',
  summary: 'retrieval/summary',
} as const;

/** Highest TTL a query may carry (Gnutella's classic default is 7). */
export const maxTtl = 16;
/** Highest message budget a query may carry: the most one search can cost. */
export const maxBudget = 100_000;
/** Holders one hit names: the answering node and its group's members. */
export const maxHitHolders = 16;

export const strategyCodes = { bfs: 0, rbfs: 1, informed: 2 } as const;
export type Strategy = keyof typeof strategyCodes;
export const strategies = Object.keys(strategyCodes) as Strategy[];

const hostEntry = Type.Object({ id: nodeIdSchema, host: hostNameSchema, port: listenPortSchema }, { additionalProperties: false });
/** 16 random bytes in hex. */
const queryId = Type.String({ pattern: '^[0-9a-f]{32}$' });

const querySchema = Type.Object(
  {
    id: queryId,
    /** The segment searched for (`<content id>:<segment>`). */
    key: segmentKeyText,
    strategy: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)]),
    /** Hops left; a node forwards only while it is above 0. */
    ttl: Type.Integer({ minimum: 0, maximum: maxTtl }),
    /** Hops made so far. */
    hops: Type.Integer({ minimum: 1, maximum: maxTtl + 1 }),
    /** Messages the receiver's subtree may still send: split among the forwards, so one search sends at most its budget. */
    budget: Type.Integer({ minimum: 0, maximum: maxBudget }),
    /** Where hits go. */
    origin: hostEntry,
  },
  { additionalProperties: false },
);
export type QueryMessage = Static<typeof querySchema>;
export const queryCodec = messageCodec('retrieval query', querySchema);

const hitSchema = Type.Object(
  {
    id: queryId,
    key: segmentKeyText,
    /** Hops the query made to the answering node. */
    hops: Type.Integer({ minimum: 1, maximum: maxTtl + 1 }),
    /** The answering node first, then other members of the segment's group. */
    holders: Type.Array(hostEntry, { minItems: 1, maxItems: maxHitHolders }),
  },
  { additionalProperties: false },
);
export type HitMessage = Static<typeof hitSchema>;
export const hitCodec = messageCodec('retrieval hit', hitSchema);

const bloomSchema = Type.Object(
  {
    bits: Type.Uint8Array({ minByteLength: 1, maxByteLength: maxBloomBytes }),
    hashCount: Type.Integer({ minimum: bloomHashCount, maximum: bloomHashCount }),
  },
  { additionalProperties: false },
);

const summarySchema = Type.Object(
  {
    /** Segments the sender holds. */
    own: bloomSchema,
    /** Its own segments and those of the neighbours whose summaries it holds: the 2-hop summary. */
    near: bloomSchema,
    /** Its 2-hop summary and those of the neighbours whose summaries it holds: the 3-hop summary. */
    far: bloomSchema,
  },
  { additionalProperties: false },
);
export type SummaryMessage = Static<typeof summarySchema>;
export const summaryCodec = messageCodec('retrieval summary', summarySchema);
