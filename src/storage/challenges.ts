import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Address, Random } from '../runtime/types.js';
import { messageCodec } from '../transport/codec.js';
import { blockSizeBytes, hashBytes, maxParts } from './block.js';
import { segmentKeyText } from './group-messages.js';

/**
 * Possession challenges (docs/PROTOCOL.md, "storage/challenge"), a sans-IO core: once per
 * `challengeIntervalMs` (from a random phase) this node challenges every peer it shares a group
 * with, in one message per peer: a fresh nonce and, per seat, a random block of the segment and
 * a random byte range of it. The peer answers SHA-256(domain ‖ nonce ‖ block key ‖ range) per
 * item; the adapter compares with its own copy and takes the seat of a peer that answers wrong
 * or not at all. Seats not yet verified (new, or alive at a new incarnation, e.g. vouched for
 * by another member) go first, so one holding nothing keeps its seat one interval at most
 * (while a peer has at most maxChallengeItems − 1 of them); one verified seat is re-checked at random.
 */

/**
 * A member that failed a challenge may not win that seat back (by raising its incarnation) for
 * this many intervals; the group has recruited another meanwhile.
 */
export const barredIntervals = 5;

/** Items one challenge carries at most. */
export const maxChallengeItems = 32;
export const nonceBytes = 16;
const digestDomain = new TextEncoder().encode('butter/possession/v1\0');

export interface ChallengeItem {
  /** The segment (a group's key). */
  key: string;
  part: number;
  offset: number;
  length: number;
}

export interface ChallengeToSend {
  peerId: string;
  address: Address;
  nonce: Uint8Array;
  items: ChallengeItem[];
  /** Passing verifies the peer's seats held since before this: the sweep's time, or the first unverified seat that had to wait. */
  verifiesBeforeMs: number;
}

export interface PeerSeats {
  peerId: string;
  address: Address;
  seats: ReadonlyArray<{ key: string; sinceMs: number }>;
}

/** What the planner needs to know of a segment held here: its parts, and each block's length. */
export interface HeldSegments {
  parts(key: string): readonly number[] | undefined;
  blockLength(key: string, part: number): number | undefined;
}

export class PossessionChallenges {
  /** Per peer, the time before which every seat it held has passed a challenge. */
  private readonly verifiedBefore = new Map<string, number>();
  private nextSweepMs: number;

  constructor(
    private readonly random: Random,
    readonly intervalMs: number,
    nowMs: number,
  ) {
    this.nextSweepMs = nowMs + random.float() * intervalMs;
  }

  get nextDeadlineMs(): number {
    return this.nextSweepMs;
  }

  /** The challenges due now (none before the next sweep); `peers` is asked only when one is. */
  poll(nowMs: number, peers: () => readonly PeerSeats[], held: HeldSegments): ChallengeToSend[] {
    if (nowMs < this.nextSweepMs) return [];
    this.nextSweepMs = nowMs + this.intervalMs;
    const current = peers();
    const present = new Set(current.map((peer) => peer.peerId));
    // Bounded by the peers shared now: one that left every group is forgotten.
    for (const peerId of this.verifiedBefore.keys()) if (!present.has(peerId)) this.verifiedBefore.delete(peerId);
    const challenges: ChallengeToSend[] = [];
    for (const peer of current) {
      const { items, verifiesBeforeMs } = this.plan(peer, held, nowMs);
      if (items.length > 0) challenges.push({ peerId: peer.peerId, address: peer.address, nonce: this.random.bytes(nonceBytes), items, verifiesBeforeMs });
    }
    return challenges;
  }

  /** Every item was answered right. */
  passed(challenge: ChallengeToSend): void {
    this.verifiedBefore.set(challenge.peerId, Math.max(this.verifiedBefore.get(challenge.peerId) ?? -Infinity, challenge.verifiesBeforeMs));
  }

  /**
   * Unverified seats first, oldest first (up to maxChallengeItems − 1), then one verified seat
   * at random; only seats whose segment this node holds whole (it could not judge the others),
   * looked up for the chosen seats alone.
   */
  private plan(peer: PeerSeats, held: HeldSegments, nowMs: number): { items: ChallengeItem[]; verifiesBeforeMs: number } {
    const since = this.verifiedBefore.get(peer.peerId) ?? -Infinity;
    const unverified = peer.seats.filter((seat) => seat.sinceMs >= since).sort((a, b) => a.sinceMs - b.sinceMs);
    const items: ChallengeItem[] = [];
    let next = 0;
    for (; next < unverified.length && items.length < maxChallengeItems - 1; next += 1) {
      const item = this.item((unverified[next] as { key: string }).key, held);
      if (item) items.push(item);
    }
    const verifiedCount = peer.seats.length - unverified.length;
    // A few tries at most: a verified seat this node no longer holds whole is skipped.
    for (let attempt = 0; attempt < 3 && verifiedCount > 0; attempt += 1) {
      const seat = peer.seats[this.random.int(peer.seats.length)] as { key: string; sinceMs: number };
      const item = seat.sinceMs < since ? this.item(seat.key, held) : undefined;
      if (item) {
        items.push(item);
        break;
      }
    }
    return { items, verifiesBeforeMs: unverified[next]?.sinceMs ?? nowMs };
  }

  private item(key: string, held: HeldSegments): ChallengeItem | undefined {
    const parts = held.parts(key);
    if (!parts || parts.length === 0) return undefined;
    const part = parts[this.random.int(parts.length)] as number;
    const length = held.blockLength(key, part) ?? 0;
    if (length === 0) return { key, part, offset: 0, length: 0 };
    const offset = this.random.int(length);
    return { key, part, offset, length: 1 + this.random.int(length - offset) };
  }
}

/** The answer to one item: SHA-256(domain ‖ nonce ‖ block key ‖ data[offset, offset + length]). */
export function possessionDigest(nonce: Uint8Array, blockKey: string, data: Uint8Array, offset: number, length: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(digestDomain).update(nonce).update(blockKey).update(data.subarray(offset, offset + length)).digest());
}

// ---- wire messages --------------------------------------------------------------------------------

export const challengeRoute = 'storage/challenge';

const challengeItemSchema = Type.Object(
  {
    key: segmentKeyText,
    part: Type.Integer({ minimum: 0, maximum: maxParts - 1 }),
    offset: Type.Integer({ minimum: 0, maximum: blockSizeBytes }),
    length: Type.Integer({ minimum: 0, maximum: blockSizeBytes }),
  },
  { additionalProperties: false },
);

export const challengeCodec = messageCodec(
  'storage challenge',
  Type.Object(
    {
      nonce: Type.Uint8Array({ minByteLength: nonceBytes, maxByteLength: nonceBytes }),
      items: Type.Array(challengeItemSchema, { minItems: 1, maxItems: maxChallengeItems }),
    },
    { additionalProperties: false },
  ),
);

/** One digest per item, in order; an empty one says "I do not hold it". */
export const challengeReplyCodec = messageCodec(
  'storage challenge reply',
  Type.Object({ digests: Type.Array(Type.Uint8Array({ maxByteLength: hashBytes }), { maxItems: maxChallengeItems }) }, { additionalProperties: false }),
);
