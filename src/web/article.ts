import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { contentIdPattern } from '../storage/block.js';
import { encodeValue, messageCodec } from '../transport/codec.js';

/**
 * The wiki's article record (docs/PROTOCOL.md, "Wiki articles"): one stored
 * content per version, MessagePack, signed by its author's Ed25519 key. An
 * article is named by its author and a name; a version links the one it
 * replaces (`previous`), so the history is the chain, and a deletion is a
 * version with `deleted` set. Readers follow a chain only through versions
 * signed by the same author.
 */
export const articleFormat = 'butter-wiki/1';
export const maxTitleLength = 200;
export const maxBodyLength = 64 * 1024;
export const maxNameLength = 48;
const hexKey = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });

const unsignedProperties = {
    format: Type.Literal(articleFormat),
    name: Type.String({ minLength: 1, maxLength: maxNameLength, pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' }),
    title: Type.String({ minLength: 1, maxLength: maxTitleLength }),
    body: Type.String({ maxLength: maxBodyLength }),
    /** The author's raw Ed25519 public key. */
    author: hexKey(32),
    publishedAtMs: Type.Integer({ minimum: 0 }),
    previous: Type.Optional(Type.String({ pattern: contentIdPattern })),
    deleted: Type.Optional(Type.Literal(true)),
};
const articleSchema = Type.Object({ ...unsignedProperties, signature: hexKey(64) }, { additionalProperties: false });

export type ArticleRecord = Static<typeof articleSchema>;
export type UnsignedArticle = Omit<ArticleRecord, 'signature'>;

const recordCodec = messageCodec('wiki article', articleSchema);

/** Keywords stored with every version, for keyword search once retrieval lands: the format, and the name. */
export function articleKeywords(record: UnsignedArticle): string[] {
  return [articleFormat, `wiki:${record.name}`];
}

/** Turns a title into an article name: lower-case letters and digits joined by dashes. */
export function nameOfTitle(title: string): string {
  const name = title
    .normalize('NFKD')
    .replace(/\p{M}/gu, '') // accents, split off by NFKD
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxNameLength)
    .replace(/-+$/, '');
  return name.length > 0 ? name : 'untitled';
}

const pkcs8Ed25519Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const spkiEd25519Prefix = Buffer.from('302a300506032b6570032100', 'hex');

/** An author: an Ed25519 key pair made from a 32-byte seed (from `runtime.random.bytes`, or kept on disk). */
export class ArticleAuthor {
  readonly publicKey: string;
  private readonly privateKey: KeyObject;

  constructor(seed: Uint8Array) {
    if (seed.byteLength !== 32) throw new RangeError('an author seed has 32 bytes');
    this.privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Ed25519Prefix, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = spki.subarray(spki.length - 32).toString('hex');
  }

  sign(record: Omit<UnsignedArticle, 'author' | 'format'>): ArticleRecord {
    const unsigned: UnsignedArticle = { format: articleFormat, ...record, author: this.publicKey };
    return { ...unsigned, signature: sign(null, signedBytes(unsigned), this.privateKey).toString('hex') };
  }
}

/** The signed bytes: the record without its signature, fields in a fixed order. */
function signedBytes(record: UnsignedArticle): Uint8Array {
  const { format, name, title, body, author, publishedAtMs, previous, deleted } = record;
  return encodeValue([format, name, title, body, author, publishedAtMs, previous ?? null, deleted ?? false]);
}

export function encodeArticle(record: ArticleRecord): Uint8Array {
  return recordCodec.encode(record);
}

/** The record in stored bytes, or undefined when they are not an article or its signature does not verify. */
export function decodeArticle(bytes: Uint8Array): ArticleRecord | undefined {
  let record: ArticleRecord;
  try {
    record = recordCodec.decode(bytes);
  } catch {
    return undefined;
  }
  const { signature, ...unsigned } = record;
  try {
    const key = createPublicKey({ key: Buffer.concat([spkiEd25519Prefix, Buffer.from(record.author, 'hex')]), format: 'der', type: 'spki' });
    return verify(null, signedBytes(unsigned), key, Buffer.from(signature, 'hex')) ? record : undefined;
  } catch {
    return undefined;
  }
}
