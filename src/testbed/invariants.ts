/**
 * Invariant checkers: properties that must hold at every sample of a testbed
 * run, whatever the churn. The runner evaluates them at each sample and fails
 * the run with its seed, so anyone can replay the failure (TigerBeetle's
 * checkers, STYLE.md). Each checker reads the nodes' public state only.
 */
import type { GroupSnapshot } from '../storage/membership.js';

export interface Violation {
  invariant: string;
  /** What broke, on which node or group. */
  detail: string;
}

/** What a checker reads of a node; a `ButterNode` is one. */
export interface CheckedNode {
  readonly id: string;
  readonly knownHosts: { readonly size: number; readonly capacity: number };
  readonly memory: { readonly storageBytes: number };
  readonly services: Readonly<Record<string, unknown>>;
}

export interface CheckedNetwork {
  /** The live nodes. */
  readonly nodes: readonly CheckedNode[];
}

export interface Invariant {
  readonly name: string;
  /** The violations in the network's state at `nowMs` (empty when the invariant holds). */
  check(network: CheckedNetwork, nowMs: number): Violation[];
}

/** What the storage checkers read of a storage service. */
interface StorageView {
  groups(): GroupSnapshot[];
  readonly blocks: { usedBytes(): number; readonly capacityBytes: number };
}

/** The node's storage service, when it runs one (duck-typed, so that tests can hand in fakes). */
function storageOf(node: CheckedNode): StorageView | undefined {
  const service = node.services.storage as Partial<StorageView> | undefined;
  return typeof service?.groups === 'function' && service.blocks !== undefined ? (service as StorageView) : undefined;
}

/** Violations reported per invariant and sample at most, so a broken run stays readable. */
const maxViolationsPerCheck = 20;

function bounded(violations: Violation[]): Violation[] {
  return violations.length > maxViolationsPerCheck ? violations.slice(0, maxViolationsPerCheck) : violations;
}

/** Every node knows at most as many hosts as its list's capacity (the memory plan's bound). */
export const knownHostsWithinCapacity: Invariant = {
  name: 'known hosts ≤ capacity',
  check(network) {
    const invariant = knownHostsWithinCapacity.name;
    const violations: Violation[] = [];
    for (const node of network.nodes) {
      const { size, capacity } = node.knownHosts;
      if (size > capacity) violations.push({ invariant, detail: `node ${short(node.id)} knows ${size} hosts, capacity ${capacity}` });
    }
    return bounded(violations);
  },
};

/** Every node's block store holds at most its capacity, and that capacity is at most the node's storage allocation. */
export const storedBytesWithinAllocation: Invariant = {
  name: 'stored bytes ≤ allocation',
  check(network) {
    const invariant = storedBytesWithinAllocation.name;
    const violations: Violation[] = [];
    for (const node of network.nodes) {
      const blocks = storageOf(node)?.blocks;
      if (blocks === undefined) continue;
      const used = blocks.usedBytes();
      if (used > blocks.capacityBytes || blocks.capacityBytes > node.memory.storageBytes) {
        const detail = `node ${short(node.id)} stores ${used} bytes, capacity ${blocks.capacityBytes}, allocation ${node.memory.storageBytes}`;
        violations.push({ invariant, detail });
      }
    }
    return bounded(violations);
  },
};

/** The alive members of a view, in a canonical order: two nodes whose keys are equal agree on the view. */
function viewKey(group: GroupSnapshot): string {
  return group.members
    .filter((member) => member.status === 'alive')
    .map((member) => member.id)
    .sort()
    .join(',');
}

/**
 * At most one leader per agreed view: for each group, among the nodes whose
 * views of it (its alive members) are equal, at most one considers itself the
 * leader. Nodes with different views may disagree for a while (that is how a
 * view converges); nodes that agree must not.
 */
export const oneLeaderPerView: Invariant = {
  name: 'at most one leader per agreed view',
  check(network) {
    const invariant = oneLeaderPerView.name;
    // group key → view key → nodes that lead it
    const leaders = new Map<string, Map<string, string[]>>();
    for (const node of network.nodes) {
      for (const group of storageOf(node)?.groups() ?? []) {
        if (group.leader !== node.id) continue;
        let views = leaders.get(group.key);
        if (views === undefined) leaders.set(group.key, (views = new Map()));
        const view = viewKey(group);
        const claimants = views.get(view);
        if (claimants === undefined) views.set(view, [node.id]);
        else claimants.push(node.id);
      }
    }
    const violations: Violation[] = [];
    for (const [key, views] of leaders) {
      for (const [view, claimants] of views) {
        if (claimants.length < 2) continue;
        const detail = `group ${key}: ${claimants.map(short).join(', ')} all lead the view {${view.split(',').map(short).join(', ')}}`;
        violations.push({ invariant, detail });
      }
    }
    return bounded(violations);
  },
};

/** When churn stopped, for the recovery checker; set by the runner. */
export interface ChurnClock {
  /** Milliseconds (the network's clock) when churn ended; undefined while it runs. */
  churnEndedAtMs: number | undefined;
}

/**
 * Every group back to its target within `boundMs` after churn stops: from
 * then on, each node that leads a group (its own view) counts at least the
 * group's target of alive members. A group whose every holder died has no
 * leader and is not checked: it is lost, which the retention figures count.
 */
export function groupsRecoverWithin(boundMs: number, clock: ChurnClock): Invariant {
  const invariant = `every group back to its target within ${boundMs / 1000} s after churn`;
  return {
    name: invariant,
    check(network, nowMs) {
      const endedAtMs = clock.churnEndedAtMs;
      if (endedAtMs === undefined || nowMs < endedAtMs + boundMs) return [];
      const violations: Violation[] = [];
      for (const node of network.nodes) {
        for (const group of storageOf(node)?.groups() ?? []) {
          if (group.leader !== node.id || group.state !== 'cold') continue;
          const alive = group.members.filter((member) => member.status === 'alive').length;
          violations.push({ invariant, detail: `group ${group.key} led by ${short(node.id)} has ${alive} of ${group.target} members` });
        }
      }
      return bounded(violations);
    },
  };
}

/** The checks every experiment runs. */
export const genericInvariants: readonly Invariant[] = [knownHostsWithinCapacity];

/** The checks the storage experiments add. */
export function storageInvariants(recoveryBoundMs: number, clock: ChurnClock): Invariant[] {
  return [storedBytesWithinAllocation, oneLeaderPerView, groupsRecoverWithin(recoveryBoundMs, clock)];
}

/** A run broke an invariant: the message names the seed that replays it and what broke. */
export class InvariantViolationError extends Error {
  override readonly name = 'InvariantViolationError';
  constructor(
    readonly seed: number,
    readonly atMs: number,
    readonly violations: readonly Violation[],
  ) {
    const first = violations[0] as Violation;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(`invariant "${first.invariant}" broken at ${Math.round(atMs) / 1000} s with seed ${seed} (replay with --seed ${seed}): ${first.detail}${more}`);
  }
}

/** Runs every checker; throws an `InvariantViolationError` naming `seed` when any fails. */
export function checkInvariants(invariants: readonly Invariant[], network: CheckedNetwork, nowMs: number, seed: number): void {
  const violations = invariants.flatMap((invariant) => invariant.check(network, nowMs));
  if (violations.length > 0) throw new InvariantViolationError(seed, nowMs, violations);
}

function short(id: string): string {
  return id.slice(0, 8);
}
