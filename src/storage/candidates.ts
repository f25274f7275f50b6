import type { KnownHost } from '../hosts/known-hosts.js';
import type { Address } from '../runtime/types.js';

/** A host a leader may offer a block to. */
export interface Candidate {
  readonly id: string;
  readonly address: Address;
  readonly host?: KnownHost;
  /**
   * A fellow member of one of this node's groups, heard from within the failure timeout: an offer
   * will not be lost on a dead host, and this node beats it anyway, so one more shared group costs
   * no message.
   */
  readonly live?: boolean;
}

/** An hour of uptime counts as fully long-lived. */
const longLivedMs = 3_600_000;

/**
 * Orders candidates for a recruitment: hosts with too little free storage (by
 * their cached quality) are left out. Hosts heard from moments ago rank first
 * and they are the hosts this node already shares groups with: under churn, an
 * offer to a dead host costs a timeout, and reusing heartbeat peers (copysets)
 * keeps the number of distinct peers, hence the maintenance messages, bounded
 * as blocks grow. Then uptime, free storage and a zone not yet used by the group; last
 * this node's own stable preference in [0, 1) (`preference`), so that every
 * recruitment of one node picks the same hosts while different nodes spread
 * over different hosts. Hosts without a cached quality are usable with a
 * neutral score.
 */
export function rankCandidates(
  candidates: readonly Candidate[],
  neededBytes: number,
  groupZones: ReadonlySet<string>,
  preference: (id: string) => number,
): Candidate[] {
  const scored: Array<{ candidate: Candidate; score: number }> = [];
  for (const candidate of candidates) {
    const quality = candidate.host?.quality;
    if (quality && quality.availableStorageBytes < neededBytes) continue;
    let score = preference(candidate.id);
    if (candidate.live) score += 8;
    if (quality) {
      score += Math.min(1, quality.uptimeMs / longLivedMs);
      score += Math.min(1, quality.availableStorageBytes / (neededBytes * 1024));
      if (quality.zone !== undefined && !groupZones.has(quality.zone)) score += 1;
    } else {
      score += 1; // neutral: the middle of what a known quality can score
    }
    scored.push({ candidate, score });
  }
  return scored.sort((a, b) => b.score - a.score).map((entry) => entry.candidate);
}
