import type { Random } from '../runtime/types.js';
import type { HostQuality, KnownHost } from './known-hosts.js';

/**
 * Peer selection at capacity (SPEC §3), pure: no I/O, randomness passed in.
 * A host's class has three bits, one per metric, set when the metric is above
 * the list's average: bit 2 uptime, bit 1 available storage, bit 0 known hosts.
 */
export const classCount = 8;

export interface QualityAverages {
  uptimeMs: number;
  availableStorageBytes: number;
  knownHosts: number;
}

export function averagesOf(qualities: readonly HostQuality[]): QualityAverages | undefined {
  if (qualities.length === 0) return undefined;
  let uptimeMs = 0;
  let availableStorageBytes = 0;
  let knownHosts = 0;
  for (const quality of qualities) {
    uptimeMs += quality.uptimeMs;
    availableStorageBytes += quality.availableStorageBytes;
    knownHosts += quality.knownHosts;
  }
  const count = qualities.length;
  return { uptimeMs: uptimeMs / count, availableStorageBytes: availableStorageBytes / count, knownHosts: knownHosts / count };
}

/** 0..7; "high" means strictly above the average, so a uniform list is one class. */
export function classOf(quality: HostQuality, averages: QualityAverages): number {
  return (
    (quality.uptimeMs > averages.uptimeMs ? 4 : 0) +
    (quality.availableStorageBytes > averages.availableStorageBytes ? 2 : 0) +
    (quality.knownHosts > averages.knownHosts ? 1 : 0)
  );
}

/** How many of `hosts` fall in each class; hosts whose quality is not fetched yet are left out. */
export function classCountsOf(hosts: readonly KnownHost[]): number[] {
  const counts = new Array<number>(classCount).fill(0);
  const averages = averagesOf(ratedQualities(hosts));
  if (!averages) return counts;
  for (const host of hosts) if (host.quality) counts[classOf(host.quality, averages)]! += 1;
  return counts;
}

/** The diversity figure of the original prototype: population S.D. of the 8 class counts (lower is more diverse). */
export function classStandardDeviation(counts: readonly number[]): number {
  const average = counts.reduce((sum, count) => sum + count, 0) / counts.length;
  const squares = counts.reduce((sum, count) => sum + (count - average) ** 2, 0);
  return Math.sqrt(squares / counts.length);
}

export interface SelectionPolicy {
  randomAcceptanceProbability: number;
  random: Random;
}

/** `evict` is the member to replace; undefined with `admit` true means there was room. */
export type Admission = { admit: false } | { admit: true; evict: KnownHost | undefined };

/**
 * Decides whether `candidate` joins a list of `capacity`. Below capacity:
 * greedy. At capacity: a forced candidate (one that knows no one) or a random
 * acceptance replaces a member of the biggest class; otherwise the candidate
 * replaces one only when its class is not the biggest.
 */
export function admit(
  hosts: readonly KnownHost[],
  capacity: number,
  candidate: HostQuality | undefined,
  forced: boolean,
  policy: SelectionPolicy,
): Admission {
  if (hosts.length < capacity) return { admit: true, evict: undefined };
  const rated = hosts.filter((host) => host.quality !== undefined);
  const averages = averagesOf(ratedQualities(rated));
  // Nothing to classify yet (qualities not fetched): only a forced candidate gets in.
  if (!averages) return forced ? { admit: true, evict: pick(hosts, policy.random) } : { admit: false };
  const members: KnownHost[][] = Array.from({ length: classCount }, () => []);
  for (const host of rated) members[classOf(host.quality as HostQuality, averages)]!.push(host);
  const biggest = biggestClass(members, policy.random);
  const randomlyAccepted = policy.randomAcceptanceProbability > 0 && policy.random.float() < policy.randomAcceptanceProbability;
  if (forced || randomlyAccepted) return { admit: true, evict: pick(members[biggest]!, policy.random) };
  if (!candidate || classOf(candidate, averages) === biggest) return { admit: false };
  return { admit: true, evict: pick(members[biggest]!, policy.random) };
}

function ratedQualities(hosts: readonly KnownHost[]): HostQuality[] {
  const qualities: HostQuality[] = [];
  for (const host of hosts) if (host.quality) qualities.push(host.quality);
  return qualities;
}

/** Ties are broken at random so that no class is favoured by its index. */
function biggestClass(members: readonly KnownHost[][], random: Random): number {
  let size = 0;
  let tied: number[] = [];
  members.forEach((hosts, index) => {
    if (hosts.length > size) {
      size = hosts.length;
      tied = [index];
    } else if (hosts.length === size) tied.push(index);
  });
  return tied.length === 1 ? (tied[0] as number) : (tied[random.int(tied.length)] as number);
}

function pick<T>(items: readonly T[], random: Random): T {
  return items[random.int(items.length)] as T;
}
