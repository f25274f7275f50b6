import { blockKey, blockKeyOf, contentIdOf, contentIdPattern, proofLengthOf, verifyRun, type Block } from './block.js';

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

/**
 * The segment key when `blocks` are exactly one whole segment (same content, every part
 * of the segment once, in order), else undefined. Each block is still to be verified.
 */
export function wholeSegmentKey(blocks: readonly Block[]): string | undefined {
  const first = blocks[0];
  if (!first || first.part % segmentBlocks !== 0) return undefined;
  const key = segmentKeyOfBlock(first);
  const expected = segmentBlockKeys(key);
  if (expected.length !== blocks.length) return undefined;
  for (const [index, block] of blocks.entries()) if (blockKey(block) !== expected[index]) return undefined;
  return key;
}

/** Every block of a whole segment verifies (block.ts: verifyRun, one subtree per segment). */
export function verifySegment(blocks: readonly Block[]): boolean {
  const first = blocks[0];
  return first !== undefined && verifyRun(blocks, Math.min(segmentHeight, proofLengthOf(first.parts)));
}
