import { Type, type Static } from '@sinclair/typebox';
import { messageCodec, tupleCodec } from '../transport/codec.js';
import { entryFromTuple, entryToTuple, hostEntryTupleSchema, hostNameSchema, listenPortSchema, nodeIdSchema, type HostEntry } from '../transport/vocabulary.js';
import { tombstoneSchema } from './authorship.js';
import { blockSchema, blockSizeBytes, type PackedRun, contentIdPattern, hashBytes, maxKeywordLength, maxKeywords, maxParts, maxProofLength } from './block.js';
import { segmentBlocks } from './segment.js';

/**
 * Wire messages of the Peer Content Group protocol (docs/PROTOCOL.md, "Storage
 * groups"). Every one is MessagePack checked against these schemas; the limits
 * below bound what a peer can make this node hold or loop over.
 */

/** Members a group may list; far above any sane `replicas` cap. */
export const maxGroupMembers = 32;
/** Groups one heartbeat may cover; a pair sharing more sends several messages per beat. */
export const maxGroupsPerHeartbeat = 2048;
/** Distinct hosts named in one heartbeat's member table. */
export const maxMembersPerHeartbeat = 4096;
/** Hosts a walk reply names. */
export const maxWalkHosts = 64;
/** Highest replication a group may ask for (the popularity cap is at most this). */
export const maxReplicas = 16;

export const routes = {
  heartbeat: 'storage/heartbeat',
  offer: 'storage/offer',
  shed: 'storage/shed',
  withdraw: 'storage/withdraw',
  fetch: 'storage/fetch',
  walk: 'storage/walk',
  announce: 'storage/announce',
} as const;

/** `<content id>/<part>` (block.ts: blockKeyOf). */
export const blockKeyText = Type.String({ pattern: `${contentIdPattern.slice(0, -1)}/[0-9]{1,5}$`, maxLength: 80 });
/** `<content id>:<segment>` (segment.ts: segmentKeyOf), a group's key. */
export const segmentKeyText = Type.String({ pattern: `${contentIdPattern.slice(0, -1)}:[0-9]{1,3}$`, maxLength: 80 });
const contentIdText = Type.String({ pattern: contentIdPattern });
const incarnation = Type.Integer({ minimum: 0, maximum: 2 ** 48 });
const replicas = Type.Integer({ minimum: 1, maximum: maxReplicas });

/** A member's state in a view: 0 alive, 1 suspected (refutable), 2 left (final for that incarnation). */
export const memberStatus = { alive: 0, suspected: 1, left: 2 } as const;
export type MemberStatus = (typeof memberStatus)[keyof typeof memberStatus];
const status = Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)]);

export type { HostEntry } from '../transport/vocabulary.js';

/** `[index into members, incarnation, status]`; index -1 is the sender itself. */
const viewEntry = Type.Tuple([Type.Integer({ minimum: -1, maximum: maxMembersPerHeartbeat - 1 }), incarnation, status]);

const heartbeatGroup = Type.Object(
  {
    key: segmentKeyText,
    /** The group's base replication. */
    replicas,
    /** Replication the sender wants from its own query load (popularity), ≥ replicas. */
    wanted: replicas,
    view: Type.Array(viewEntry, { maxItems: maxGroupMembers }),
  },
  { additionalProperties: false },
);

/** Names one full beat's content, so that later beats with the same content can just repeat it. */
const beatState = Type.Integer({ minimum: 0, maximum: 2 ** 48 });

/**
 * One per peer pair per interval: every group the two share, with the sender's
 * view of each. Members travel as host entries, `[id, host, port]`. A full beat
 * may name its content with `state`; a later beat whose content would be the
 * same carries no members or groups, only `repeat` with that state (so a steady
 * pair's beats cost the same whatever the number of groups). `resync` asks the
 * receiver to send its next beat in full (a repeat named a state this node lacks).
 */
const heartbeatSchema = Type.Object(
  {
    incarnation,
    members: Type.Array(hostEntryTupleSchema, { maxItems: maxMembersPerHeartbeat }),
    groups: Type.Array(heartbeatGroup, { maxItems: maxGroupsPerHeartbeat }),
    state: Type.Optional(beatState),
    repeat: Type.Optional(beatState),
    resync: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
);
export type HeartbeatGroup = Static<typeof heartbeatGroup>;
export interface HeartbeatMessage {
  incarnation: number;
  members: HostEntry[];
  groups: HeartbeatGroup[];
  state?: number;
  repeat?: number;
  resync?: true;
}
export const heartbeatCodec = tupleCodec('storage heartbeat', heartbeatSchema, {
  toTuple: (message: HeartbeatMessage): Static<typeof heartbeatSchema> => ({ ...message, members: message.members.map(entryToTuple) }),
  fromTuple: (wire): HeartbeatMessage => ({
    incarnation: wire.incarnation,
    members: wire.members.map(entryFromTuple),
    groups: wire.groups,
    ...(wire.state === undefined ? {} : { state: wire.state }),
    ...(wire.repeat === undefined ? {} : { repeat: wire.repeat }),
    ...(wire.resync === undefined ? {} : { resync: wire.resync }),
  }),
});

export const memberRecordSchema = Type.Object({ id: nodeIdSchema, host: hostNameSchema, port: listenPortSchema, incarnation }, { additionalProperties: false });
export type MemberRecord = Static<typeof memberRecordSchema>;

/** Wire form of a block (block.ts); its Merkle proof is checked by verifyBlock after decoding. */
const wireBlock = blockSchema;

const hash = Type.Uint8Array({ minByteLength: hashBytes, maxByteLength: hashBytes });

/**
 * A leader offers a whole segment to a candidate, packed (block.ts: PackedRun): the blocks'
 * bytes back to back and the proof above the segment's subtree; the receiver rebuilds every
 * block's proof from the leaves it hashes (segment.ts: unpackSegment checks it all). The
 * view tells the new member whom to beat.
 */
const offerObjectSchema = Type.Object(
  {
    contentHash: hash,
    parts: Type.Integer({ minimum: 1, maximum: maxParts }),
    /** The segment's first part: a multiple of segmentBlocks below parts. */
    first: Type.Integer({ minimum: 0, maximum: maxParts - 1 }),
    keywords: Type.Array(Type.String({ minLength: 1, maxLength: maxKeywordLength }), { maxItems: maxKeywords }),
    /** From the segment's subtree root up to contentHash. */
    upperProof: Type.Array(hash, { maxItems: maxProofLength }),
    /** Every block's bytes, in part order. */
    data: Type.Uint8Array({ maxByteLength: segmentBlocks * blockSizeBytes }),
    replicas,
    view: Type.Array(memberRecordSchema, { maxItems: maxGroupMembers }),
  },
  { additionalProperties: false },
);
export interface OfferMessage extends PackedRun {
  replicas: number;
  view: MemberRecord[];
}
/** Its static type takes a PackedRun's readonly arrays, so a packed segment spreads into an offer. */
export const offerSchema = Type.Unsafe<OfferMessage>(offerObjectSchema);
export const offerCodec = messageCodec('storage offer', offerSchema);

export const offerReplySchema = Type.Object(
  {
    accepted: Type.Boolean(),
    /** Why not: `full` (no room), `leaving`, or `deleted` (a live tombstone by the content's author). */
    reason: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('leaving'), Type.Literal('deleted')])),
    /** With `deleted`: the tombstone, so that the offerer (a member that missed it) drops its copy too. */
    tombstone: Type.Optional(tombstoneSchema),
    incarnation,
  },
  { additionalProperties: false },
);
export type OfferReply = Static<typeof offerReplySchema>;
export const offerReplyCodec = messageCodec('storage offer reply', offerReplySchema);

/** The leader of a hot group asks one surplus member to leave it. */
export const shedSchema = Type.Object({ key: segmentKeyText, incarnation }, { additionalProperties: false });
export const shedCodec = messageCodec('storage shed', shedSchema);

/** A durable store that failed takes its segment back from a host it placed it on (obeyed only from that host, within the store's timeout). */
export const withdrawSchema = Type.Object({ key: segmentKeyText }, { additionalProperties: false });
export const withdrawCodec = messageCodec('storage withdraw', withdrawSchema);

export const fetchSchema = Type.Object({ key: blockKeyText }, { additionalProperties: false });
export const fetchCodec = messageCodec('storage fetch', fetchSchema);
export const fetchReplySchema = Type.Object({ block: Type.Optional(wireBlock) }, { additionalProperties: false });
export const fetchReplyCodec = messageCodec('storage fetch reply', fetchReplySchema);

/** One step of the exhaustive walk: which parts of a content the host holds, and whom it knows. */
export const walkSchema = Type.Object({ contentId: contentIdText }, { additionalProperties: false });
export const walkCodec = messageCodec('storage walk', walkSchema);
const walkReplySchema = Type.Object(
  {
    parts: Type.Array(Type.Integer({ minimum: 0, maximum: 1_000_000 }), { maxItems: 4096 }),
    hosts: Type.Array(hostEntryTupleSchema, { maxItems: maxWalkHosts }),
  },
  { additionalProperties: false },
);
export interface WalkReply {
  parts: number[];
  hosts: HostEntry[];
}
export const walkReplyCodec = tupleCodec('storage walk reply', walkReplySchema, {
  toTuple: (reply: WalkReply): Static<typeof walkReplySchema> => ({ parts: reply.parts, hosts: reply.hosts.map(entryToTuple) }),
  fromTuple: (wire): WalkReply => ({ parts: wire.parts, hosts: wire.hosts.map(entryFromTuple) }),
});

/** Sent once to each known host at start so that hosts we bootstrapped from can recruit us. */
export const announceSchema = Type.Object({ freeBytes: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
export const announceCodec = messageCodec('storage announce', announceSchema);
