import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { messageCodec } from '../transport/codec.js';
import { contentIdPattern, maxKeywordLength, type Block } from './block.js';

/**
 * Authored content, mutable names and tombstones (docs/PROTOCOL.md, "Authorship").
 *
 * Content is authored when one of its keywords is `author:<raw Ed25519 public key, base64url>`:
 * the keywords are inside every leaf hash, so the content id itself commits to its author and
 * any holder reads the author off a block it holds, with no table of claims to keep. A name
 * record (author, name, sequence, content id) signed by the author points a mutable name at a
 * version; a tombstone (author, content id) signed by the author deletes authored content.
 * Signatures are Ed25519 (node:crypto) over a domain-separated encoding, so a signature made
 * for one kind of record never verifies as another (nor as a TLS or host record).
 */

export const publicKeyBytes = 32;
export const signatureBytes = 64;
/** A name, in UTF-16 code units; its UTF-8 bytes are signed. */
export const maxNameLength = 128;
/** Sequence numbers start at 1 and stay below 2^48 (exact in a double, six bytes signed). */
export const maxSequence = 2 ** 48 - 1;

const authorKeywordPrefix = 'author:';
/** 7 + 43 characters: inside maxKeywordLength. */
const authorKeywordLength = authorKeywordPrefix.length + Math.ceil((publicKeyBytes * 4) / 3);
if (authorKeywordLength > maxKeywordLength) throw new Error('an author keyword must fit a keyword');

const nameRecordDomain = new TextEncoder().encode('butter/name-record/v1\0');
const tombstoneDomain = new TextEncoder().encode('butter/tombstone/v1\0');
const loneSurrogate = /\p{Cs}/u;

const publicKeySchema = Type.Uint8Array({ minByteLength: publicKeyBytes, maxByteLength: publicKeyBytes });
const signatureSchema = Type.Uint8Array({ minByteLength: signatureBytes, maxByteLength: signatureBytes });
export const nameSchema = Type.String({ minLength: 1, maxLength: maxNameLength });
const contentIdText = Type.String({ pattern: contentIdPattern });

export const nameRecordSchema = Type.Object(
  {
    author: publicKeySchema,
    name: nameSchema,
    sequence: Type.Integer({ minimum: 1, maximum: maxSequence }),
    contentId: contentIdText,
    signature: signatureSchema,
  },
  { additionalProperties: false },
);
export type NameRecord = Static<typeof nameRecordSchema>;

export const tombstoneSchema = Type.Object({ author: publicKeySchema, contentId: contentIdText, signature: signatureSchema }, { additionalProperties: false });
export type Tombstone = Static<typeof tombstoneSchema>;

/** What signs for a node: its public key and a signature over bytes; the private key stays in the node. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function authorKeyword(publicKey: Uint8Array): string {
  return `${authorKeywordPrefix}${Buffer.from(publicKey).toString('base64url')}`;
}

/** The author a content's keywords name, or undefined when it has none (or a malformed one). */
export function authorOfKeywords(keywords: readonly string[]): Uint8Array | undefined {
  const keyword = keywords.find((candidate) => candidate.startsWith(authorKeywordPrefix));
  if (keyword === undefined || keyword.length !== authorKeywordLength) return undefined;
  const key = new Uint8Array(Buffer.from(keyword.slice(authorKeywordPrefix.length), 'base64url'));
  return key.byteLength === publicKeyBytes && authorKeyword(key) === keyword ? key : undefined;
}

export function authorOfBlock(block: Block): Uint8Array | undefined {
  return authorOfKeywords(block.keywords);
}

export function sameKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;
}

/** Why a name cannot be signed, or undefined. */
export function nameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > maxNameLength) return `a name must hold 1 to ${maxNameLength} characters`;
  if (loneSurrogate.test(name)) return 'a name must be well-formed Unicode';
  return undefined;
}

/** domain ‖ author (32) ‖ u16 name length ‖ name (UTF-8) ‖ u48 sequence ‖ content id (ASCII). */
export function nameRecordSigningBytes(record: Omit<NameRecord, 'signature'>): Uint8Array {
  const name = Buffer.from(record.name, 'utf8');
  const contentId = Buffer.from(record.contentId, 'ascii');
  const out = Buffer.alloc(nameRecordDomain.byteLength + publicKeyBytes + 2 + name.byteLength + 6 + contentId.byteLength);
  let offset = 0;
  out.set(nameRecordDomain, offset);
  offset += nameRecordDomain.byteLength;
  out.set(record.author, offset);
  offset += publicKeyBytes;
  offset = out.writeUInt16BE(name.byteLength, offset);
  out.set(name, offset);
  offset += name.byteLength;
  offset = out.writeUIntBE(record.sequence, offset, 6);
  out.set(contentId, offset);
  return out;
}

/** domain ‖ author (32) ‖ content id (ASCII). */
export function tombstoneSigningBytes(tombstone: Omit<Tombstone, 'signature'>): Uint8Array {
  return Buffer.concat([tombstoneDomain, tombstone.author, Buffer.from(tombstone.contentId, 'ascii')]);
}

export function signNameRecord(signer: Signer, fields: Omit<NameRecord, 'signature' | 'author'>): NameRecord {
  const unsigned = { author: signer.publicKey, ...fields };
  return { ...unsigned, signature: signer.sign(nameRecordSigningBytes(unsigned)) };
}

export function signTombstone(signer: Signer, contentId: string): Tombstone {
  const unsigned = { author: signer.publicKey, contentId };
  return { ...unsigned, signature: signer.sign(tombstoneSigningBytes(unsigned)) };
}

/** Verifying keys by raw key, so a node checking many records of one author imports its key once. */
const maxCachedKeys = 1024;
const verifyingKeys = new Map<string, KeyObject>();

function verifyingKey(publicKey: Uint8Array): KeyObject {
  const text = Buffer.from(publicKey).toString('base64url');
  let key = verifyingKeys.get(text);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' });
    if (verifyingKeys.size >= maxCachedKeys) verifyingKeys.delete(verifyingKeys.keys().next().value as string);
    verifyingKeys.set(text, key);
  }
  return key;
}

function verifiedBy(author: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, verifyingKey(author), signature);
  } catch {
    return false; // not a point on the curve: no signature verifies
  }
}

export function verifyNameRecord(record: NameRecord): boolean {
  return nameProblem(record.name) === undefined && verifiedBy(record.author, nameRecordSigningBytes(record), record.signature);
}

export function verifyTombstone(tombstone: Tombstone): boolean {
  return verifiedBy(tombstone.author, tombstoneSigningBytes(tombstone), tombstone.signature);
}

/** Why a record or tombstone was refused: its signature does not hold (or names another author), or it is no newer than what is held. */
export type Refusal = 'forged' | 'stale';

/** Hears what a table keeps and forgets, by its key (a name's, or a content id). */
export interface TableListener<Entry> {
  kept?(key: string, entry: Entry): void;
  forgot?(key: string): void;
}

/** `<author hex>/<name>`: one entry per mutable name. */
function nameKey(author: Uint8Array, name: string): string {
  return `${Buffer.from(author).toString('hex')}/${name}`;
}

/**
 * The newest verified record of each mutable name this node heard of, at most `capacity`
 * names (the one heard of longest ago goes first). Only verified records are offered.
 */
export class NameTable {
  private readonly records = new Map<string, NameRecord>();

  constructor(
    readonly capacity: number,
    /** Told of each record kept and each name forgotten (persistence). */
    private readonly listener: TableListener<NameRecord> = {},
  ) {}

  get size(): number {
    return this.records.size;
  }

  get(author: Uint8Array, name: string): NameRecord | undefined {
    return this.records.get(nameKey(author, name));
  }

  /** Keeps `record` when its sequence is above the one held; a replay or an older version is 'stale'. */
  accept(record: NameRecord): Refusal | undefined {
    const key = nameKey(record.author, record.name);
    const held = this.records.get(key);
    if (held && held.sequence >= record.sequence) return 'stale';
    this.records.delete(key);
    this.records.set(key, record);
    this.listener.kept?.(key, record);
    if (this.records.size > this.capacity) this.forget(this.records.keys().next().value as string);
    return undefined;
  }

  private forget(key: string): void {
    this.records.delete(key);
    this.listener.forgot?.(key);
  }
}

/**
 * Tombstones by content id, each kept `lifetimeMs` from when this node first took it (peers'
 * clocks are not comparable), at most `capacity` (the oldest go first). Only verified
 * tombstones are offered; a tombstone names its author, and it refuses only content whose
 * author keyword names the same key, so a tombstone for someone else's content refuses nothing.
 */
export class TombstoneTable {
  /** In the order taken, so the expired ones are at the front. */
  private readonly entries = new Map<string, { tombstone: Tombstone; expiresAtMs: number }>();

  constructor(
    readonly capacity: number,
    readonly lifetimeMs: number,
    /** Told of each tombstone kept and each forgotten (persistence). */
    private readonly listener: TableListener<Tombstone> = {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** A tombstone already held is 'stale' (a replay changes nothing, its lifetime included). */
  accept(tombstone: Tombstone, nowMs: number): Refusal | undefined {
    this.expire(nowMs);
    const held = this.entries.get(tombstone.contentId);
    if (held && sameKey(held.tombstone.author, tombstone.author)) return 'stale';
    this.entries.delete(tombstone.contentId);
    this.entries.set(tombstone.contentId, { tombstone, expiresAtMs: nowMs + this.lifetimeMs });
    this.listener.kept?.(tombstone.contentId, tombstone);
    if (this.entries.size > this.capacity) this.forget(this.entries.keys().next().value as string);
    return undefined;
  }

  /** The live tombstone by `author` that covers `contentId`, if any. */
  covering(contentId: string, author: Uint8Array | undefined, nowMs: number): Tombstone | undefined {
    const entry = this.entries.get(contentId);
    return entry !== undefined && entry.expiresAtMs > nowMs && sameKey(entry.tombstone.author, author) ? entry.tombstone : undefined;
  }

  private expire(nowMs: number): void {
    for (const [contentId, entry] of this.entries) {
      if (entry.expiresAtMs > nowMs) break;
      this.forget(contentId);
    }
  }

  private forget(contentId: string): void {
    this.entries.delete(contentId);
    this.listener.forgot?.(contentId);
  }
}

// ---- wire messages (docs/PROTOCOL.md, "Authorship") ----------------------------------------------

export const authorshipRoutes = {
  publishName: 'storage/name',
  resolveName: 'storage/resolve',
  tombstone: 'storage/tombstone',
} as const;

const refusalSchema = Type.Union([Type.Literal('forged'), Type.Literal('stale')]);

/** A signed name record to keep; the reply says whether it was taken. */
export const publishNameCodec = messageCodec('storage name', Type.Object({ record: nameRecordSchema }, { additionalProperties: false }));
/** Whether a record or tombstone was taken, and why not. */
export const authorshipReplyCodec = messageCodec('storage authorship reply', Type.Object({ accepted: Type.Boolean(), reason: Type.Optional(refusalSchema) }, { additionalProperties: false }));
/** Which record of (author, name) the peer holds. */
export const resolveNameCodec = messageCodec('storage resolve', Type.Object({ author: publicKeySchema, name: nameSchema }, { additionalProperties: false }));
export const resolveNameReplyCodec = messageCodec('storage resolve reply', Type.Object({ record: Type.Optional(nameRecordSchema) }, { additionalProperties: false }));
/** A signed tombstone: the peer drops the content and refuses it while the tombstone lives. */
export const tombstoneCodec = messageCodec('storage tombstone', Type.Object({ tombstone: tombstoneSchema }, { additionalProperties: false }));
