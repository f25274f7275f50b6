import { createHash, hash as oneShotHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { InvalidArgumentError } from '../errors.js';

/**
 * Blocks and content ids (docs/PROTOCOL.md, "Blocks and content ids").
 *
 * Content is cut into parts of `blockSizeBytes`. Each part's leaf hash covers
 * its part number, the number of parts, the content's keywords and its bytes;
 * the content hash is the root of a Merkle tree over the leaves, and every
 * block carries the path from its leaf to that root, so a block verifies on its
 * own, keywords included, without its siblings.
 */
export const blockSizeBytes = 4096;
/** 65,536 parts of 4 KiB: contents up to 256 MiB, proofs of at most 16 hashes. */
export const maxParts = 65_536;
export const maxProofLength = 16;
export const maxKeywords = 16;
/** In UTF-16 code units, as JavaScript counts `string.length`. */
export const maxKeywordLength = 64;
export const hashBytes = 32;
/**
 * What a held block costs beyond its bytes: its index entry, key and objects.
 * Measured in the memory store at 530–600 bytes of heap per block
 * (bench/storage-blocks.ts checks it); rounded up.
 */
export const blockOverheadBytes = 640;
/** A keyword's string and array slot beyond its UTF-8 bytes. */
export const keywordOverheadBytes = 24;

export interface Block {
  /** 32 bytes: the Merkle root (SHA-256) over the parts' leaf hashes. */
  readonly contentHash: Uint8Array;
  /** 0 … parts-1 */
  readonly part: number;
  /** 1 … maxParts */
  readonly parts: number;
  /** Bounded by maxKeywords and maxKeywordLength; the same in every block of a content. */
  readonly keywords: readonly string[];
  /** Sibling hashes from this part's leaf up to contentHash; exactly proofLengthOf(parts) of them. */
  readonly proof: readonly Uint8Array[];
  /** blockSizeBytes, except the last part: 1 … blockSizeBytes (0 only for empty content). */
  readonly data: Uint8Array;
}

const ContentHash = Type.Uint8Array({ minByteLength: hashBytes, maxByteLength: hashBytes });

/**
 * The wire form of a block: a MessagePack map with exactly these fields. Its
 * static type is `Block` (readonly arrays), so a Block embeds in any message.
 */
const blockObjectSchema = Type.Object(
  {
    contentHash: ContentHash,
    part: Type.Integer({ minimum: 0, maximum: maxParts - 1 }),
    parts: Type.Integer({ minimum: 1, maximum: maxParts }),
    keywords: Type.Array(Type.String({ minLength: 1, maxLength: maxKeywordLength }), { maxItems: maxKeywords }),
    proof: Type.Array(ContentHash, { maxItems: maxProofLength }),
    data: Type.Uint8Array({ maxByteLength: blockSizeBytes }),
  },
  { additionalProperties: false },
);
export const blockSchema = Type.Unsafe<Block>(blockObjectSchema);

/** `<content hash, 64 hex>.<parts, decimal>`: a reader knows every block key from the id alone. */
export const contentIdPattern = '^[0-9a-f]{64}\\.[1-9][0-9]{0,4}$';
const contentIdRegExp = new RegExp(contentIdPattern);

const leafTag = 0x00;
const nodeTag = 0x01;
const loneSurrogate = /\p{Cs}/u;
const textEncoder = new TextEncoder();

export function contentIdOf(contentHash: Uint8Array, parts: number): string {
  return `${Buffer.from(contentHash.buffer, contentHash.byteOffset, contentHash.byteLength).toString('hex')}.${parts}`;
}

/** The content hash and number of parts a content id names, or undefined for a malformed id. */
export function parseContentId(contentId: string): { contentHash: Uint8Array; parts: number } | undefined {
  if (!contentIdRegExp.test(contentId)) return undefined;
  const parts = Number(contentId.slice(65));
  if (parts > maxParts) return undefined;
  return { contentHash: new Uint8Array(Buffer.from(contentId.slice(0, 64), 'hex')), parts };
}

/** The key of one block, which is also the key of its group. */
export function blockKeyOf(contentId: string, part: number): string {
  return `${contentId}/${part}`;
}

export function blockKey(block: Block): string {
  return blockKeyOf(contentIdOf(block.contentHash, block.parts), block.part);
}

/** ceil(log2(parts)): the tree pads every odd level with a zero hash, so every path has this length. */
export function proofLengthOf(parts: number): number {
  let levels = 0;
  for (let width = parts; width > 1; width = Math.ceil(width / 2)) levels += 1;
  return levels;
}

/** Bytes a block costs against the node's storage allocation. */
export function blockStorageBytes(block: Block): number {
  let keywordBytes = 0;
  for (const keyword of block.keywords) keywordBytes += keywordOverheadBytes + Buffer.byteLength(keyword);
  return blockOverheadBytes + block.data.byteLength + hashBytes * (1 + block.proof.length) + keywordBytes;
}

/** u8 count, then per keyword u16 big-endian UTF-8 length and the bytes. */
function encodeKeywords(keywords: readonly string[]): Uint8Array {
  const encoded = keywords.map((keyword) => textEncoder.encode(keyword));
  const out = new Uint8Array(1 + encoded.reduce((sum, bytes) => sum + 2 + bytes.length, 0));
  out[0] = encoded.length;
  let offset = 1;
  for (const bytes of encoded) {
    out[offset] = bytes.length >>> 8;
    out[offset + 1] = bytes.length & 0xff;
    out.set(bytes, offset + 2);
    offset += 2 + bytes.length;
  }
  return out;
}

/**
 * SHA-256 of one buffer. The one-shot `crypto.hash` (Node ≥ 20.12) creates no
 * Hash object: verification hashes ⌈log2 parts⌉ + 1 times per block, and the
 * objects and their garbage cost more than the hashing. Older Node 20 falls back.
 */
const sha256: (input: Uint8Array) => Uint8Array =
  typeof oneShotHash === 'function'
    ? (input) => oneShotHash('sha256', input, 'buffer')
    : (input) => createHash('sha256').update(input).digest();

const leafHeaderBytes = 9;

/** SHA-256(0x00 ‖ u32 part ‖ u32 parts ‖ keywords ‖ data): data comes last, so its length needs no prefix. */
function leafHash(part: number, parts: number, encodedKeywords: Uint8Array, data: Uint8Array): Uint8Array {
  const input = Buffer.allocUnsafe(leafHeaderBytes + encodedKeywords.byteLength + data.byteLength);
  input[0] = leafTag;
  input.writeUInt32BE(part, 1);
  input.writeUInt32BE(parts, 5);
  input.set(encodedKeywords, leafHeaderBytes);
  input.set(data, leafHeaderBytes + encodedKeywords.byteLength);
  return sha256(input);
}

// One buffer for every inner-node input: hashing is synchronous.
const nodeInput = Buffer.alloc(1 + 2 * hashBytes);
nodeInput[0] = nodeTag;

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + hashBytes);
  return sha256(nodeInput);
}

function checkKeywords(keywords: readonly string[]): string | undefined {
  if (keywords.length > maxKeywords) return `more than ${maxKeywords} keywords`;
  for (const keyword of keywords) {
    if (typeof keyword !== 'string' || keyword.length === 0 || keyword.length > maxKeywordLength) {
      return `keywords must be strings of 1 to ${maxKeywordLength} characters`;
    }
    // A lone surrogate encodes to the same UTF-8 as U+FFFD, so two keyword lists would share a hash.
    if (loneSurrogate.test(keyword)) return 'keywords must be well-formed Unicode';
  }
  return undefined;
}

/** Every level of the tree, leaves first; each odd level is padded with a zero hash before its parents are made. */
function merkleLevels(leaves: Uint8Array[]): Uint8Array[][] {
  const levels = [leaves];
  for (let level = leaves; level.length > 1; ) {
    if (level.length % 2 === 1) level.push(new Uint8Array(hashBytes));
    const parents: Uint8Array[] = [];
    for (let index = 0; index < level.length; index += 2) parents.push(nodeHash(level[index]!, level[index + 1]!));
    levels.push(parents);
    level = parents;
  }
  return levels;
}

/** Cuts `data` into blocks; every block owns a copy of its bytes. Empty content is one empty block. */
export function splitContent(data: Uint8Array, keywords: readonly string[]): { contentId: string; blocks: Block[] } {
  const keywordProblem = checkKeywords(keywords);
  if (keywordProblem) throw new InvalidArgumentError(keywordProblem);
  const parts = Math.max(1, Math.ceil(data.byteLength / blockSizeBytes));
  if (parts > maxParts) throw new InvalidArgumentError(`content of ${data.byteLength} bytes exceeds ${maxParts} blocks of ${blockSizeBytes} bytes`);
  const ownKeywords = Object.freeze([...keywords]);
  const encodedKeywords = encodeKeywords(ownKeywords);

  const pieces: Uint8Array[] = [];
  const leaves: Uint8Array[] = [];
  for (let part = 0; part < parts; part += 1) {
    const piece = new Uint8Array(data.subarray(part * blockSizeBytes, (part + 1) * blockSizeBytes));
    pieces.push(piece);
    leaves.push(leafHash(part, parts, encodedKeywords, piece));
  }
  const levels = merkleLevels(leaves);
  const contentHash = levels[levels.length - 1]![0]!;

  const blocks = pieces.map((piece, part): Block => {
    const proof: Uint8Array[] = [];
    for (let level = 0, index = part; level < levels.length - 1; level += 1, index >>>= 1) proof.push(levels[level]![index ^ 1]!);
    return { contentHash, part, parts, keywords: ownKeywords, proof, data: piece };
  });
  return { contentId: contentIdOf(contentHash, parts), blocks };
}

function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.byteLength === length);
}

/** Why a block fails its limits, or undefined when they hold (the Merkle path is not checked here). */
export function blockLimitProblem(block: Block): string | undefined {
  const { contentHash, part, parts, keywords, proof, data } = block;
  if (!isBytes(contentHash, hashBytes)) return 'content hash must be 32 bytes';
  if (!Number.isInteger(parts) || parts < 1 || parts > maxParts) return `parts must be an integer from 1 to ${maxParts}`;
  if (!Number.isInteger(part) || part < 0 || part >= parts) return 'part must be an integer below parts';
  if (!Array.isArray(keywords)) return 'keywords must be an array';
  const keywordProblem = checkKeywords(keywords);
  if (keywordProblem) return keywordProblem;
  if (!isBytes(data)) return 'data must be bytes';
  const isLast = part === parts - 1;
  // One content has exactly one split: full blocks, then a non-empty tail (empty only as the sole block).
  if (!isLast && data.byteLength !== blockSizeBytes) return `every part but the last must hold ${blockSizeBytes} bytes`;
  if (isLast && (data.byteLength > blockSizeBytes || (data.byteLength === 0 && parts > 1))) return `the last part must hold 1 to ${blockSizeBytes} bytes`;
  if (!Array.isArray(proof) || proof.length !== proofLengthOf(parts)) return `the proof must hold ${proofLengthOf(parts)} hashes`;
  if (!proof.every((hash) => isBytes(hash, hashBytes))) return 'proof hashes must be 32 bytes';
  return undefined;
}

/**
 * True when the block keeps every limit and its Merkle path leads from its
 * leaf to its content hash (and, when given, its content id is `expectedContentId`).
 */
export function verifyBlock(block: Block, expectedContentId?: string): boolean {
  if (blockLimitProblem(block) !== undefined) return false;
  if (expectedContentId !== undefined && contentIdOf(block.contentHash, block.parts) !== expectedContentId) return false;
  let hash: Uint8Array = leafHash(block.part, block.parts, encodeKeywords(block.keywords), block.data);
  let index = block.part;
  for (const sibling of block.proof) {
    hash = index % 2 === 0 ? nodeHash(hash, sibling) : nodeHash(sibling, hash);
    index >>>= 1;
  }
  return Buffer.compare(hash, block.contentHash) === 0;
}

/**
 * True when every block of `run` (consecutive parts of one content, starting at a part
 * that is a multiple of 2^`height`, with `height` ≤ the proof length) would pass
 * verifyBlock, checked with one subtree: the run's leaves are hashed up `height` levels,
 * each block's lower proof hashes must be the subtree's own nodes, and the upper ones, the
 * same in every block, lead from the subtree's root to the content hash. About 2 hashes
 * per block instead of 1 + log2(parts).
 */
export function verifyRun(run: readonly Block[], height: number): boolean {
  const first = run[0];
  if (!first || first.part % 2 ** height !== 0 || run.length > 2 ** height) return false;
  const encodedKeywords = encodeKeywords(first.keywords);
  let level: Uint8Array[] = [];
  for (const [index, block] of run.entries()) {
    if (blockLimitProblem(block) !== undefined || block.part !== first.part + index || block.parts !== first.parts || height > block.proof.length) return false;
    if (Buffer.compare(block.contentHash, first.contentHash) !== 0 || !sameKeywords(block.keywords, first.keywords)) return false;
    level.push(leafHash(block.part, block.parts, encodedKeywords, block.data));
  }
  for (let depth = 0; depth < height; depth += 1) {
    // The full tree pads an odd level with a zero hash; the run's last node at this level is the level's last when the run ends the content.
    if (level.length % 2 === 1) level.push(new Uint8Array(hashBytes));
    for (const [index, block] of run.entries()) {
      if (Buffer.compare(block.proof[depth] as Uint8Array, level[(index >>> depth) ^ 1] as Uint8Array) !== 0) return false;
    }
    const parents: Uint8Array[] = [];
    for (let index = 0; index < level.length; index += 2) parents.push(nodeHash(level[index]!, level[index + 1]!));
    level = parents;
  }
  let hash = level[0] as Uint8Array;
  let index = first.part >>> height;
  for (let depth = height; depth < first.proof.length; depth += 1) {
    const sibling = first.proof[depth] as Uint8Array;
    for (const block of run) if (Buffer.compare(block.proof[depth] as Uint8Array, sibling) !== 0) return false;
    hash = index % 2 === 0 ? nodeHash(hash, sibling) : nodeHash(sibling, hash);
    index >>>= 1;
  }
  return Buffer.compare(hash, first.contentHash) === 0;
}

function sameKeywords(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((keyword, index) => keyword === b[index]));
}

/**
 * Reassembles a content from all its blocks (any order, duplicates allowed).
 * Checks every block's limits and rebuilds the whole tree from the blocks'
 * leaves (n − 1 inner hashes instead of n · log2 n for one proof per block);
 * throws InvalidArgumentError when blocks of different contents are mixed, a
 * part is missing, or the blocks do not hash to their content hash.
 */
export function joinContent(blocks: readonly Block[]): Uint8Array {
  const first = blocks[0];
  if (!first) throw new InvalidArgumentError('no blocks to join');
  const contentId = contentIdOf(first.contentHash, first.parts);
  const byPart = new Array<Block | undefined>(first.parts);
  for (const block of blocks) {
    const problem = blockLimitProblem(block);
    if (problem) throw new InvalidArgumentError(`block ${block.part} of content ${contentId}: ${problem}`);
    if (contentIdOf(block.contentHash, block.parts) !== contentId) throw new InvalidArgumentError(`blocks of contents ${contentId} and ${blockKey(block)} cannot be joined`);
    byPart[block.part] = block;
  }
  const leaves: Uint8Array[] = [];
  let totalBytes = 0;
  for (let part = 0; part < first.parts; part += 1) {
    const block = byPart[part];
    if (!block) throw new InvalidArgumentError(`content ${contentId} is missing part ${part} of ${first.parts}`);
    leaves.push(leafHash(part, block.parts, encodeKeywords(block.keywords), block.data));
    totalBytes += block.data.byteLength;
  }
  const levels = merkleLevels(leaves);
  if (Buffer.compare(levels[levels.length - 1]![0]!, first.contentHash) !== 0) {
    throw new InvalidArgumentError(`the blocks do not hash to content ${contentId}`);
  }
  const content = new Uint8Array(totalBytes);
  let offset = 0;
  for (const block of byPart as Block[]) {
    content.set(block.data, offset);
    offset += block.data.byteLength;
  }
  return content;
}
