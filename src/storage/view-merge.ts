import { memberStatus, type MemberStatus } from './group-messages.js';

/**
 * How news about a member changes this node's view of a group, as explicit tables (the way
 * h11 keeps its state transitions): one row per case, each row a unit test
 * (test/storage-view-merge.test.ts). The membership core looks the outcome up and applies
 * it; nothing else decides a member's status.
 *
 * The rule behind the tables (docs/PROTOCOL.md, "storage/heartbeat"): the higher incarnation
 * wins; at equal incarnation left beats suspected beats alive, so a departed member cannot
 * come back from a stale view. Two exceptions: a member's own word that it is alive
 * outranks a suspicion at its incarnation (the suspicion was wrong), and a member is only
 * ever added as alive (a tombstone of a stranger is not worth keeping).
 */

/** Who tells this node about a member. */
export type ClaimSource =
  /**
   * The member itself: its own entry in its beat, its introduction (a sender new to the view
   * that names this node), or the view of the offer this node joined on (the group is new
   * then, and the recruiting leader has just heard every member it names).
   */
  | 'direct'
  /** The member accepted this node's offer and answered with its incarnation (always alive). */
  | 'admitted'
  /** Another member's view names it (second-hand). */
  | 'vouched';

export type StatusName = 'alive' | 'suspected' | 'left';
export type LocalStatus = 'absent' | StatusName;
/** The claimed incarnation against the one in the local view. */
export type IncarnationOrder = 'higher' | 'equal' | 'lower';

/** What a claim does to the local record of the member. */
export type MergeOutcome =
  /** Nothing changes. */
  | 'ignore'
  /** A new member, alive at the claimed incarnation, heard now. */
  | 'create'
  /** Stays alive, takes the claimed incarnation, heard now. */
  | 'refresh'
  /** Alive again at the claimed incarnation: its status changes now and it is heard now. */
  | 'revive'
  /** Takes the claimed incarnation and status (the status changes now); when it was last heard stays. */
  | 'adopt';

type MergeRow = readonly [ClaimSource, StatusName, LocalStatus, higher: MergeOutcome, equal: MergeOutcome, lower: MergeOutcome];

/**
 * Claim source × claimed status × local status → outcome for a claimed incarnation higher,
 * equal or lower than the local one. An absent member has no incarnation: its three
 * columns agree. An `admitted` member is alive by definition (only alive rows).
 */
export const mergeRows: readonly MergeRow[] = [
  //  source      claim        local        higher     equal      lower
  ['direct', 'alive', 'absent', 'create', 'create', 'create'],
  ['direct', 'alive', 'alive', 'refresh', 'refresh', 'ignore'],
  // Its own word outranks a suspicion at its incarnation.
  ['direct', 'alive', 'suspected', 'revive', 'revive', 'ignore'],
  // A departure is final for its incarnation; a rejoin comes with a higher one.
  ['direct', 'alive', 'left', 'revive', 'ignore', 'ignore'],
  // A member never says it is suspected; a peer that does is heard like a vouch.
  ['direct', 'suspected', 'absent', 'ignore', 'ignore', 'ignore'],
  ['direct', 'suspected', 'alive', 'adopt', 'adopt', 'ignore'],
  ['direct', 'suspected', 'suspected', 'adopt', 'ignore', 'ignore'],
  ['direct', 'suspected', 'left', 'adopt', 'ignore', 'ignore'],
  // It leaves (graceful leave, or obeying a shed).
  ['direct', 'left', 'absent', 'ignore', 'ignore', 'ignore'],
  ['direct', 'left', 'alive', 'adopt', 'adopt', 'ignore'],
  ['direct', 'left', 'suspected', 'adopt', 'adopt', 'ignore'],
  ['direct', 'left', 'left', 'adopt', 'ignore', 'ignore'],
  ['admitted', 'alive', 'absent', 'create', 'create', 'create'],
  ['admitted', 'alive', 'alive', 'refresh', 'refresh', 'ignore'],
  // Unlike its own beat, an acceptance at the suspected incarnation does not clear the suspicion.
  ['admitted', 'alive', 'suspected', 'revive', 'ignore', 'ignore'],
  ['admitted', 'alive', 'left', 'revive', 'ignore', 'ignore'],
  // Second-hand news: a new host must then beat this node within the failure timeout itself.
  ['vouched', 'alive', 'absent', 'create', 'create', 'create'],
  // A higher incarnation is news, but not evidence that this node hears the member.
  ['vouched', 'alive', 'alive', 'adopt', 'ignore', 'ignore'],
  ['vouched', 'alive', 'suspected', 'revive', 'ignore', 'ignore'],
  ['vouched', 'alive', 'left', 'revive', 'ignore', 'ignore'],
  ['vouched', 'suspected', 'absent', 'ignore', 'ignore', 'ignore'],
  ['vouched', 'suspected', 'alive', 'adopt', 'adopt', 'ignore'],
  ['vouched', 'suspected', 'suspected', 'adopt', 'ignore', 'ignore'],
  ['vouched', 'suspected', 'left', 'adopt', 'ignore', 'ignore'],
  ['vouched', 'left', 'absent', 'ignore', 'ignore', 'ignore'],
  ['vouched', 'left', 'alive', 'adopt', 'adopt', 'ignore'],
  ['vouched', 'left', 'suspected', 'adopt', 'adopt', 'ignore'],
  ['vouched', 'left', 'left', 'adopt', 'ignore', 'ignore'],
];

const statusNames = ['alive', 'suspected', 'left'] as const satisfies readonly StatusName[];
const localNames = ['absent', ...statusNames] as const satisfies readonly LocalStatus[];
/** The column of a claimed incarnation against the local one (higher, equal, lower): numbers, for the lookup on every heartbeat. */
const orderColumn = (claimed: number, local: number): number => (claimed > local ? 0 : claimed === local ? 1 : 2);

/** The table indexed for lookups on every heartbeat: source → claimed status → local status (absent first) → order. */
const emptyIndex = () => statusNames.map(() => localNames.map((): readonly MergeOutcome[] | undefined => undefined));
const mergeIndex: Record<ClaimSource, Array<Array<readonly MergeOutcome[] | undefined>>> = { direct: emptyIndex(), admitted: emptyIndex(), vouched: emptyIndex() };
for (const row of mergeRows) {
  const [source, claim, local, ...outcomes] = row;
  const byLocal = mergeIndex[source][statusNames.indexOf(claim)] as Array<readonly MergeOutcome[] | undefined>;
  // Our own invariant: one row per case.
  if (byLocal[localNames.indexOf(local)]) throw new Error(`view-merge table lists ${row.slice(0, 3).join(' ')} twice`);
  byLocal[localNames.indexOf(local)] = outcomes;
}

export function statusName(status: MemberStatus): StatusName {
  return statusNames[status];
}

/** The table's outcome; `local` undefined when the member is not in the view. */
export function mergeOutcome(source: ClaimSource, claimed: { incarnation: number; status: MemberStatus }, local: { incarnation: number; status: MemberStatus } | undefined): MergeOutcome {
  const outcomes = mergeIndex[source][claimed.status]?.[local ? local.status + 1 : 0];
  // An admitted member is alive by definition: any other claim from that source is our own bug.
  if (!outcomes) throw new Error(`view-merge table has no row for a ${statusName(claimed.status)} claim from ${source} about a member ${local ? statusName(local.status) : 'absent'} here`);
  return outcomes[local ? orderColumn(claimed.incarnation, local.incarnation) : 0] as MergeOutcome;
}

/** The part of a member's record that its status history makes up. */
export interface MemberState {
  incarnation: number;
  status: MemberStatus;
  /** When the status last changed (tombstone age, probe gaps). */
  changedAtMs: number;
  /** When this node last had evidence that the member hears the group (failure detection). */
  heardAtMs: number;
}

/** The record after an outcome (`undefined` for `ignore`: unchanged). */
export function afterOutcome(
  outcome: MergeOutcome,
  local: MemberState | undefined,
  claimed: { incarnation: number; status: MemberStatus },
  nowMs: number,
): MemberState | undefined {
  switch (outcome) {
    case 'ignore':
      return undefined;
    case 'create':
      return { incarnation: claimed.incarnation, status: memberStatus.alive, changedAtMs: nowMs, heardAtMs: nowMs };
    case 'refresh':
      return { incarnation: claimed.incarnation, status: memberStatus.alive, changedAtMs: local?.changedAtMs ?? nowMs, heardAtMs: nowMs };
    case 'revive':
      return { incarnation: claimed.incarnation, status: memberStatus.alive, changedAtMs: nowMs, heardAtMs: nowMs };
    case 'adopt':
      return { incarnation: claimed.incarnation, status: claimed.status, changedAtMs: nowMs, heardAtMs: local?.heardAtMs ?? nowMs };
  }
}

// ---- what this node itself observes ------------------------------------------------------------

/** Evidence about a member that this node gathers itself. */
export type LocalEvent =
  /** Not heard about the group within the failure timeout. */
  | 'silent'
  /** A request to it failed. */
  | 'unreachable'
  /** This node, leading a hot group, sheds it. */
  | 'shed'
  /** Its tombstone outlived the tombstone lifetime. */
  | 'expired'
  /** It failed a possession challenge for the group (challenges.ts): it does not hold the segment. */
  | 'dispossessed';

export type LocalOutcome = 'ignore' | 'suspect' | 'mark-left' | 'forget';

/** Event × local status (alive, suspected, left) → outcome. Suspect and mark-left keep the incarnation and change the status now. */
export const localRows: readonly (readonly [LocalEvent, alive: LocalOutcome, suspected: LocalOutcome, left: LocalOutcome])[] = [
  //  event          alive        suspected  left
  ['silent', 'suspect', 'ignore', 'ignore'],
  ['unreachable', 'suspect', 'ignore', 'ignore'],
  // Every leader picks the same surplus, so marking it left here agrees with the others.
  ['shed', 'mark-left', 'ignore', 'ignore'],
  // Only tombstones expire; an alive member is suspected first.
  ['expired', 'ignore', 'forget', 'forget'],
  // Proof that it holds nothing: final for its incarnation, suspected or not (a rejoin comes with a higher one, and is challenged again).
  ['dispossessed', 'mark-left', 'mark-left', 'ignore'],
];

const localIndex = new Map(localRows.map(([event, ...outcomes]) => [event, outcomes]));

export function localOutcome(event: LocalEvent, status: MemberStatus): LocalOutcome {
  const outcome = localIndex.get(event)?.[status];
  if (!outcome) throw new Error(`view-merge has no row for the local event ${event}`);
  return outcome;
}

// ---- what a member's view says about this node -----------------------------------------------------

/** `obey`: leave the group (shed); `refute`: raise this node's incarnation above the claim and beat the sender at once. */
export type SelfClaimOutcome = 'ignore' | 'refute' | 'obey';

/**
 * Claimed status × claimed incarnation against this node's → outcome when a shed is allowed
 * (the sender has a higher id and its view keeps at least the target without this node), and
 * otherwise. Whatever the outcome, a suspicion tells this node the sender does not hear it.
 */
export const selfClaimRows: readonly (readonly [StatusName, IncarnationOrder, shedAllowed: SelfClaimOutcome, otherwise: SelfClaimOutcome])[] = [
  //  claim         incarnation  shed allowed  otherwise
  ['alive', 'higher', 'ignore', 'ignore'],
  ['alive', 'equal', 'ignore', 'ignore'],
  ['alive', 'lower', 'ignore', 'ignore'],
  ['suspected', 'higher', 'refute', 'refute'],
  ['suspected', 'equal', 'refute', 'refute'],
  // Already refuted: this node has moved on to a higher incarnation.
  ['suspected', 'lower', 'ignore', 'ignore'],
  ['left', 'higher', 'obey', 'refute'],
  ['left', 'equal', 'obey', 'refute'],
  ['left', 'lower', 'ignore', 'ignore'],
];

/** The table indexed by claimed status, then incarnation order. */
const selfClaimIndex = statusNames.map((status) => (['higher', 'equal', 'lower'] as const).map((order) => selfClaimRows.find((row) => row[0] === status && row[1] === order)?.slice(2) as SelfClaimOutcome[] | undefined));

export function selfClaimOutcome(claimed: { incarnation: number; status: MemberStatus }, ownIncarnation: number, shedAllowed: boolean): SelfClaimOutcome {
  const outcomes = selfClaimIndex[claimed.status]?.[orderColumn(claimed.incarnation, ownIncarnation)];
  if (!outcomes) throw new Error(`view-merge has no row for a ${statusName(claimed.status)} claim about this node`);
  return (shedAllowed ? outcomes[0] : outcomes[1]) as SelfClaimOutcome;
}
