import { blockKeyOf, contentIdOf, contentIdPattern, maxParts, packRun, proofLengthOf, unpackRun, type Block, type PackedRun } from './block.js';

/**
 * Content segments (docs/PROTOCOL.md, "Storage groups"): a Peer Content Group holds
 * one segment, up to `segmentBlocks` consecutive blocks of one content, all on the same
 * members. So membership, beats and repair cost per segment, not per block, and a host
 * that holds one part of a segment holds all of them. 128 blocks (512 KiB and their
 * proofs) keep a whole segment inside one offer (1 MiB payload limit).
 */
export const segmentBlocks = 128;
const segmentHeight = Math.log2(segmentBlocks);

/** `<content id>:<segment>`: the group's key. */
export function segmentKeyOf(contentId: string, segment: number): string {
  return `${contentId}:${segment}`;
}

/** Segments of a content of `parts` blocks. */
export function segmentCount(parts: number): number {
  return Math.ceil(parts / segmentBlocks);
}

/** The first part and the number of parts of one segment. */
export function segmentRange(parts: number, segment: number): { first: number; count: number } {
  const first = segment * segmentBlocks;
  return { first, count: Math.max(0, Math.min(segmentBlocks, parts - first)) };
}

const segmentKeyRegExp = new RegExp(`${contentIdPattern.slice(0, -1)}:([0-9]{1,3})$`);

/** The content id and segment a segment key names, or undefined when malformed or beyond the content. */
export function parseSegmentKey(key: string): { contentId: string; segment: number; parts: number } | undefined {
  const match = segmentKeyRegExp.exec(key);
  if (!match) return undefined;
  const contentId = key.slice(0, key.lastIndexOf(':'));
  const parts = Number(contentId.slice(contentId.indexOf('.') + 1));
  const segment = Number(match[1]);
  return segment < segmentCount(parts) ? { contentId, segment, parts } : undefined;
}

/** The block keys of a segment, in part order. */
export function segmentBlockKeys(key: string): string[] {
  const parsed = parseSegmentKey(key);
  if (!parsed) return [];
  const { first, count } = segmentRange(parsed.parts, parsed.segment);
  return Array.from({ length: count }, (_, index) => blockKeyOf(parsed.contentId, first + index));
}

/** The key of the segment a block belongs to. */
export function segmentKeyOfBlock(block: Block): string {
  return segmentKeyOf(contentIdOf(block.contentHash, block.parts), Math.floor(block.part / segmentBlocks));
}

/** The segment key of a block key (`<content id>/<part>`), or undefined when malformed. */
export function segmentKeyOfBlockKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const part = Number(key.slice(slash + 1));
  if (slash < 0 || !Number.isInteger(part)) return undefined;
  return segmentKeyOf(key.slice(0, slash), Math.floor(part / segmentBlocks));
}

/** Cuts a content's blocks (in part order, as splitContent returns them) into its segments. */
export function segmentsOf(contentId: string, blocks: readonly Block[]): Array<{ key: string; blocks: Block[] }> {
  const segments: Array<{ key: string; blocks: Block[] }> = [];
  for (let first = 0; first < blocks.length; first += segmentBlocks) {
    segments.push({ key: segmentKeyOf(contentId, first / segmentBlocks), blocks: blocks.slice(first, first + segmentBlocks) });
  }
  return segments;
}

/** The height of a segment's subtree in its content's Merkle tree. */
function segmentHeightOf(parts: number): number {
  return Math.min(segmentHeight, proofLengthOf(parts));
}

/** A whole segment (its blocks in part order, verified) as an offer carries it (block.ts: packRun). */
export function packSegment(blocks: readonly Block[]): PackedRun {
  return packRun(blocks, segmentHeightOf(blocks[0]?.parts ?? 1));
}

/**
 * The key and blocks of a packed segment when it is one whole segment that keeps every limit
 * and hashes to its content hash (one subtree per segment: block.ts, unpackRun); else undefined.
 */
export function unpackSegment(packed: PackedRun): { key: string; blocks: Block[] } | undefined {
  const { parts, first } = packed;
  if (!Number.isInteger(parts) || parts < 1 || parts > maxParts || !Number.isInteger(first) || first % segmentBlocks !== 0) return undefined;
  const blocks = unpackRun(packed, segmentHeightOf(parts));
  return blocks?.[0] ? { key: segmentKeyOfBlock(blocks[0]), blocks } : undefined;
}
