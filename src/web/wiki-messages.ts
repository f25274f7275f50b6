import { Type, type Static } from '@sinclair/typebox';
import { contentIdPattern } from '../storage/block.js';
import { messageCodec } from '../transport/codec.js';
import { nodeIdSchema } from '../transport/vocabulary.js';
import { maxNameLength, maxTitleLength } from './article.js';

/** The wiki's two routes between nodes (docs/PROTOCOL.md, "Wiki"): what articles a node holds, and which groups of one content. */
export const wikiRoutes = { list: 'wiki.list', holds: 'wiki.holds' } as const;

export const maxSearchWords = 8;
/** A list or holds request is passed on this many times at most (a bounded flood, as in Gnutella). */
export const maxHops = 3;
export const maxSummariesPerReply = 500;
export const maxGroupsPerReply = 64;
const maxMembersPerGroup = 16;

const contentId = Type.String({ pattern: contentIdPattern });

export const listRequestCodec = messageCodec(
  'wiki list request',
  Type.Object(
    { words: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: maxSearchWords }), hops: Type.Integer({ minimum: 0, maximum: maxHops }) },
    { additionalProperties: false },
  ),
);

const summarySchema = Type.Object(
  {
    id: contentId,
    name: Type.String({ minLength: 1, maxLength: maxNameLength }),
    title: Type.String({ minLength: 1, maxLength: maxTitleLength }),
    author: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    publishedAtMs: Type.Integer({ minimum: 0 }),
    previous: Type.Optional(contentId),
    /** Every searched word is in this version's title or body. */
    matches: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ArticleSummary = Static<typeof summarySchema>;

export const listReplyCodec = messageCodec('wiki list reply', Type.Object({ articles: Type.Array(summarySchema, { maxItems: maxSummariesPerReply }) }, { additionalProperties: false }));

export const holdsRequestCodec = messageCodec('wiki holds request', Type.Object({ contentId, hops: Type.Integer({ minimum: 0, maximum: maxHops }) }, { additionalProperties: false }));

const groupSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 200 }),
    state: Type.Union([Type.Literal('cold'), Type.Literal('goldilocks'), Type.Literal('hot')]),
    target: Type.Integer({ minimum: 0, maximum: 64 }),
    leader: nodeIdSchema,
    members: Type.Array(Type.Object({ id: nodeIdSchema, status: Type.Union([Type.Literal('alive'), Type.Literal('suspected'), Type.Literal('left')]) }, { additionalProperties: false }), {
      maxItems: maxMembersPerGroup,
    }),
  },
  { additionalProperties: false },
);
export type GroupSummary = Static<typeof groupSchema>;

export const maxHoldingsPerReply = 64;
const holdingSchema = Type.Object({ holder: nodeIdSchema, groups: Type.Array(groupSchema, { maxItems: maxGroupsPerReply }) }, { additionalProperties: false });
export type Holding = Static<typeof holdingSchema>;

export const holdsReplyCodec = messageCodec('wiki holds reply', Type.Object({ holdings: Type.Array(holdingSchema, { maxItems: maxHoldingsPerReply }) }, { additionalProperties: false }));
