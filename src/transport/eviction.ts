/** What the pool weighs when it must close a connection to make room for another. */
export interface EvictionCandidate {
  /** An inbound connection whose peer has not sent a valid HELLO yet. */
  readonly unauthenticated: boolean;
  /** The peer accepts no connections (it announced listen port 0): nobody can dial it, it gives the network nothing back. */
  readonly anonymous: boolean;
  /** A known host, or a peer a service works with (a fellow group member): never closed to admit a stranger. */
  readonly protected: boolean;
  /** Requests of ours awaiting the peer's reply. */
  readonly pendingRequests: number;
  readonly lastActivityAt: number;
}

/**
 * Which class a connection falls in, least valuable first: 0 an unfinished inbound
 * handshake, 1 an anonymous stranger, 2 an idle stranger, 3 an idle protected peer (only to
 * make room for a dial of the node's own, never for a stranger who connected to it).
 * Undefined: not to be closed for room at all.
 */
export function evictionClass(candidate: EvictionCandidate, forOwnDial: boolean): number | undefined {
  if (candidate.unauthenticated) return 0;
  if (candidate.protected) return forOwnDial && candidate.pendingRequests === 0 ? 3 : undefined;
  if (candidate.anonymous) return 1;
  return candidate.pendingRequests === 0 ? 2 : undefined;
}

/** The least valuable candidate: the lowest class, and in it the one quiet the longest. */
export function chooseEviction<T extends EvictionCandidate>(candidates: Iterable<T>, forOwnDial: boolean): T | undefined {
  let chosen: T | undefined;
  let chosenClass = Infinity;
  for (const candidate of candidates) {
    const rank = evictionClass(candidate, forOwnDial);
    if (rank === undefined || rank > chosenClass) continue;
    if (rank < chosenClass || candidate.lastActivityAt < (chosen as T).lastActivityAt) {
      chosen = candidate;
      chosenClass = rank;
    }
  }
  return chosen;
}
