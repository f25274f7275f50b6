import { ProtocolError } from '../errors.js';
import type { Address, Random } from '../runtime/types.js';
import {
  maxGroupMembers,
  maxGroupsPerHeartbeat,
  maxMembersPerHeartbeat,
  maxReplicas,
  memberStatus,
  type HeartbeatGroup,
  type HeartbeatMessage,
  type HostEntry,
  type MemberRecord,
  type MemberStatus,
} from './group-messages.js';
import { aliveCount, decide, leaderOf, stateOf, surplusOf, targetOf, type GroupState } from './leadership.js';
import { Popularity } from './popularity.js';
import { afterOutcome, localOutcome, mergeOutcome, selfClaimOutcome, type ClaimSource, type LocalEvent, type LocalOutcome, type MergeOutcome } from './view-merge.js';

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
  /** Queries per popularity window that make a member ask for one more replica. */
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

/** Fills defaults (the failure timeout follows the interval unless given) and checks every bound. */
export function membershipOptions(overrides: Partial<MembershipOptions> = {}): MembershipOptions {
  const interval = overrides.heartbeatIntervalMs ?? defaultMembershipOptions.heartbeatIntervalMs;
  const options: MembershipOptions = {
    ...defaultMembershipOptions,
    failureTimeoutMs: Math.round(interval * 1.1),
    shedAfterMs: interval * 2,
    recruitRetryMs: Math.round(interval * 0.75),
    ...overrides,
  };
  const positive = ['heartbeatIntervalMs', 'failureTimeoutMs', 'tombstoneLifetimeMs', 'shedAfterMs', 'recruitRetryMs', 'popularityWindowMs'] as const;
  for (const name of positive) if (!(options[name] > 0)) throw new RangeError(`${name} must be positive, got ${options[name]}`);
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > maxReplicas) {
    throw new RangeError(`replicas must be an integer from 1 to ${maxReplicas}`);
  }
  if (!Number.isInteger(options.maxReplicas) || options.maxReplicas < options.replicas || options.maxReplicas > maxReplicas) {
    throw new RangeError(`maxReplicas must be an integer from replicas to ${maxReplicas}`);
  }
  if (!(options.palpitationChance >= 0 && options.palpitationChance <= 1)) throw new RangeError('palpitationChance must be in [0, 1]');
  if (!(options.queriesPerExtraReplica > 0)) throw new RangeError('queriesPerExtraReplica must be positive');
  return options;
}

export type { GroupState };

interface Member {
  readonly id: string;
  address: Address | undefined;
  incarnation: number;
  status: MemberStatus;
  /** When the status last changed (tombstone age). */
  changedAtMs: number;
  /** Last heartbeat from this member that listed this group (or when it entered the view). */
  heardAtMs: number;
  /** Replication this member asks for from its own query load. */
  wanted: number;
  /** A suspected member still gets beats, ever more rarely, so that a healed partition merges back. */
  probeAtMs: number;
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

const statusNames = ['alive', 'suspected', 'left'] as const;

export class GroupMembership {
  private readonly groups = new Map<string, Group>();
  /**
   * When each heartbeat peer is next beaten. Every pair has its own random phase, so the members
   * of a group hear one member at different moments: a silent crash misses the earliest of their
   * beats, and the first member to notice tells the leader at once.
   */
  private readonly peerBeatAtMs = new Map<string, number>();
  private readonly urgentPeers = new Set<string>();
  private incarnationValue: number;
  /** The latest time any input brought (the popularity count is read at it). */
  private latestMs: number;

  constructor(
    readonly selfId: string,
    private readonly random: Random,
    readonly options: MembershipOptions,
    nowMs: number,
    startIncarnation = 0,
  ) {
    this.incarnationValue = startIncarnation;
    this.latestMs = nowMs;
  }

  get incarnation(): number {
    return this.incarnationValue;
  }

  has(key: string): boolean {
    return this.groups.get(key)?.members.get(this.selfId)?.status === memberStatus.alive;
  }

  keys(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * This node now holds the block of `key`: it joins (or rejoins) the group
   * with `view` as the members it was told about (e.g. by the recruiting leader).
   */
  join(key: string, replicas: number, view: readonly MemberRecord[], nowMs: number): void {
    this.advance(nowMs);
    const settleMs = view.length > 0 ? this.options.heartbeatIntervalMs / 4 : 0;
    let group = this.groups.get(key);
    if (!group) {
      // A fresh incarnation: any tombstone of an earlier membership of this group stays buried.
      this.incarnationValue += 1;
      group = {
        key,
        replicas: Math.min(maxReplicas, Math.max(1, replicas)),
        members: new Map(),
        hotSinceMs: undefined,
        recruitBlockedUntilMs: 0,
        mayLeadFromMs: nowMs + settleMs,
        popularity: new Popularity(nowMs),
      };
      this.groups.set(key, group);
    }
    group.replicas = Math.max(group.replicas, Math.min(maxReplicas, replicas));
    this.setSelf(group, nowMs);
    for (const record of view) {
      if (record.id === this.selfId) continue;
      this.applyClaim(group, record.id, { host: record.host, port: record.port }, 'direct', { incarnation: record.incarnation, status: memberStatus.alive }, nowMs);
      this.urgentPeers.add(record.id);
    }
  }

  /** A member this node recruited: it holds the block now. */
  admit(key: string, record: MemberRecord, nowMs: number): void {
    this.advance(nowMs);
    const group = this.groups.get(key);
    if (!group || record.id === this.selfId) return;
    this.applyClaim(group, record.id, { host: record.host, port: record.port }, 'admitted', { incarnation: record.incarnation, status: memberStatus.alive }, nowMs);
    if (group.members.get(record.id)?.status !== memberStatus.alive) return;
    // Tell every member at once, so the newcomer counts everywhere within a round trip.
    for (const other of group.members.values()) if (other.id !== this.selfId && other.status === memberStatus.alive) this.urgentPeers.add(other.id);
  }

  /** This node leaves the group (graceful leave or shed): its members hear it at once, then it is forgotten. */
  depart(key: string, nowMs: number): void {
    this.advance(nowMs);
    const group = this.groups.get(key);
    const self = group?.members.get(this.selfId);
    if (!group || !self) return;
    self.status = memberStatus.left;
    self.changedAtMs = nowMs;
    for (const member of group.members.values()) if (member.id !== this.selfId && member.status !== memberStatus.left) this.urgentPeers.add(member.id);
  }

  /** A request to this peer failed: suspect it at once in every shared group (faster than the timeout). */
  peerUnreachable(peerId: string, nowMs: number): void {
    this.advance(nowMs);
    for (const group of this.groups.values()) {
      const member = group.members.get(peerId);
      if (member && member.id !== this.selfId) this.applyLocal(group, member, 'unreachable', nowMs);
    }
  }

  /** A query for this block was served here: it feeds the popularity estimate. */
  recordQuery(key: string, nowMs: number): void {
    this.advance(nowMs);
    const group = this.groups.get(key);
    if (!group) return;
    group.popularity.record(nowMs, this.options);
  }

  /** The recruitment for `key` finished; another may start when the group is still cold. */
  recruitmentDone(key: string, nowMs: number, retryAfterMs = 0): void {
    this.advance(nowMs);
    const group = this.groups.get(key);
    if (group) group.recruitBlockedUntilMs = nowMs + retryAfterMs;
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
    this.advance(nowMs);
    const group = this.groups.get(key);
    const sender = group?.members.get(senderId);
    if (!group || !sender || sender.status !== memberStatus.alive || senderId < this.selfId) return false;
    if (group.members.get(this.selfId)?.status !== memberStatus.alive || aliveCount(group.members.values()) <= this.target(group)) return false;
    this.depart(key, nowMs);
    return true;
  }

  /** Alive members other than this node, with addresses (candidates to exclude, holders to fetch from). */
  aliveMembers(key: string): MemberRecord[] {
    const group = this.groups.get(key);
    return group ? this.viewRecords(group) : [];
  }

  snapshot(): GroupSnapshot[] {
    return [...this.groups.values()].map((group) => {
      const members = [...group.members.values()];
      return {
        key: group.key,
        state: stateOf(aliveCount(group.members.values()), this.target(group)),
        replicas: group.replicas,
        target: this.target(group),
        leader: leaderOf(group.members.values()),
        members: members.map((member) => ({
        id: member.id,
        incarnation: member.id === this.selfId ? this.incarnationValue : member.incarnation,
        status: statusNames[member.status],
      })),
      };
    });
  }

  /** Peers heard from (about any group) within the failure timeout: alive as far as this node can tell. */
  recentlyHeard(nowMs: number): MemberRecord[] {
    const heard = new Map<string, MemberRecord>();
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) {
        if (member.id === this.selfId || member.status !== memberStatus.alive || !member.address || heard.has(member.id)) continue;
        if (nowMs < member.heardAtMs + this.options.failureTimeoutMs) {
          heard.set(member.id, { id: member.id, host: member.address.host, port: member.address.port, incarnation: member.incarnation });
        }
      }
    }
    return [...heard.values()];
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
    this.advance(nowMs);
    checkHeartbeat(senderId, message);
    const outcome: HeartbeatOutcome = { shedFrom: [], senderMissesSelf: false };
    for (const entry of message.groups) {
      const group = this.groups.get(entry.key);
      if (!group || group.members.get(this.selfId)?.status !== memberStatus.alive) continue;
      let sender = group.members.get(senderId);
      // A host new to this view joins it only if it names this node as a member (a recruit told of us);
      // a claim that does not know who is in the group is ignored.
      if (!sender && senderAddress && group.members.size < maxGroupMembers && namesSelf(entry.view, message.members, this.selfId)) {
        this.applyClaim(group, senderId, senderAddress, 'direct', { incarnation: 0, status: memberStatus.alive }, nowMs);
        this.urgentPeers.add(senderId);
        sender = group.members.get(senderId);
      }
      if (!sender) continue;
      const selfEntry = entry.view.find(([index]) => index === -1) as [number, number, MemberStatus];
      this.applyDirect(group, sender, senderAddress, selfEntry[1], selfEntry[2], entry.wanted, nowMs);
      if (sender.status !== memberStatus.alive) continue;
      group.replicas = Math.max(group.replicas, entry.replicas);
      for (const [index, incarnation, status] of entry.view) {
        if (index === -1) continue;
        const named = message.members[index] as HostEntry;
        if (named.id === this.selfId) {
          if (status === memberStatus.suspected) outcome.senderMissesSelf = true;
          if (this.answerClaimAboutSelf(group, senderId, { incarnation, status }, entry.view, index, nowMs)) outcome.shedFrom.push(group.key);
          continue;
        }
        const claim = this.applyClaim(group, named.id, { host: named.host, port: named.port }, 'vouched', { incarnation, status }, nowMs);
        // A host new to this view must hear this node, and beat it, within the failure timeout.
        if (claim === 'create') this.urgentPeers.add(named.id);
      }
    }
    return outcome;
  }

  /** Runs the failure detector, ages tombstones, emits due heartbeats and leader decisions. */
  poll(nowMs: number): PollResult {
    const recruitments: Recruitment[] = [];
    const sheddings: Shedding[] = [];
    const silentPeers = new Map<string, Address>();
    this.advance(nowMs);
    for (const group of this.groups.values()) {
      this.detectFailures(group, nowMs, silentPeers);
      this.decide(group, nowMs, recruitments, sheddings);
    }
    const heartbeats = this.buildHeartbeats(nowMs);
    this.urgentPeers.clear();
    for (const [key, group] of this.groups) if (group.members.get(this.selfId)?.status !== memberStatus.alive) this.groups.delete(key);
    return {
      heartbeats,
      silentPeers: [...silentPeers].map(([peerId, address]) => ({ peerId, address })),
      recruitments,
      sheddings,
      nextDeadlineMs: this.nextDeadline(nowMs),
    };
  }

  private setSelf(group: Group, nowMs: number): void {
    const self = group.members.get(this.selfId);
    if (self) {
      self.status = memberStatus.alive;
      self.changedAtMs = nowMs;
      return;
    }
    group.members.set(this.selfId, {
      id: this.selfId,
      address: undefined,
      incarnation: 0,
      status: memberStatus.alive,
      changedAtMs: nowMs,
      heardAtMs: nowMs,
      wanted: group.replicas,
      probeAtMs: 0,
    });
  }

  /**
   * Applies what `source` says about member `id` (view-merge.ts decides); returns the outcome.
   * Direct and admitted claims come from the member itself, so they carry its address.
   */
  private applyClaim(
    group: Group,
    id: string,
    address: Address,
    source: ClaimSource,
    claimed: { incarnation: number; status: MemberStatus },
    nowMs: number,
  ): MergeOutcome {
    const member = group.members.get(id);
    if (!member && group.members.size >= maxGroupMembers) return 'ignore';
    const outcome = mergeOutcome(source, claimed, member);
    if (member && source !== 'vouched') member.address = address;
    const next = afterOutcome(outcome, member, claimed, nowMs);
    if (!next) return outcome;
    if (member) Object.assign(member, next);
    else group.members.set(id, { id, address, ...next, wanted: group.replicas, probeAtMs: 0 });
    return outcome;
  }

  /** What a member says about itself, heard directly: alive refreshes it, a departure removes it from counts. */
  private applyDirect(
    group: Group,
    sender: Member,
    senderAddress: Address | undefined,
    incarnation: number,
    status: MemberStatus,
    wanted: number,
    nowMs: number,
  ): void {
    sender.wanted = Math.min(this.options.maxReplicas, wanted);
    this.applyClaim(group, sender.id, senderAddress ?? (sender.address as Address), 'direct', { incarnation, status }, nowMs);
  }

  /** What this node observed itself about a member (view-merge.ts decides). */
  private applyLocal(group: Group, member: Member, event: LocalEvent, nowMs: number): LocalOutcome {
    const outcome = localOutcome(event, member.status);
    if (outcome === 'forget') group.members.delete(member.id);
    if (outcome === 'suspect' || outcome === 'mark-left') {
      member.status = outcome === 'suspect' ? memberStatus.suspected : memberStatus.left;
      member.changedAtMs = nowMs;
    }
    return outcome;
  }

  /** Returns true when this node was shed (told it left by a higher member); refutes a suspicion otherwise. */
  private answerClaimAboutSelf(
    group: Group,
    senderId: string,
    claimed: { incarnation: number; status: MemberStatus },
    view: HeartbeatGroup['view'],
    selfIndex: number,
    nowMs: number,
  ): boolean {
    // Shed by a higher member whose own view keeps at least the target without this node: obey.
    const shedAllowed =
      claimed.status === memberStatus.left &&
      senderId > this.selfId &&
      view.filter(([other, , otherStatus]) => other !== selfIndex && otherStatus === memberStatus.alive).length >= this.target(group);
    const outcome = selfClaimOutcome(claimed, this.incarnationValue, shedAllowed);
    if (outcome === 'obey') {
      this.depart(group.key, nowMs);
      return true;
    }
    if (outcome === 'refute') {
      // A higher incarnation, alive, overrides the stale claim everywhere.
      this.incarnationValue = claimed.incarnation + 1;
      this.urgentPeers.add(senderId);
    }
    return false;
  }

  private detectFailures(group: Group, nowMs: number, silentPeers: Map<string, Address>): void {
    for (const [id, member] of group.members) {
      if (id === this.selfId) continue;
      if (member.status === memberStatus.alive) {
        if (nowMs < member.heardAtMs + this.options.failureTimeoutMs) continue;
        this.applyLocal(group, member, 'silent', nowMs);
        if (member.address) silentPeers.set(id, member.address);
        // The leader may hear the crashed member at a later phase: it learns of the suspicion now and recruits.
        const leader = leaderOf(group.members.values());
        if (leader !== this.selfId) this.urgentPeers.add(leader);
      } else if (nowMs >= member.changedAtMs + this.options.tombstoneLifetimeMs) {
        this.applyLocal(group, member, 'expired', nowMs);
      }
    }
  }

  private decide(group: Group, nowMs: number, recruitments: Recruitment[], sheddings: Shedding[]): void {
    const leads = group.members.get(this.selfId)?.status === memberStatus.alive && leaderOf(group.members.values()) === this.selfId;
    const alive = aliveCount(group.members.values());
    const decision = decide({
      leads,
      alive,
      target: this.target(group),
      targetFallsAtMs: group.popularity.nextDropAtMs(group.replicas, nowMs, this.options),
      shedAfterMs: this.options.shedAfterMs,
      nowMs,
      recruitBlockedUntilMs: group.recruitBlockedUntilMs,
      mayLeadFromMs: group.mayLeadFromMs,
      hotSinceMs: group.hotSinceMs,
    });
    Object.assign(group, decision.times);
    if (decision.action === 'recruit') recruitments.push({ key: group.key, needed: decision.count, view: this.viewRecords(group) });
    if (decision.action !== 'shed') return;
    for (const member of surplusOf(group.members.values(), this.selfId, decision.count, (member) => member.address !== undefined)) {
      sheddings.push({ key: group.key, peerId: member.id, address: member.address as Address, incarnation: member.incarnation });
      this.applyLocal(group, member, 'shed', nowMs);
    }
  }

  /** Beats the peers whose phase has come, and the urgent ones; one message per pair covers every shared group. */
  private buildHeartbeats(nowMs: number): HeartbeatToSend[] {
    // Which groups each due peer shares with us: alive members, and recently suspected ones (so they can refute).
    const due = new Map<string, 'scheduled' | 'urgent' | 'not'>();
    const shared = new Map<string, { address: Address; groups: Group[] }>();
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) {
        if (member.id === this.selfId || !member.address) continue;
        let peerDue = due.get(member.id);
        if (peerDue === undefined) due.set(member.id, (peerDue = this.peerDue(member.id, nowMs)));
        if (peerDue === 'not' || !this.shouldBeat(member, nowMs, peerDue === 'urgent')) continue;
        let entry = shared.get(member.id);
        if (!entry) shared.set(member.id, (entry = { address: member.address, groups: [] }));
        entry.groups.push(group);
      }
    }
    for (const [peerId, peerDue] of due) {
      if (peerDue !== 'scheduled') continue;
      // A palpitation: the next beat to this peer comes early, at a random point, shifting the pair's phase.
      const palpitation = this.random.float() < this.options.palpitationChance;
      const delay = palpitation ? this.options.heartbeatIntervalMs * (0.2 + 0.8 * this.random.float()) : this.options.heartbeatIntervalMs;
      this.peerBeatAtMs.set(peerId, nowMs + delay);
    }
    // Peers no longer in any group are forgotten (the map stays bounded by the members of this node's groups).
    for (const peerId of this.peerBeatAtMs.keys()) if (!due.has(peerId)) this.peerBeatAtMs.delete(peerId);
    const heartbeats: HeartbeatToSend[] = [];
    for (const [peerId, { address, groups }] of shared) {
      for (const message of this.heartbeatMessages(groups, nowMs)) heartbeats.push({ peerId, address, message });
    }
    return heartbeats;
  }

  /** A new peer gets a random phase (pairs met together do not beat together); urgent peers are beaten now. */
  private peerDue(peerId: string, nowMs: number): 'scheduled' | 'urgent' | 'not' {
    let beatAtMs = this.peerBeatAtMs.get(peerId);
    if (beatAtMs === undefined) {
      beatAtMs = nowMs + this.random.float() * this.options.heartbeatIntervalMs;
      this.peerBeatAtMs.set(peerId, beatAtMs);
    }
    if (nowMs >= beatAtMs) return 'scheduled';
    return this.urgentPeers.has(peerId) ? 'urgent' : 'not';
  }

  /** Alive members always; suspected ones with a doubling gap (so they can refute, or rejoin after a partition heals). */
  private shouldBeat(member: Member, nowMs: number, urgent: boolean): boolean {
    if (member.status === memberStatus.alive) return true;
    if (member.status === memberStatus.left) return nowMs < member.changedAtMs + this.options.failureTimeoutMs;
    if (urgent || nowMs < member.probeAtMs) return false;
    member.probeAtMs = nowMs + Math.max(this.options.heartbeatIntervalMs, nowMs - member.changedAtMs);
    return true;
  }

  /** One message per pair, split only when the groups exceed one message's limits. */
  private heartbeatMessages(groups: Group[], nowMs: number): HeartbeatMessage[] {
    const messages: HeartbeatMessage[] = [];
    let message: HeartbeatMessage = { incarnation: this.incarnationValue, members: [], groups: [] };
    let indexOf = new Map<string, number>();
    for (const group of groups) {
      if (message.groups.length >= maxGroupsPerHeartbeat || message.members.length + maxGroupMembers > maxMembersPerHeartbeat) {
        messages.push(message);
        message = { incarnation: this.incarnationValue, members: [], groups: [] };
        indexOf = new Map();
      }
      const view: Array<[number, number, MemberStatus]> = [];
      for (const member of group.members.values()) {
        if (member.id === this.selfId) {
          view.push([-1, this.incarnationValue, member.status]);
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
      message.groups.push({ key: group.key, replicas: group.replicas, wanted: group.popularity.wanted(group.replicas, nowMs, this.options), view });
    }
    messages.push(message);
    return messages;
  }

  private nextDeadline(nowMs: number): number {
    if (this.urgentPeers.size > 0) return nowMs;
    let deadline = nowMs + this.options.heartbeatIntervalMs;
    for (const beatAtMs of this.peerBeatAtMs.values()) deadline = Math.min(deadline, beatAtMs);
    for (const group of this.groups.values()) {
      if (group.recruitBlockedUntilMs > nowMs && Number.isFinite(group.recruitBlockedUntilMs)) deadline = Math.min(deadline, group.recruitBlockedUntilMs);
      if (group.mayLeadFromMs > nowMs) deadline = Math.min(deadline, group.mayLeadFromMs);
      if (group.hotSinceMs !== undefined) deadline = Math.min(deadline, group.hotSinceMs + this.options.shedAfterMs);
      for (const member of group.members.values()) {
        if (member.id !== this.selfId && member.status === memberStatus.alive) deadline = Math.min(deadline, member.heardAtMs + this.options.failureTimeoutMs);
      }
    }
    return Math.max(nowMs, deadline);
  }

  private viewRecords(group: Group): MemberRecord[] {
    const records: MemberRecord[] = [];
    for (const member of group.members.values()) {
      if (member.id === this.selfId || member.status !== memberStatus.alive || !member.address) continue;
      records.push({ id: member.id, host: member.address.host, port: member.address.port, incarnation: member.incarnation });
    }
    return records;
  }

  private advance(nowMs: number): void {
    this.latestMs = Math.max(this.latestMs, nowMs);
  }

  /** The replication the group keeps: its base, raised by the most demanding alive member, capped. */
  private target(group: Group): number {
    const ownWanted = group.popularity.wanted(group.replicas, this.latestMs, this.options);
    return targetOf(group.replicas, group.members.values(), (member) => (member.id === this.selfId ? ownWanted : member.wanted), this.options.maxReplicas);
  }
}

function namesSelf(view: HeartbeatGroup['view'], members: readonly HostEntry[], selfId: string): boolean {
  return view.some(([index, , status]) => index >= 0 && status === memberStatus.alive && members[index]?.id === selfId);
}

/** Checks what the schema cannot: indices in range, no duplicates, exactly one self entry per group. */
function checkHeartbeat(senderId: string, message: HeartbeatMessage): void {
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
