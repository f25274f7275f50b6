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

/** The same content (incarnation, member table, groups and views): a beat that may go as a repeat of `earlier`. */
export function sameBeat(earlier: HeartbeatMessage, later: HeartbeatMessage): boolean {
  if (earlier.incarnation !== later.incarnation || earlier.members.length !== later.members.length || earlier.groups.length !== later.groups.length) return false;
  for (const [index, member] of earlier.members.entries()) {
    const other = later.members[index] as HostEntry;
    if (member.id !== other.id || member.host !== other.host || member.port !== other.port) return false;
  }
  for (const [index, group] of earlier.groups.entries()) {
    const other = later.groups[index] as HeartbeatGroup;
    if (group.key !== other.key || group.replicas !== other.replicas || group.wanted !== other.wanted || group.view.length !== other.view.length) return false;
    for (const [entryIndex, entry] of group.view.entries()) {
      const otherEntry = other.view[entryIndex] as HeartbeatGroup['view'][number];
      if (entry[0] !== otherEntry[0] || entry[1] !== otherEntry[1] || entry[2] !== otherEntry[2]) return false;
    }
  }
  return true;
}

/** Checks what the schema cannot: indices in range, no duplicates, exactly one self entry per group, a repeat empty. */
export function checkHeartbeat(senderId: string, message: HeartbeatMessage): void {
  if (message.repeat !== undefined && (message.state !== undefined || message.members.length > 0 || message.groups.length > 0)) {
    throw new ProtocolError('a repeated heartbeat carries no state, members or groups of its own');
  }
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
