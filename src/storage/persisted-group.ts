import { Type, type Static } from '@sinclair/typebox';
import { messageCodec } from '../transport/codec.js';
import { maxReplicas, memberRecordSchema, type MemberRecord } from './group-messages.js';

/** Members kept in a persisted view: enough to find the group again, within the store's 1 KiB metadata limit. */
export const maxPersistedMembers = 8;

/**
 * What a node with a data directory keeps beside each block (BlockStore
 * setMeta): the group's replication, its last view and this node's
 * incarnation, so that after a restart it rejoins above every old tombstone.
 * Read back through the schema: a damaged record is ignored, not trusted.
 */
const persistedGroupSchema = Type.Object(
  {
    replicas: Type.Integer({ minimum: 1, maximum: maxReplicas }),
    incarnation: Type.Integer({ minimum: 0, maximum: 2 ** 48 }),
    view: Type.Array(memberRecordSchema, { maxItems: maxPersistedMembers }),
  },
  { additionalProperties: false },
);
export type PersistedGroup = Static<typeof persistedGroupSchema>;
export const persistedGroupCodec = messageCodec('persisted group', persistedGroupSchema);

export function persistedView(record: PersistedGroup | undefined): MemberRecord[] {
  return record ? record.view : [];
}
