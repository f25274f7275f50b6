import { Type, type Static } from '@sinclair/typebox';
import { contentIdPattern } from '../storage/block.js';
import { messageCodec } from '../transport/codec.js';
import { hostNameSchema, listenPortSchema, nodeIdSchema } from '../transport/vocabulary.js';
import { keywordTableBytes, keywordTableHashes } from './keyword-table.js';
import { maxWordLength, maxSearchWords, minWordLength } from './keywords.js';
import { maxBudget, maxTtl } from './messages.js';

/**
 * Wire messages of keyword search (docs/PROTOCOL.md, "Keyword search"): one-way
 * notifications like the other retrieval messages. A query floods with TTL and a
 * split message budget, its last hop only to neighbours whose keyword table
 * matches; a node holding matching content sends one hit straight to the origin;
 * tables go to neighbours.
 */

export const keywordRoutes = {
  query: 'retrieval/keyword-query',
  hit: 'retrieval/keyword-hit',
  table: 'retrieval/keyword-table',
} as const;

/** Contents one hit names (a node holding more matches sends its best ranked). */
export const maxHitResults = 32;

const hostEntry = Type.Object({ id: nodeIdSchema, host: hostNameSchema, port: listenPortSchema }, { additionalProperties: false });
const queryId = Type.String({ pattern: '^[0-9a-f]{32}$' });
/** Normalised (keywords.ts): the receiver checks again and drops a query whose words are not. */
const word = Type.String({ minLength: minWordLength, maxLength: maxWordLength });
const words = Type.Array(word, { minItems: 1, maxItems: maxSearchWords });

const querySchema = Type.Object(
  {
    id: queryId,
    words,
    ttl: Type.Integer({ minimum: 0, maximum: maxTtl }),
    hops: Type.Integer({ minimum: 1, maximum: maxTtl + 1 }),
    budget: Type.Integer({ minimum: 0, maximum: maxBudget }),
    origin: hostEntry,
  },
  { additionalProperties: false },
);
export type KeywordQueryMessage = Static<typeof querySchema>;
export const keywordQueryCodec = messageCodec('keyword query', querySchema);

const resultSchema = Type.Object(
  {
    contentId: Type.String({ pattern: contentIdPattern }),
    /** The searched words this content's keywords hold (at least one). */
    matched: Type.Array(word, { minItems: 1, maxItems: maxSearchWords }),
  },
  { additionalProperties: false },
);

const hitSchema = Type.Object(
  {
    id: queryId,
    hops: Type.Integer({ minimum: 1, maximum: maxTtl + 1 }),
    /** The answering node, which holds every content named. */
    holder: hostEntry,
    results: Type.Array(resultSchema, { minItems: 1, maxItems: maxHitResults }),
  },
  { additionalProperties: false },
);
export type KeywordHitMessage = Static<typeof hitSchema>;
export const keywordHitCodec = messageCodec('keyword hit', hitSchema);

const tableSchema = Type.Object(
  {
    bits: Type.Uint8Array({ minByteLength: keywordTableBytes, maxByteLength: keywordTableBytes }),
    hashCount: Type.Integer({ minimum: keywordTableHashes, maximum: keywordTableHashes }),
  },
  { additionalProperties: false },
);
export type KeywordTableMessage = Static<typeof tableSchema>;
export const keywordTableCodec = messageCodec('keyword table', tableSchema);
