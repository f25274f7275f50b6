import { ProtocolError } from '../errors.js';
import type { Address } from '../runtime/types.js';
import {
  maxGroupMembers,
  maxGroupsPerHeartbeat,
  maxMembersPerHeartbeat,
  memberStatus,
  type HeartbeatGroup,
  type HeartbeatMessage,
  type HostEntry,
  type MemberStatus,
} from './group-messages.js';

/**
 * What one `storage/heartbeat` carries (docs/PROTOCOL.md): building the message(s) for one
 * peer pair from the groups it covers, and checking a received one beyond its schema.
 */

export interface BeatGroup {
  key: string;
  replicas: number;
  wanted: number;
  members: Iterable<{ readonly id: string; readonly address: Address | undefined; readonly incarnation: number; readonly status: MemberStatus }>;
}

/** One message per pair, split only when the groups exceed one message's limits. */
export function heartbeatMessages(selfId: string, incarnation: number, groups: readonly BeatGroup[]): HeartbeatMessage[] {
  const messages: HeartbeatMessage[] = [];
  let message: HeartbeatMessage = { incarnation, members: [], groups: [] };
  let indexOf = new Map<string, number>();
  for (const group of groups) {
    if (message.groups.length >= maxGroupsPerHeartbeat || message.members.length + maxGroupMembers > maxMembersPerHeartbeat) {
      messages.push(message);
      message = { incarnation, members: [], groups: [] };
      indexOf = new Map();
    }
    const view: Array<[number, number, MemberStatus]> = [];
    for (const member of group.members) {
      if (member.id === selfId) {
        view.push([-1, incarnation, member.status]);
        continue;
      }
      if (!member.address) continue;
      let index = indexOf.get(member.id);
      if (index === undefined) {
        index = message.members.length;
        indexOf.set(member.id, index);
        message.members.push({ id: member.id, host: member.address.host, port: member.address.port });
      }
      view.push([index, member.incarnation, member.status]);
    }
    message.groups.push({ key: group.key, replicas: group.replicas, wanted: group.wanted, view });
  }
  messages.push(message);
  return messages;
}

/** Checks what the schema cannot: indices in range, no duplicates, exactly one self entry per group. */
export function checkHeartbeat(senderId: string, message: HeartbeatMessage): void {
  const ids = new Set<string>();
  for (const member of message.members) {
    if (member.id === senderId) throw new ProtocolError('heartbeat member table names its sender');
    if (ids.has(member.id)) throw new ProtocolError('heartbeat member table names a host twice');
    ids.add(member.id);
  }
  const keys = new Set<string>();
  for (const group of message.groups) {
    if (keys.has(group.key)) throw new ProtocolError('heartbeat lists a group twice');
    keys.add(group.key);
    if (group.wanted < group.replicas) throw new ProtocolError('heartbeat group wants fewer replicas than its base');
    const indices = new Set<number>();
    for (const [index] of group.view) {
      if (index >= message.members.length) throw new ProtocolError('heartbeat view names a member outside its table');
      if (indices.has(index)) throw new ProtocolError('heartbeat view names a member twice');
      indices.add(index);
    }
    if (!indices.has(-1)) throw new ProtocolError('heartbeat view lacks its sender');
  }
}

/** The sender's own entry of a checked group view. */
export function senderEntry(view: HeartbeatGroup['view']): { incarnation: number; status: MemberStatus } {
  const entry = view.find(([index]) => index === -1) as [number, number, MemberStatus];
  return { incarnation: entry[1], status: entry[2] };
}

/** The view names `selfId` alive: a sender new to this node's view is a recruit told of it. */
export function namesAlive(view: HeartbeatGroup['view'], members: readonly HostEntry[], selfId: string): boolean {
  return view.some(([index, , status]) => index >= 0 && status === memberStatus.alive && members[index]?.id === selfId);
}

/** Alive members a view names besides the entry at `exceptIndex`. */
export function othersAlive(view: HeartbeatGroup['view'], exceptIndex: number): number {
  let count = 0;
  for (const [index, , status] of view) if (index !== exceptIndex && status === memberStatus.alive) count += 1;
  return count;
}
