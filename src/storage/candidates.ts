import type { KnownHost } from '../hosts/known-hosts.js';
import type { Address, Random } from '../runtime/types.js';

/** A host a leader may offer a block to. */
export interface Candidate {
  readonly id: string;
  readonly address: Address;
  readonly host?: KnownHost;
  /** Heard from within the failure timeout (a fellow group member): an offer will not be lost on a dead host. */
  readonly live?: boolean;
}

/** An hour of uptime counts as fully long-lived. */
const longLivedMs = 3_600_000;

/**
 * Orders candidates for a recruitment: hosts with too little free storage (by
 * their cached quality) are left out; the rest are scored on uptime, free
 * storage and a zone not yet used by the group, with a random share so that
 * replicas spread instead of piling on the single best host. Hosts heard from
 * moments ago rank first: under churn, an offer to a dead host costs a timeout. Hosts without a
 * cached quality are usable with a neutral score.
 */
export function rankCandidates(candidates: readonly Candidate[], neededBytes: number, groupZones: ReadonlySet<string>, random: Random): Candidate[] {
  const scored: Array<{ candidate: Candidate; score: number }> = [];
  for (const candidate of candidates) {
    const quality = candidate.host?.quality;
    if (quality && quality.availableStorageBytes < neededBytes) continue;
    let score = random.float();
    if (candidate.live) score += 2;
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
