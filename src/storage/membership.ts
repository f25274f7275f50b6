import type { Address, Random } from '../runtime/types.js';
import { BeatSchedule, coversMember } from './beat-schedule.js';
import type { PeerSeats } from './challenges.js';
import { DeadlineQueue, ExpiryQueue } from './deadline-queue.js';
import { maxGroupMembers, maxReplicas, memberStatus, type HeartbeatGroup, type HeartbeatMessage, type HostEntry, type MemberRecord, type MemberStatus } from './group-messages.js';
import { checkHeartbeat, heartbeatMessages, namesAlive, othersAlive, sameBeat, senderEntry, type BeatGroup } from './heartbeats.js';
import { aliveCount, decide, leaderOf, stateOf, surplusOf, targetOf, type GroupState } from './leadership.js';
import { Popularity, RecentRequesters } from './popularity.js';
import { afterOutcome, localOutcome, mergeOutcome, selfClaimOutcome, statusName, type ClaimSource, type LocalEvent, type MemberState, type MergeOutcome } from './view-merge.js';

/**
 * The sans-IO core of Peer Content Group membership (SPEC §5) for every group
 * this node belongs to. Inputs: heartbeats, request failures, queries and the
 * current time; outputs from `poll(now)`: heartbeats to send (one per peer pair,
 * covering every shared group), groups to recruit for or shed from, and the
 * next deadline. It never reads a clock, arms a timer or touches a socket.
 */
export interface MembershipOptions {
  /** Base replication of a group unless its store asked for another. */
  replicas: number;
  /** Popularity cap: a queried group never asks for more than this. */
  maxReplicas: number;
  heartbeatIntervalMs: number;
  /** A member not heard from (about that group) for this long is suspected, and no longer counts. */
  failureTimeoutMs: number;
  /** Chance per beat that the next beat comes early, at a random point of the interval (a palpitation). */
  palpitationChance: number;
  /** How long a suspected or departed member stays in a view, so stale views cannot bring it back. */
  tombstoneLifetimeMs: number;
  /** A group must stay hot this long before its leader sheds surplus members. */
  shedAfterMs: number;
  /** A leader waits this long after a recruitment before recruiting again for the same group. */
  recruitRetryMs: number;
  /** Distinct requesters per popularity window that make a member ask for one more replica. */
  queriesPerExtraReplica: number;
  /** Time constant of the decaying query count. */
  popularityWindowMs: number;
}

export const defaultMembershipOptions: MembershipOptions = {
  replicas: 3,
  maxReplicas: 8,
  heartbeatIntervalMs: 2_000,
  failureTimeoutMs: 2_200,
  palpitationChance: 0.1,
  tombstoneLifetimeMs: 30_000,
  shedAfterMs: 4_000,
  recruitRetryMs: 1_500,
  queriesPerExtraReplica: 20,
  popularityWindowMs: 30_000,
};

/** The timeouts that follow the heartbeat interval unless given: failure 1.1 ×, shed 2 ×, recruit retry 0.75 ×. */
export function intervalDefaults(heartbeatIntervalMs: number): Pick<MembershipOptions, 'failureTimeoutMs' | 'shedAfterMs' | 'recruitRetryMs'> {
  return {
    failureTimeoutMs: Math.round(heartbeatIntervalMs * 1.1),
    shedAfterMs: heartbeatIntervalMs * 2,
    recruitRetryMs: Math.round(heartbeatIntervalMs * 0.75),
  };
}

/** The defaults with `overrides` and the interval's timeouts, for driving the core directly; the storage service checks every value. */
export function membershipOptions(overrides: Partial<MembershipOptions> = {}): MembershipOptions {
  const interval = overrides.heartbeatIntervalMs ?? defaultMembershipOptions.heartbeatIntervalMs;
  return { ...defaultMembershipOptions, ...intervalDefaults(interval), ...overrides };
}

export type { GroupState };

interface Member extends MemberState {
  readonly id: string;
  readonly group: Group;
  /** Undefined for this node's own record. */
  readonly peer: Peer | undefined;
  address: Address | undefined;
  /** Replication this member asks for from its own query load. */
  wanted: number;
  /** A suspected member still gets beats, ever more rarely, so that a healed partition merges back. */
  probeAtMs: number;
}

/** A host that shares groups with this node. */
interface Peer {
  readonly id: string;
  /** Its records in this node's groups: what a beat to it covers. */
  readonly memberships: Set<Member>;
  /** How many of them are alive. */
  alive: number;
  /**
   * The last full beat sent to it in one message, the state naming it, and the `viewVersion`
   * it was built at: a beat with the same content goes as a repeat.
   */
  sent: { state: number; message: HeartbeatMessage; address: Address; version: number } | undefined;
  /**
   * The last full beat received from it that named a state: what its repeats stand for;
   * with, from the first repeat on, its own entries resolved to its records here.
   */
  received: { message: HeartbeatMessage; entries: RepeatedEntry[] | undefined } | undefined;
  /**
   * `viewVersion` when a repeat last found every membership of this peer alive and refreshed
   * by it in a few steps each: until a change, the next repeat refreshes them all at once,
   * by `heardAllAtMs`.
   */
  wholeRepeatVersion: number | undefined;
  /** Every membership of this peer was heard at this time (a whole repeat); see `heardAt`. */
  heardAllAtMs: number;
  /** One of its repeats named a state this node lacks: the next beat to it asks for a full one. */
  askResync: boolean;
}

/** The sender's own entry in one group of a full beat, resolved to its record here, so that a repeat refreshes it in a few steps. */
interface RepeatedEntry {
  readonly member: Member;
  readonly claimed: { incarnation: number; status: MemberStatus };
  readonly wanted: number;
}

interface Group {
  readonly key: string;
  replicas: number;
  readonly members: Map<string, Member>;
  hotSinceMs: number | undefined;
  recruitBlockedUntilMs: number;
  /** A member that just joined leads only after this, once beats have told it the current view. */
  mayLeadFromMs: number;
  readonly popularity: Popularity;
}

export interface HeartbeatToSend {
  peerId: string;
  address: Address;
  message: HeartbeatMessage;
}

export interface Recruitment {
  key: string;
  needed: number;
  /** Current alive members, for the offer's view and to exclude from candidates. */
  view: MemberRecord[];
}

export interface Shedding {
  key: string;
  peerId: string;
  address: Address;
  incarnation: number;
}

export interface PollResult {
  heartbeats: HeartbeatToSend[];
  /** Members just suspected for silence: their connection may be half-open, worth dropping before the next beat. */
  silentPeers: Array<{ peerId: string; address: Address }>;
  recruitments: Recruitment[];
  sheddings: Shedding[];
  nextDeadlineMs: number;
}

export interface GroupSnapshot {
  key: string;
  state: GroupState;
  replicas: number;
  target: number;
  leader: string;
  members: Array<{ id: string; incarnation: number; status: 'alive' | 'suspected' | 'left' }>;
}

export interface HeartbeatOutcome {
  /** Groups this node was asked to leave by a higher member (the caller drops their blocks). */
  shedFrom: string[];
  /** The sender suspects this node: our beats are not reaching it (perhaps a half-open connection). */
  senderMissesSelf: boolean;
}

const aliveAt = (incarnation: number) => ({ incarnation, status: memberStatus.alive });
const addressOf = (entry: { host: string; port: number }): Address => ({ host: entry.host, port: entry.port });

/**
 * The composition: views per group (merged by view-merge.ts), the beat schedule per peer
 * (beat-schedule.ts), leadership and popularity per group (leadership.ts, popularity.ts),
 * and the work indexed by deadline, so that a wake-up costs only what is due:
 *
 * - `silence`: per peer, a lower bound of the earliest failure deadline (last heard +
 *   `failureTimeoutMs`) among its alive memberships — exact after each beat that covered
 *   them all, which in steady state is every beat, so receiving a beat costs one queue
 *   update, not one per group. When it comes, that peer's memberships are checked: the
 *   silent ones are suspected and the deadline moves to the next;
 * - `tombstones`: suspected and departed members in the order their status changed,
 *   forgotten after `tombstoneLifetimeMs`;
 * - `decisions`: groups whose leader decision changes with time alone (recruit retry,
 *   may-lead, shed-after, popularity falling), at that time;
 * - `beats`: each peer's next beat; a beat covers the peer's memberships;
 * - `dirty`: groups whose view changed since the last poll, decided at the next.
 *
 * A beat whose content is what the pair's last full beat carried goes as a repeat naming
 * that beat's state (no groups on the wire); its receiver refreshes the sender in the groups
 * that full beat listed, so a steady pair costs no encoding, checking or merging per group.
 * `viewVersion` counts every change a beat's content can show (a member's status,
 * incarnation or address, a member added or removed, a group's replication, this node's
 * incarnation); while it stands still, the peer is alive everywhere and no group's
 * popularity is raised, the repeat goes without even building the beat.
 *
 * All times are clamped to the latest `now` seen, so the expiry queues stay in order.
 */
/** Members barred after failed possession challenges, remembered at most (the oldest go first). */
const maxBarred = 4096;
/** (group, requester) pairs counted within the popularity window, remembered at most (about 1 MB). */
const maxCountedRequesters = 4096;
/** How long, in heartbeat intervals, this node's own lateness keeps lengthening its failure timeout. */
const latenessMemoryIntervals = 3;

export class GroupMembership {
  private readonly groups = new Map<string, Group>();
  private readonly peers = new Map<string, Peer>();
  private readonly beats: BeatSchedule;
  private readonly silence = new DeadlineQueue<Peer>();
  private readonly tombstones: ExpiryQueue<Member>;
  private readonly decisions = new DeadlineQueue<Group>();
  private readonly dirty = new Set<Group>();
  /** Groups this node left since the last poll: forgotten at its end, after the last beats told their members. */
  private readonly departed = new Set<Group>();
  /** `<key>\n<peer id>` → until when a member that failed a possession challenge may not come back (in the order barred). */
  private readonly barred = new Map<string, number>();
  private incarnationValue: number;
  /** Names the next full beat; from a random start, so a restarted node's states do not match its earlier ones. */
  private nextBeatState: number;
  /** Changes to anything a beat shows (see above). */
  private viewVersion = 0;
  /** Groups whose own popularity asks for more than their base: their beats change with time alone. */
  private readonly popular = new Set<Group>();
  private readonly requesters = new RecentRequesters(maxCountedRequesters);
  /** The latest time any input brought. */
  private latestMs: number;
  private visited = 0;
  /** When the last poll ran (or the core was made): a late poll's stall lies somewhere since. */
  private lastPollAtMs: number;
  /** The largest stall lately (see `noteLateness`), added to the failure timeout, and when it was seen. */
  private lateness = { allowanceMs: 0, seenAtMs: -Infinity };

  constructor(
    readonly selfId: string,
    random: Random,
    readonly options: MembershipOptions,
    nowMs: number,
    startIncarnation = 0,
  ) {
    this.incarnationValue = startIncarnation;
    this.latestMs = nowMs;
    this.lastPollAtMs = nowMs;
    this.beats = new BeatSchedule(random, options);
    this.nextBeatState = random.fork('beat-states').int(2 ** 40);
    // An entry is current while the member is still in its group, not alive, with the same change time.
    const held = (member: Member) => member.group.members.get(member.id) === member;
    this.tombstones = new ExpiryQueue<Member>(options.tombstoneLifetimeMs, (member) => (member.status !== memberStatus.alive && held(member) ? member.changedAtMs : undefined));
  }

  get incarnation(): number {
    return this.incarnationValue;
  }

  /** Entries the polls have examined so far (queue entries, members, groups): what maintenance costs, for tests and benchmarks. */
  get pollVisits(): number {
    return this.visited + this.beats.visits + this.silence.visits + this.tombstones.visits + this.decisions.visits;
  }

  has(key: string): boolean {
    return this.groups.get(key)?.members.get(this.selfId)?.status === memberStatus.alive;
  }

  keys(): string[] {
    return [...this.groups.keys()];
  }

  /** Peer `peerId` is an alive fellow member of some group of this node's. */
  hasPeer(peerId: string): boolean {
    return (this.peers.get(peerId)?.alive ?? 0) > 0;
  }

  /**
   * This node now holds the block of `key`: it joins (or rejoins) the group
   * with `view` as the members it was told about (e.g. by the recruiting leader).
   */
  join(key: string, replicas: number, view: readonly MemberRecord[], nowMs: number): void {
    const now = this.advance(nowMs);
    let group = this.groups.get(key);
    if (!group) {
      // A fresh incarnation: any tombstone of an earlier membership of this group stays buried.
      this.incarnationValue += 1;
      const settleMs = view.length > 0 ? this.options.heartbeatIntervalMs / 4 : 0;
      group = {
        key,
        replicas: Math.min(maxReplicas, Math.max(1, replicas)),
        members: new Map(),
        hotSinceMs: undefined,
        recruitBlockedUntilMs: 0,
        mayLeadFromMs: now + settleMs,
        popularity: new Popularity(now),
      };
      this.groups.set(key, group);
    }
    const raised = Math.max(group.replicas, Math.min(maxReplicas, replicas));
    if (raised !== group.replicas) this.viewVersion += 1;
    group.replicas = raised;
    this.setSelf(group, now);
    for (const record of view) {
      if (record.id === this.selfId) continue;
      this.applyClaim(group, record.id, addressOf(record), 'direct', aliveAt(record.incarnation), now);
      this.beats.markUrgent(record.id);
    }
  }

  /** A member this node recruited: it holds the block now. */
  admit(key: string, record: MemberRecord, nowMs: number): void {
    const now = this.advance(nowMs);
    const group = this.groups.get(key);
    if (!group || record.id === this.selfId) return;
    this.applyClaim(group, record.id, addressOf(record), 'admitted', aliveAt(record.incarnation), now);
    if (group.members.get(record.id)?.status !== memberStatus.alive) return;
    // Tell every member at once, so the newcomer counts everywhere within a round trip.
    for (const other of group.members.values()) if (other.id !== this.selfId && other.status === memberStatus.alive) this.beats.markUrgent(other.id);
  }

  /** This node leaves the group (graceful leave or shed): its members hear it at once, then it is forgotten. */
  depart(key: string, nowMs: number): void {
    const now = this.advance(nowMs);
    const group = this.groups.get(key);
    const self = group?.members.get(this.selfId);
    if (!group || !self) return;
    self.status = memberStatus.left;
    self.changedAtMs = now;
    this.viewVersion += 1;
    this.departed.add(group);
    this.dirty.add(group);
    for (const member of group.members.values()) if (member.id !== this.selfId && member.status !== memberStatus.left) this.beats.markUrgent(member.id);
  }

  /**
   * The connection to fellow member `peerId` ended from its side: beat it at once. A killed
   * process's OS ends its connections, and the redial is then refused (`peerUnreachable`), long
   * before the failure timeout; a peer that only closed an idle connection gets the beat.
   */
  peerClosedConnection(peerId: string, nowMs: number): void {
    this.advance(nowMs);
    if (this.hasPeer(peerId)) this.beats.markUrgent(peerId);
  }

  /** A request to this peer failed: suspect it at once in every shared group (faster than the timeout). */
  peerUnreachable(peerId: string, nowMs: number): void {
    const now = this.advance(nowMs);
    for (const member of this.peers.get(peerId)?.memberships ?? []) this.applyLocal(member, 'unreachable', now);
  }

  /**
   * `peerId` failed a possession challenge for `key`: it loses its seat here (marked left at its
   * incarnation) and the other members hear it at once; the group recruits when it is short.
   */
  dispossess(key: string, peerId: string, nowMs: number, barredForMs = 0): void {
    const now = this.advance(nowMs);
    const member = this.groups.get(key)?.members.get(peerId);
    if (!member || peerId === this.selfId) return;
    this.applyLocal(member, 'dispossessed', now);
    if (barredForMs > 0) this.bar(`${key}\n${peerId}`, now + barredForMs, now);
    for (const other of member.group.members.values()) if (other.id !== this.selfId && other.status === memberStatus.alive) this.beats.markUrgent(other.id);
  }

  private bar(entry: string, untilMs: number, nowMs: number): void {
    for (const [oldest, until] of this.barred) {
      if (until > nowMs && this.barred.size < maxBarred) break;
      this.barred.delete(oldest);
    }
    this.barred.delete(entry);
    this.barred.set(entry, untilMs);
  }

  private isBarred(key: string, peerId: string, nowMs: number): boolean {
    if (this.barred.size === 0) return false;
    const entry = `${key}\n${peerId}`;
    const until = this.barred.get(entry);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.barred.delete(entry);
    return false;
  }

  /** Every peer alive in a group with this node, with its seats and since when it has held each (alive at that incarnation): what possession challenges cover. */
  peerSeats(): PeerSeats[] {
    const out: PeerSeats[] = [];
    for (const [peerId, peer] of this.peers) {
      let address: Address | undefined;
      const seats: Array<{ key: string; sinceMs: number }> = [];
      for (const member of peer.memberships) {
        if (member.status !== memberStatus.alive || !this.has(member.group.key)) continue;
        address ??= member.address;
        seats.push({ key: member.group.key, sinceMs: member.changedAtMs });
      }
      if (address && seats.length > 0) out.push({ peerId, address, seats });
    }
    return out;
  }

  /**
   * A hit for this group was served here to `requesterId` (the authenticated peer that asked):
   * it feeds the popularity estimate, once per requester per popularity window.
   */
  recordHit(key: string, requesterId: string, nowMs: number): void {
    const now = this.advance(nowMs);
    const group = this.groups.get(key);
    if (!group || !this.requesters.admit(key, requesterId, now, this.options.popularityWindowMs)) return;
    const before = group.popularity.wanted(group.replicas, now, this.options);
    group.popularity.record(now, this.options);
    const wanted = group.popularity.wanted(group.replicas, now, this.options);
    if (wanted > group.replicas) this.popular.add(group);
    if (wanted !== before) this.dirty.add(group);
  }

  /** The recruitment for `key` finished; another may start when the group is still cold. */
  recruitmentDone(key: string, nowMs: number, retryAfterMs = 0): void {
    const now = this.advance(nowMs);
    const group = this.groups.get(key);
    if (!group) return;
    group.recruitBlockedUntilMs = now + retryAfterMs;
    this.dirty.add(group);
  }

  state(key: string): GroupState | undefined {
    const group = this.groups.get(key);
    if (!group) return undefined;
    return stateOf(aliveCount(group.members.values()), this.target(group));
  }

  /**
   * The leader of a hot group asked this node to leave `key`: obeyed when the
   * sender is an alive member above this node and the group is hot here too.
   */
  shedBy(key: string, senderId: string, nowMs: number): boolean {
    const now = this.advance(nowMs);
    const group = this.groups.get(key);
    const sender = group?.members.get(senderId);
    if (!group || !sender || sender.status !== memberStatus.alive || senderId < this.selfId) return false;
    if (group.members.get(this.selfId)?.status !== memberStatus.alive || aliveCount(group.members.values()) <= this.target(group)) return false;
    this.depart(key, now);
    return true;
  }

  /** Alive members other than this node, with addresses (candidates to exclude, holders to fetch from). */
  aliveMembers(key: string): MemberRecord[] {
    const group = this.groups.get(key);
    return group ? this.viewRecords(group) : [];
  }

  snapshot(): GroupSnapshot[] {
    return [...this.groups.values()].map((group) => ({
      key: group.key,
      state: stateOf(aliveCount(group.members.values()), this.target(group)),
      replicas: group.replicas,
      target: this.target(group),
      leader: leaderOf(group.members.values()),
      members: [...group.members.values()].map((member) => ({
        id: member.id,
        incarnation: member.id === this.selfId ? this.incarnationValue : member.incarnation,
        status: statusName(member.status),
      })),
    }));
  }

  /** Peers heard from (about any group they are alive in) within the failure timeout: alive as far as this node can tell. */
  recentlyHeard(nowMs: number): MemberRecord[] {
    const heard: MemberRecord[] = [];
    for (const [id, peer] of this.peers) {
      for (const member of peer.memberships) {
        if (member.status !== memberStatus.alive || !member.address || nowMs >= this.heardAt(member) + this.options.failureTimeoutMs) continue;
        heard.push({ id, host: member.address.host, port: member.address.port, incarnation: member.incarnation });
        break;
      }
    }
    return heard;
  }

  /**
   * For every peer alive in a group with this node, how long ago it was last heard (its most
   * recent membership): the heartbeat lag an operator watches. A lag past the heartbeat
   * interval means lost or late beats; past the failure timeout, suspicion follows.
   */
  heartbeatLagsMs(nowMs: number): number[] {
    const lags: number[] = [];
    for (const peer of this.peers.values()) {
      let heardAtMs = -Infinity;
      for (const member of peer.memberships) {
        if (member.status === memberStatus.alive) heardAtMs = Math.max(heardAtMs, this.heardAt(member));
      }
      if (heardAtMs > -Infinity) lags.push(Math.max(0, nowMs - heardAtMs));
    }
    return lags;
  }

  /** Everything to persist about a group (its view), so a restarted node can rejoin. */
  record(key: string): { replicas: number; view: MemberRecord[] } | undefined {
    const group = this.groups.get(key);
    return group ? { replicas: group.replicas, view: this.viewRecords(group) } : undefined;
  }

  /**
   * Applies a heartbeat from `senderId`, seen at `senderAddress`. Throws
   * ProtocolError when the message contradicts itself (bad indices, duplicate
   * members); groups this node does not hold, and members vouched for by a
   * sender that is not itself a member, are ignored.
   */
  receiveHeartbeat(senderId: string, senderAddress: Address | undefined, message: HeartbeatMessage, nowMs: number): HeartbeatOutcome {
    checkHeartbeat(senderId, message);
    const now = this.advance(nowMs);
    const outcome: HeartbeatOutcome = { shedFrom: [], senderMissesSelf: false };
    // This node never beats itself: a beat in its name is not news about its groups.
    if (senderId === this.selfId) return outcome;
    const known = this.peers.get(senderId);
    if (message.resync && known?.sent) {
      known.sent = undefined;
      this.beats.markUrgent(senderId);
    }
    if (message.repeat !== undefined) {
      this.receiveRepeat(known, senderAddress, message, now);
      return outcome;
    }
    let heard = 0;
    for (const entry of message.groups) {
      const group = this.groups.get(entry.key);
      if (!group || group.members.get(this.selfId)?.status !== memberStatus.alive) continue;
      const sender = this.senderIn(group, senderId, senderAddress, entry, message.members, now);
      if (!sender) continue;
      const direct = this.applyDirect(sender, senderAddress, senderEntry(entry.view), entry.wanted, now);
      if (direct === 'refresh' || direct === 'revive') heard += 1;
      if (sender.status !== memberStatus.alive) continue;
      if (entry.replicas > group.replicas) {
        group.replicas = entry.replicas;
        this.viewVersion += 1;
        this.dirty.add(group);
      }
      this.applyView(group, senderId, entry.view, message.members, outcome, now);
    }
    // The beat covered every alive membership of its sender: they are all heard now.
    const peer = this.peers.get(senderId);
    if (peer) {
      peer.received = message.state === undefined ? undefined : { message, entries: undefined };
      peer.wholeRepeatVersion = undefined;
    }
    if (peer && heard > 0 && heard === peer.alive) this.silence.set(peer, now + this.options.failureTimeoutMs);
    return outcome;
  }

  /**
   * A repeat of the sender's last full beat: its own entry in each group that beat listed is
   * heard again (its news about others was applied then, and is unchanged). A repeat of a
   * state this node lacks (the full beat was lost, or this node restarted) asks for a full beat.
   */
  private receiveRepeat(peer: Peer | undefined, senderAddress: Address | undefined, message: HeartbeatMessage, nowMs: number): void {
    if (!peer) return;
    const full = peer.received;
    if (!full || full.message.state !== message.repeat || full.message.incarnation !== message.incarnation) {
      peer.askResync = true;
      this.beats.markUrgent(peer.id);
      return;
    }
    if (peer.wholeRepeatVersion === this.viewVersion) {
      // Nothing changed since a repeat refreshed every membership of this peer: this one does too.
      this.visited += 1;
      peer.heardAllAtMs = nowMs;
      this.silence.set(peer, nowMs + this.options.failureTimeoutMs);
      return;
    }
    full.entries ??= this.resolveEntries(peer.id, full.message);
    let heard = 0;
    let quick = 0;
    for (const { member, claimed, wanted } of full.entries) {
      this.visited += 1;
      const { group } = member;
      // A record forgotten since, or a group left: nothing to refresh there.
      if (group.members.get(member.id) !== member || this.groups.get(group.key) !== group || group.members.get(this.selfId)?.status !== memberStatus.alive) continue;
      const sameAddress = !senderAddress || (member.address?.host === senderAddress.host && member.address.port === senderAddress.port);
      if (member.status === memberStatus.alive && member.incarnation === claimed.incarnation && claimed.status === memberStatus.alive && sameAddress) {
        // What applyDirect would do with the same alive claim: heard now.
        member.heardAtMs = nowMs;
        heard += 1;
        quick += 1;
        continue;
      }
      const direct = this.applyDirect(member, senderAddress, claimed, wanted, nowMs);
      if (direct === 'refresh' || direct === 'revive') heard += 1;
    }
    if (heard > 0 && heard === peer.alive) this.silence.set(peer, nowMs + this.options.failureTimeoutMs);
    peer.wholeRepeatVersion = quick === peer.memberships.size && quick === peer.alive ? this.viewVersion : undefined;
  }

  /** When this node last heard `member`: its own record, or a whole repeat of its peer since. */
  private heardAt(member: Member): number {
    return Math.max(member.heardAtMs, member.peer?.heardAllAtMs ?? -Infinity);
  }

  /** The sender's records here for the groups of its full beat that this node holds. */
  private resolveEntries(senderId: string, message: HeartbeatMessage): RepeatedEntry[] {
    const entries: RepeatedEntry[] = [];
    for (const entry of message.groups) {
      this.visited += 1;
      const member = this.groups.get(entry.key)?.members.get(senderId);
      if (member) entries.push({ member, claimed: senderEntry(entry.view), wanted: entry.wanted });
    }
    return entries;
  }

  /**
   * Runs the failure detector and tombstone expiry, decides the groups that need it and emits
   * the beats due, visiting only what is due. `lateMs`: how long after the last reported
   * deadline this poll runs (0 when on time or earlier).
   */
  poll(nowMs: number, lateMs = 0): PollResult {
    const now = this.advance(nowMs);
    this.noteLateness(now, lateMs);
    const silentPeers = this.suspectSilent(now);
    for (const member of this.tombstones.popExpired(now)) this.applyLocal(member, 'expired', now);
    const recruitments: Recruitment[] = [];
    const sheddings: Shedding[] = [];
    this.decideDue(now, recruitments, sheddings);
    this.settlePopularity(now);
    const heartbeats = this.buildHeartbeats(now);
    this.forgetDeparted();
    this.lastPollAtMs = now;
    return { heartbeats, silentPeers, recruitments, sheddings, nextDeadlineMs: this.nextDeadline(now) };
  }

  /**
   * A poll later than its deadline (`lateMs`, measured by the caller's timer) by more than the
   * failure timeout's grace means this node's own event loop fell behind (a stall, a starved
   * CPU) at some point since the last poll: beats that came meanwhile may still wait unread,
   * and peers in the same state beat late too. Until a few intervals pass without such
   * lateness, the longest time since the last poll of a late one (the stall is somewhere in
   * it) is added to the failure timeout, so that a stalled node does not suspect members it
   * merely has not read, and recruit for them, which adds load and keeps it behind (the storm
   * of BENCHMARKS "retrieval" and "storage-stall").
   */
  private noteLateness(nowMs: number, lateMs: number): void {
    const { heartbeatIntervalMs, failureTimeoutMs } = this.options;
    if (nowMs - this.lateness.seenAtMs > latenessMemoryIntervals * heartbeatIntervalMs) this.lateness = { allowanceMs: 0, seenAtMs: -Infinity };
    if (!(lateMs > Math.max(0, failureTimeoutMs - heartbeatIntervalMs))) return;
    const stallMs = nowMs - this.lastPollAtMs;
    if (stallMs >= this.lateness.allowanceMs) this.lateness = { allowanceMs: stallMs, seenAtMs: nowMs };
  }

  // ---- views -------------------------------------------------------------------------------------

  private advance(nowMs: number): number {
    this.latestMs = Math.max(this.latestMs, nowMs);
    return this.latestMs;
  }

  private setSelf(group: Group, nowMs: number): void {
    this.viewVersion += 1;
    this.departed.delete(group);
    this.dirty.add(group);
    const self = group.members.get(this.selfId);
    if (self) {
      self.status = memberStatus.alive;
      self.changedAtMs = nowMs;
      return;
    }
    const state = { incarnation: 0, status: memberStatus.alive, changedAtMs: nowMs, heardAtMs: nowMs };
    group.members.set(this.selfId, { id: this.selfId, group, peer: undefined, address: undefined, ...state, wanted: group.replicas, probeAtMs: 0 });
  }

  /** The sender's record in `group`; a host new to the view joins it only if it names this node alive (a recruit told of us). */
  private senderIn(group: Group, senderId: string, senderAddress: Address | undefined, entry: HeartbeatGroup, members: readonly HostEntry[], nowMs: number): Member | undefined {
    const sender = group.members.get(senderId);
    // A claim that does not know who is in the group is ignored.
    if (sender || !senderAddress || !namesAlive(entry.view, members, this.selfId)) return sender;
    this.applyClaim(group, senderId, senderAddress, 'direct', aliveAt(0), nowMs);
    this.beats.markUrgent(senderId);
    return group.members.get(senderId);
  }

  /** What a member says about itself, heard directly: alive refreshes it, a departure removes it from counts. */
  private applyDirect(sender: Member, senderAddress: Address | undefined, claimed: { incarnation: number; status: MemberStatus }, wanted: number, nowMs: number): MergeOutcome {
    const asked = Math.min(this.options.maxReplicas, wanted);
    if (asked !== sender.wanted) {
      sender.wanted = asked;
      this.dirty.add(sender.group);
    }
    return this.applyClaim(sender.group, sender.id, senderAddress, 'direct', claimed, nowMs);
  }

  /** The rest of an alive member's view: news about other members, and claims about this node. */
  private applyView(group: Group, senderId: string, view: HeartbeatGroup['view'], members: readonly HostEntry[], outcome: HeartbeatOutcome, nowMs: number): void {
    for (const [index, incarnation, status] of view) {
      if (index === -1) continue;
      const named = members[index] as HostEntry;
      if (named.id !== this.selfId) {
        // A host new to this view must hear this node, and beat it, within the failure timeout.
        if (this.applyClaim(group, named.id, named, 'vouched', { incarnation, status }, nowMs) === 'create') this.beats.markUrgent(named.id);
        continue;
      }
      if (status === memberStatus.suspected) outcome.senderMissesSelf = true;
      if (this.answerClaimAboutSelf(group, senderId, { incarnation, status }, view, index, nowMs)) outcome.shedFrom.push(group.key);
    }
  }

  /**
   * Applies what `source` says about member `id` (view-merge.ts decides); returns the outcome.
   * Direct and admitted claims come from the member itself, so they carry its address.
   */
  private applyClaim(group: Group, id: string, address: Address | undefined, source: ClaimSource, claimed: { incarnation: number; status: MemberStatus }, nowMs: number): MergeOutcome {
    const member = group.members.get(id);
    if (id === this.selfId || (!member && group.members.size >= maxGroupMembers)) return 'ignore';
    let outcome = mergeOutcome(source, claimed, member);
    // A member that failed a possession challenge cannot win its seat back by raising its incarnation while barred.
    if ((outcome === 'create' || outcome === 'revive') && this.isBarred(group.key, id, nowMs)) outcome = 'ignore';
    if (member && address && source !== 'vouched' && (member.address?.host !== address.host || member.address.port !== address.port)) {
      member.address = address;
      this.viewVersion += 1;
    }
    const next = afterOutcome(outcome, member, claimed, nowMs);
    if (next && member) this.setState(member, next);
    else if (next) this.addMember(group, id, address, next, nowMs);
    return outcome;
  }

  /** What this node observed itself about a member (view-merge.ts decides). */
  private applyLocal(member: Member, event: LocalEvent, nowMs: number): void {
    const outcome = localOutcome(event, member.status);
    if (outcome === 'forget') this.removeMember(member);
    if (outcome !== 'suspect' && outcome !== 'mark-left') return;
    const status = outcome === 'suspect' ? memberStatus.suspected : memberStatus.left;
    this.setState(member, { incarnation: member.incarnation, status, changedAtMs: nowMs, heardAtMs: this.heardAt(member) });
  }

  /** Returns true when this node was shed (told it left by a higher member); refutes a suspicion otherwise. */
  private answerClaimAboutSelf(group: Group, senderId: string, claimed: { incarnation: number; status: MemberStatus }, view: HeartbeatGroup['view'], selfIndex: number, nowMs: number): boolean {
    // Shed by a higher member whose own view keeps at least the target without this node: obey.
    const shedAllowed = claimed.status === memberStatus.left && senderId > this.selfId && othersAlive(view, selfIndex) >= this.target(group);
    const outcome = selfClaimOutcome(claimed, this.incarnationValue, shedAllowed);
    if (outcome === 'obey') {
      this.depart(group.key, nowMs);
      return true;
    }
    if (outcome === 'refute') {
      // A higher incarnation, alive, overrides the stale claim everywhere.
      this.incarnationValue = claimed.incarnation + 1;
      this.viewVersion += 1;
      this.beats.markUrgent(senderId);
    }
    return false;
  }

  // ---- indices: every change of a member goes through these three ------------------------------------

  private addMember(group: Group, id: string, address: Address | undefined, state: MemberState, nowMs: number): void {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = { id, memberships: new Set(), alive: 0, sent: undefined, received: undefined, askResync: false, wholeRepeatVersion: undefined, heardAllAtMs: -Infinity };
      this.peers.set(id, peer);
      this.beats.add(id, nowMs);
    }
    // A copy: the address may be part of a received message.
    const member: Member = { id, group, peer, address: address && addressOf(address), ...state, wanted: group.replicas, probeAtMs: 0 };
    this.viewVersion += 1;
    group.members.set(id, member);
    peer.memberships.add(member);
    // Only alive members are added (view-merge.ts).
    this.becameAlive(peer, member);
    this.dirty.add(group);
  }

  /**
   * A member's new state. An alive one counts for its peer's failure deadline; a suspected or
   * departed one waits in `tombstones`. A status change makes the group dirty.
   */
  private setState(member: Member, next: MemberState): void {
    const { status, changedAtMs } = member;
    if (next.incarnation !== member.incarnation || next.status !== status) this.viewVersion += 1;
    member.incarnation = next.incarnation;
    member.status = next.status;
    member.changedAtMs = next.changedAtMs;
    member.heardAtMs = next.heardAtMs;
    if (next.status === status) {
      if (status !== memberStatus.alive && next.changedAtMs !== changedAtMs) this.tombstones.touch(member, next.changedAtMs);
      return;
    }
    this.dirty.add(member.group);
    if (!member.peer) return;
    if (next.status === memberStatus.alive) {
      this.becameAlive(member.peer, member);
      return;
    }
    // The peer's failure deadline stays as it was: still a lower bound, corrected when it comes.
    if (status === memberStatus.alive) member.peer.alive -= 1;
    this.tombstones.touch(member, next.changedAtMs);
  }

  /** Heard now: the peer's failure deadline is at the latest this member's (an earlier one is kept: it is still a lower bound). */
  private becameAlive(peer: Peer, member: Member): void {
    peer.alive += 1;
    if (this.silence.get(peer) === undefined) this.silence.set(peer, member.heardAtMs + this.options.failureTimeoutMs);
  }

  /** Forgets a member (an expired tombstone, or a group this node left); a peer in no group any more leaves the schedules. */
  private removeMember(member: Member): void {
    const { peer } = member;
    // A tombstone's queue entry is stale from now on (it is not in its group).
    if (member.group.members.get(member.id) !== member || !peer) return;
    this.viewVersion += 1;
    member.group.members.delete(member.id);
    peer.memberships.delete(member);
    if (member.status === memberStatus.alive) peer.alive -= 1;
    if (peer.memberships.size > 0) return;
    this.peers.delete(peer.id);
    this.beats.remove(peer.id);
    this.silence.delete(peer);
  }

  // ---- what a poll does ------------------------------------------------------------------------------

  /** Suspects the members silent for the failure timeout, peer by peer as their deadlines come; returns them (their connection may be half-open). */
  private suspectSilent(nowMs: number): Array<{ peerId: string; address: Address }> {
    const silent = new Map<string, Address>();
    for (const peer of this.silence.popDue(nowMs)) {
      let nextMs = Infinity;
      for (const member of peer.memberships) {
        this.visited += 1;
        if (member.status !== memberStatus.alive) continue;
        const deadlineMs = this.heardAt(member) + this.options.failureTimeoutMs + this.lateness.allowanceMs;
        if (nowMs < deadlineMs) {
          nextMs = Math.min(nextMs, deadlineMs);
          continue;
        }
        this.applyLocal(member, 'silent', nowMs);
        if (member.address) silent.set(member.id, member.address);
        // The leader may hear the crashed member at a later phase: it learns of the suspicion now and recruits.
        const leader = leaderOf(member.group.members.values());
        this.visited += member.group.members.size;
        if (leader !== this.selfId) this.beats.markUrgent(leader);
      }
      this.silence.set(peer, nextMs);
    }
    return [...silent].map(([peerId, address]) => ({ peerId, address }));
  }

  /** Decides the groups whose view changed and those whose decision time has come. */
  private decideDue(nowMs: number, recruitments: Recruitment[], sheddings: Shedding[]): void {
    for (const group of this.decisions.popDue(nowMs)) this.dirty.add(group);
    for (const group of this.dirty) {
      this.visited += group.members.size;
      if (this.groups.get(group.key) === group) this.decideGroup(group, nowMs, recruitments, sheddings);
    }
    this.dirty.clear();
  }

  private decideGroup(group: Group, nowMs: number, recruitments: Recruitment[], sheddings: Shedding[]): void {
    const decision = decide({
      leads: group.members.get(this.selfId)?.status === memberStatus.alive && leaderOf(group.members.values()) === this.selfId,
      alive: aliveCount(group.members.values()),
      target: this.target(group),
      targetFallsAtMs: group.popularity.nextDropAtMs(group.replicas, nowMs, this.options),
      shedAfterMs: this.options.shedAfterMs,
      nowMs,
      recruitBlockedUntilMs: group.recruitBlockedUntilMs,
      mayLeadFromMs: group.mayLeadFromMs,
      hotSinceMs: group.hotSinceMs,
    });
    group.recruitBlockedUntilMs = decision.times.recruitBlockedUntilMs;
    group.mayLeadFromMs = decision.times.mayLeadFromMs;
    group.hotSinceMs = decision.times.hotSinceMs;
    this.decisions.set(group, decision.decideAgainAtMs);
    if (decision.action === 'recruit') recruitments.push({ key: group.key, needed: decision.count, view: this.viewRecords(group) });
    if (decision.action !== 'shed') return;
    for (const member of surplusOf(group.members.values(), this.selfId, decision.count, (member) => member.address !== undefined)) {
      sheddings.push({ key: group.key, peerId: member.id, address: member.address as Address, incarnation: member.incarnation });
      this.applyLocal(member, 'shed', nowMs);
    }
  }

  /** A group whose popularity fell back to its base beats the same again from now on. */
  private settlePopularity(nowMs: number): void {
    for (const group of this.popular) {
      this.visited += 1;
      if (group.popularity.wanted(group.replicas, nowMs, this.options) > group.replicas) continue;
      this.popular.delete(group);
      this.viewVersion += 1;
    }
  }

  /** Beats the peers whose phase has come, and the urgent ones; one message per pair covers every shared group. */
  private buildHeartbeats(nowMs: number): HeartbeatToSend[] {
    const { scheduled, urgent } = this.beats.due(nowMs);
    const heartbeats: HeartbeatToSend[] = [];
    for (const peerId of scheduled) this.beatPeer(peerId, nowMs, false, heartbeats);
    for (const peerId of urgent) this.beatPeer(peerId, nowMs, true, heartbeats);
    return heartbeats;
  }

  /** The groups a beat to `peerId` covers: alive members, and suspected ones at their probe times (so they can refute). */
  private beatPeer(peerId: string, nowMs: number, urgent: boolean, heartbeats: HeartbeatToSend[]): void {
    const peer = this.peers.get(peerId);
    const sent = peer?.sent;
    if (peer && sent && sent.version === this.viewVersion && peer.alive === peer.memberships.size && this.popular.size === 0) {
      // Nothing a beat shows has changed, and nothing changes with time alone: the same beat again.
      this.visited += 1;
      heartbeats.push({ peerId, address: sent.address, message: this.repeatOf(peer, sent) });
      return;
    }
    let address: Address | undefined;
    const groups: BeatGroup[] = [];
    for (const member of this.peers.get(peerId)?.memberships ?? []) {
      this.visited += 1;
      if (!member.address) continue;
      const cover = coversMember(member, nowMs, urgent, this.options);
      member.probeAtMs = cover.probeAtMs;
      if (!cover.covered) continue;
      address ??= member.address;
      const { group } = member;
      this.visited += group.members.size;
      groups.push({ key: group.key, replicas: group.replicas, wanted: group.popularity.wanted(group.replicas, nowMs, this.options), members: group.members.values() });
    }
    if (!address || !peer) return;
    const messages = heartbeatMessages(this.selfId, this.incarnationValue, groups);
    const [only] = messages;
    if (messages.length > 1 || !only) {
      // Beats split over several messages always go in full.
      peer.sent = undefined;
      const resync = this.takeResync(peer);
      for (const message of messages) heartbeats.push({ peerId, address, message: { ...message, ...resync } });
      return;
    }
    if (peer.sent && sameBeat(peer.sent.message, only)) {
      peer.sent = { ...peer.sent, address, version: this.viewVersion };
      heartbeats.push({ peerId, address, message: this.repeatOf(peer, peer.sent) });
      return;
    }
    const state = this.nextBeatState++;
    peer.sent = { state, message: only, address, version: this.viewVersion };
    heartbeats.push({ peerId, address, message: { ...only, state, ...this.takeResync(peer) } });
  }

  private repeatOf(peer: Peer, sent: { state: number; message: HeartbeatMessage }): HeartbeatMessage {
    return { incarnation: sent.message.incarnation, members: [], groups: [], repeat: sent.state, ...this.takeResync(peer) };
  }

  /** Asks for a full beat once, with the next beat, when one of the peer's repeats named an unknown state. */
  private takeResync(peer: Peer): { resync?: true } {
    if (!peer.askResync) return {};
    peer.askResync = false;
    return { resync: true };
  }

  /** Groups this node left are forgotten once their members have had the last beats. */
  private forgetDeparted(): void {
    for (const group of this.departed) {
      if (group.members.get(this.selfId)?.status === memberStatus.alive || this.groups.get(group.key) !== group) continue;
      for (const member of group.members.values()) if (member.id !== this.selfId) this.removeMember(member);
      this.groups.delete(group.key);
      this.decisions.delete(group);
      this.dirty.delete(group);
      this.popular.delete(group);
    }
    this.departed.clear();
  }

  /** The head of each deadline index (never a scan); at least every interval, as a safety net. */
  private nextDeadline(nowMs: number): number {
    if (this.dirty.size > 0 || this.beats.hasUrgent) return nowMs;
    const deadline = Math.min(nowMs + this.options.heartbeatIntervalMs, this.beats.nextBeatAtMs(), this.silence.nextMs(), this.decisions.nextMs());
    return Math.max(nowMs, deadline);
  }

  // ---- reading a group -------------------------------------------------------------------------------

  private viewRecords(group: Group): MemberRecord[] {
    const records: MemberRecord[] = [];
    for (const member of group.members.values()) {
      if (member.id === this.selfId || member.status !== memberStatus.alive || !member.address) continue;
      records.push({ id: member.id, host: member.address.host, port: member.address.port, incarnation: member.incarnation });
    }
    return records;
  }

  /** The replication the group keeps: its base, raised by the most demanding alive member (this node's own ask read now), capped. */
  private target(group: Group): number {
    const ownWanted = group.popularity.wanted(group.replicas, this.latestMs, this.options);
    return targetOf(group.replicas, group.members.values(), (member) => (member.id === this.selfId ? ownWanted : member.wanted), this.options.maxReplicas);
  }
}
