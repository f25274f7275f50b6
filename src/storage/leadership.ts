import { memberStatus, type MemberStatus } from './group-messages.js';

/**
 * Who leads a group and what its leader does (SPEC §5), as pure functions of a view and
 * `now`: the leader is the highest alive id (trivial once views agree); a cold group's
 * leader recruits once it may lead, a group hot for `shedAfterMs` sheds its lowest ids,
 * never the leader and never below the target. The target is the group's base replication
 * raised by its most demanding alive member's popularity, capped. Each decision also says
 * when the same view would decide differently, so the core wakes for it then and not
 * before.
 */

export type GroupState = 'cold' | 'goldilocks' | 'hot';

export interface ViewMember {
  readonly id: string;
  readonly status: MemberStatus;
}

/** Leader = highest id among the alive members of the view ('' when none is alive). */
export function leaderOf(members: Iterable<ViewMember>): string {
  let leader = '';
  for (const member of members) if (member.status === memberStatus.alive && member.id > leader) leader = member.id;
  return leader;
}

export function aliveCount(members: Iterable<ViewMember>): number {
  let count = 0;
  for (const member of members) if (member.status === memberStatus.alive) count += 1;
  return count;
}

/** The replication a group keeps: its base, raised by the highest ask among alive members (`askOf`), capped. */
export function targetOf<Member extends ViewMember>(base: number, members: Iterable<Member>, askOf: (member: Member) => number, maxReplicas: number): number {
  let wanted = base;
  for (const member of members) if (member.status === memberStatus.alive) wanted = Math.max(wanted, askOf(member));
  return Math.min(maxReplicas, wanted);
}

export function stateOf(alive: number, target: number): GroupState {
  if (alive < target) return 'cold';
  return alive === target ? 'goldilocks' : 'hot';
}

/** The leader's own clock for one group. */
export interface LeaderTimes {
  /** No recruitment before this (Infinity while one is in flight: its outcome unblocks it). */
  recruitBlockedUntilMs: number;
  /** A member that just joined leads only after this, once beats have told it the current view. */
  mayLeadFromMs: number;
  /** Since when the group has been hot here, while it is. */
  hotSinceMs: number | undefined;
}

export interface DecisionInput extends LeaderTimes {
  /** This node is an alive member with the highest alive id. */
  leads: boolean;
  alive: number;
  target: number;
  /** When the target next falls by itself (popularity decay); Infinity when it cannot. */
  targetFallsAtMs: number;
  shedAfterMs: number;
  nowMs: number;
}

export interface Decision {
  action: 'none' | 'recruit' | 'shed';
  /** Members to recruit, or surplus members to shed. */
  count: number;
  /** The leader's times after the decision (a recruitment blocks the next until its outcome). */
  times: LeaderTimes;
  /** When the same view would decide differently; Infinity when only new input can change it. */
  decideAgainAtMs: number;
}

export function decide(input: DecisionInput): Decision {
  const { nowMs } = input;
  const times: LeaderTimes = { recruitBlockedUntilMs: input.recruitBlockedUntilMs, mayLeadFromMs: input.mayLeadFromMs, hotSinceMs: undefined };
  if (!input.leads) return { action: 'none', count: 0, times, decideAgainAtMs: Infinity };
  const again = (atMs: number) => Math.min(atMs, input.targetFallsAtMs);
  if (input.alive < input.target) {
    const blockedUntilMs = Math.max(input.recruitBlockedUntilMs, input.mayLeadFromMs);
    if (nowMs < blockedUntilMs) return { action: 'none', count: 0, times, decideAgainAtMs: again(blockedUntilMs) };
    // Blocked until the adapter reports the outcome; the retry delay bounds a failing loop.
    times.recruitBlockedUntilMs = Infinity;
    return { action: 'recruit', count: input.target - input.alive, times, decideAgainAtMs: again(Infinity) };
  }
  if (input.alive === input.target) return { action: 'none', count: 0, times, decideAgainAtMs: again(Infinity) };
  const hotSinceMs = input.hotSinceMs ?? nowMs;
  if (nowMs < hotSinceMs + input.shedAfterMs) return { action: 'none', count: 0, times: { ...times, hotSinceMs }, decideAgainAtMs: again(hotSinceMs + input.shedAfterMs) };
  return { action: 'shed', count: input.alive - input.target, times, decideAgainAtMs: again(Infinity) };
}

/** The members a hot group sheds: every leader picks the same ones, the lowest alive ids, never itself. */
export function surplusOf<Member extends ViewMember>(members: Iterable<Member>, selfId: string, count: number, reachable: (member: Member) => boolean): Member[] {
  return [...members]
    .filter((member) => member.status === memberStatus.alive && member.id !== selfId && reachable(member))
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .slice(0, count);
}
