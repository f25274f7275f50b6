import type { Random } from '../runtime/types.js';
import { DeadlineQueue } from './deadline-queue.js';
import { memberStatus, type MemberStatus } from './group-messages.js';

/**
 * When this node beats each peer (SPEC §5: heartbeats aggregated per peer pair). Every pair
 * has its own random phase, drawn when the peer first shares a group with this node, so the
 * members of a group hear one member at different moments: a silent crash misses the
 * earliest of their beats, and the first member to notice tells the leader at once.
 * Palpitations: with `palpitationChance` the next beat to a peer comes early, at a random
 * 20–100 % of the interval, shifting the pair's phase (synchronised beats left long blind
 * windows in the prototype). Urgent beats go out at the next poll, off schedule, when a
 * peer must hear news at once (a newcomer, a suspicion for the leader, a refutation).
 *
 * Beat times live in a deadline queue: a poll pops only the peers that are due.
 */
export interface BeatScheduleOptions {
  heartbeatIntervalMs: number;
  /** Chance per beat that the next beat comes early, at a random point of the interval. */
  palpitationChance: number;
}

export interface DueBeats {
  /** Peers whose phase has come (already rescheduled). */
  scheduled: string[];
  /** Peers to beat now off schedule (and not also scheduled). */
  urgent: string[];
}

export class BeatSchedule {
  private readonly beats = new DeadlineQueue<string>();
  private readonly urgentPeers = new Set<string>();

  constructor(
    private readonly random: Random,
    private readonly options: BeatScheduleOptions,
  ) {}

  /** Heap entries examined so far (work done by wake-ups). */
  get visits(): number {
    return this.beats.visits;
  }

  get peerCount(): number {
    return this.beats.size;
  }

  has(peerId: string): boolean {
    return this.beats.get(peerId) !== undefined;
  }

  /** When `peerId` is next beaten on schedule. */
  beatAtMs(peerId: string): number | undefined {
    return this.beats.get(peerId);
  }

  /** A peer now shares a group with this node: it gets a random phase (pairs met together do not beat together). */
  add(peerId: string, nowMs: number): void {
    if (this.has(peerId)) return;
    this.beats.set(peerId, nowMs + this.random.float() * this.options.heartbeatIntervalMs);
  }

  /** The peer shares no group any more: forgotten (a later return draws a new phase). */
  remove(peerId: string): void {
    this.beats.delete(peerId);
    this.urgentPeers.delete(peerId);
  }

  /** Beat this peer at the next poll, whatever its phase. */
  markUrgent(peerId: string): void {
    if (this.has(peerId)) this.urgentPeers.add(peerId);
  }

  get hasUrgent(): boolean {
    return this.urgentPeers.size > 0;
  }

  /** The peers to beat at `nowMs`; scheduled ones get their next beat time, urgent ones are cleared. */
  due(nowMs: number): DueBeats {
    const scheduled = this.beats.popDue(nowMs);
    for (const peerId of scheduled) this.beats.set(peerId, nowMs + this.nextGapMs());
    const onSchedule = new Set(scheduled);
    const urgent: string[] = [];
    for (const peerId of this.urgentPeers) if (this.beats.get(peerId) !== undefined && !onSchedule.has(peerId)) urgent.push(peerId);
    this.urgentPeers.clear();
    return { scheduled, urgent };
  }

  /** The next scheduled beat (urgent beats are due at once: see `hasUrgent`). */
  nextBeatAtMs(): number {
    return this.beats.nextMs();
  }

  /** The interval, or with a palpitation a random 20–100 % of it. */
  private nextGapMs(): number {
    const interval = this.options.heartbeatIntervalMs;
    const palpitation = this.random.float() < this.options.palpitationChance;
    return palpitation ? interval * (0.2 + 0.8 * this.random.float()) : interval;
  }
}

export interface ProbeOptions {
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
}

/**
 * Whether a beat to a peer covers a group it is a member of, and when the next probe of a
 * suspected member may go. Alive members always; a departed one for a failure timeout after
 * it left (a member this node shed reads the order in the view); a suspected one only on schedule, at
 * doubling gaps, so that it can refute the suspicion, or rejoin once a partition heals.
 */
export function coversMember(
  member: { status: MemberStatus; changedAtMs: number; probeAtMs: number },
  nowMs: number,
  urgent: boolean,
  options: ProbeOptions,
): { covered: boolean; probeAtMs: number } {
  const { probeAtMs } = member;
  if (member.status === memberStatus.alive) return { covered: true, probeAtMs };
  if (member.status === memberStatus.left) return { covered: nowMs < member.changedAtMs + options.failureTimeoutMs, probeAtMs };
  if (urgent || nowMs < probeAtMs) return { covered: false, probeAtMs };
  return { covered: true, probeAtMs: nowMs + Math.max(options.heartbeatIntervalMs, nowMs - member.changedAtMs) };
}
