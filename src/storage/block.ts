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
/** The largest leaf input: header, 16 keywords of 64 three-byte UTF-8 characters, a full block. */
const maxLeafInputBytes = leafHeaderBytes + 1 + maxKeywords * (2 + 3 * maxKeywordLength) + blockSizeBytes;
// One buffer for every leaf input (hashing is synchronous): a fresh 4 KiB buffer per leaf was most of a leaf's garbage.
const leafInput = Buffer.allocUnsafe(maxLeafInputBytes);
leafInput[0] = leafTag;

/** SHA-256(0x00 ‖ u32 part ‖ u32 parts ‖ keywords ‖ data): data comes last, so its length needs no prefix. */
function leafHash(part: number, parts: number, encodedKeywords: Uint8Array, data: Uint8Array): Uint8Array {
  leafInput.writeUInt32BE(part, 1);
  leafInput.writeUInt32BE(parts, 5);
  leafInput.set(encodedKeywords, leafHeaderBytes);
  leafInput.set(data, leafHeaderBytes + encodedKeywords.byteLength);
  return sha256(leafInput.subarray(0, leafHeaderBytes + encodedKeywords.byteLength + data.byteLength));
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

/**
 * Every level of the tree over `leaves`, leaves first, `height` levels up (by default to the
 * root); each odd level is padded with a zero hash before its parents are made, even a level
 * of one node below `height` (a run that ends the content climbs its subtree that way).
 */
function merkleLevels(leaves: Uint8Array[], height = proofLengthOf(leaves.length)): Uint8Array[][] {
  const levels = [leaves];
  for (let depth = 0, level = leaves; depth < height; depth += 1) {
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
 * A run of consecutive parts of one content as an offer carries it (docs/PROTOCOL.md,
 * "storage/offer"): the parts' bytes back to back and the proof hashes above the run's
 * subtree, which every block of the run shares. The proof hashes below are the subtree's own
 * nodes, so the receiver rebuilds them from the bytes it must hash anyway.
 */
export interface PackedRun {
  readonly contentHash: Uint8Array;
  readonly parts: number;
  /** The run's first part: a multiple of 2^height. */
  readonly first: number;
  readonly keywords: readonly string[];
  /** Sibling hashes from the run's subtree root up to contentHash: proofLengthOf(parts) − height of them. */
  readonly upperProof: readonly Uint8Array[];
  readonly data: Uint8Array;
}

/** Packs `run` (consecutive blocks of one content, verified, starting at a multiple of 2^`height`). */
export function packRun(run: readonly Block[], height: number): PackedRun {
  const first = run[0];
  if (!first) throw new InvalidArgumentError('no blocks to pack');
  const data = new Uint8Array(run.reduce((sum, block) => sum + block.data.byteLength, 0));
  let offset = 0;
  for (const block of run) {
    data.set(block.data, offset);
    offset += block.data.byteLength;
  }
  return { contentHash: first.contentHash, parts: first.parts, first: first.part, keywords: first.keywords, upperProof: first.proof.slice(height), data };
}

/**
 * The blocks of a packed run of the parts `first` … `first` + min(2^`height`, parts − first) − 1
 * (`height` ≤ the proof length), each with its full proof, exactly when they keep every
 * limit and hash to the content hash; undefined otherwise. About 2 hashes per block: the
 * run's leaves are hashed up `height` levels, then its root up the shared proof. The blocks'
 * bytes are views into `packed.data`.
 */
export function unpackRun(packed: PackedRun, height: number): Block[] | undefined {
  const { contentHash, parts, first, keywords, upperProof, data } = packed;
  if (!isBytes(contentHash, hashBytes) || !Number.isInteger(parts) || parts < 1 || parts > maxParts) return undefined;
  const proofLength = proofLengthOf(parts);
  if (!Number.isInteger(height) || height < 0 || height > proofLength) return undefined;
  if (!Number.isInteger(first) || first < 0 || first >= parts || first % 2 ** height !== 0) return undefined;
  if (!Array.isArray(keywords) || checkKeywords(keywords) !== undefined) return undefined;
  if (!Array.isArray(upperProof) || upperProof.length !== proofLength - height || !upperProof.every((hash) => isBytes(hash, hashBytes))) return undefined;
  const count = Math.min(2 ** height, parts - first);
  // One content has one split: full blocks, then a non-empty tail (empty only as the sole block).
  const endsContent = first + count === parts;
  const fullBytes = count * blockSizeBytes;
  if (!isBytes(data)) return undefined;
  const lengthFits = endsContent ? data.byteLength <= fullBytes && (data.byteLength > fullBytes - blockSizeBytes || (parts === 1 && data.byteLength === 0)) : data.byteLength === fullBytes;
  if (!lengthFits) return undefined;
  const ownKeywords = Object.freeze([...keywords]);
  const encodedKeywords = encodeKeywords(ownKeywords);
  const pieces: Uint8Array[] = [];
  const leaves: Uint8Array[] = [];
  for (let index = 0; index < count; index += 1) {
    const piece = data.subarray(index * blockSizeBytes, (index + 1) * blockSizeBytes);
    pieces.push(piece);
    leaves.push(leafHash(first + index, parts, encodedKeywords, piece));
  }
  // A run shorter than 2^height ends the content: its last node at each level is the level's last, padded as the full tree pads it.
  const levels = merkleLevels(leaves, height);
  let hash = levels[height]![0]!;
  let index = first >>> height;
  for (const sibling of upperProof) {
    hash = index % 2 === 0 ? nodeHash(hash, sibling) : nodeHash(sibling, hash);
    index >>>= 1;
  }
  if (Buffer.compare(hash, contentHash) !== 0) return undefined;
  const ownHash = new Uint8Array(contentHash);
  return pieces.map((piece, offset): Block => {
    const proof: Uint8Array[] = [];
    for (let level = 0, at = offset; level < height; level += 1, at >>>= 1) proof.push(levels[level]![at ^ 1]!);
    proof.push(...upperProof);
    return { contentHash: ownHash, part: first + offset, parts, keywords: ownKeywords, proof, data: piece };
  });
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
