import { Type, type Static } from '@sinclair/typebox';
import { contentIdPattern } from '../storage/block.js';
import { messageCodec } from '../transport/codec.js';

/**
 * The wiki's article record (docs/PROTOCOL.md, "Wiki articles"): one stored
 * content per version, MessagePack. A version is the content of its author's
 * storage mutable name `wiki/<name>` (`storage.update`): the name record that
 * storage signs with the author's key is what makes the newest version
 * authentic, and each version links the one it replaces (`previous`, a content
 * id: a hash), so the history reached from a signed newest version is
 * authentic too. The record carries no signature of its own.
 */
export const articleFormat = 'butter-wiki/2';
export const maxTitleLength = 200;
export const maxBodyLength = 64 * 1024;
export const maxNameLength = 48;

const articleSchema = Type.Object(
  {
    format: Type.Literal(articleFormat),
    name: Type.String({ minLength: 1, maxLength: maxNameLength, pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' }),
    title: Type.String({ minLength: 1, maxLength: maxTitleLength }),
    body: Type.String({ maxLength: maxBodyLength }),
    /** The author's storage key (raw Ed25519 public key, hex): a claim, checked against the signed name record or the content's author keyword. */
    author: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    publishedAtMs: Type.Integer({ minimum: 0 }),
    previous: Type.Optional(Type.String({ pattern: contentIdPattern })),
  },
  { additionalProperties: false },
);

export type ArticleRecord = Static<typeof articleSchema>;

const recordCodec = messageCodec('wiki article', articleSchema);

/** The storage mutable name of an article: namespaced, so other applications of the same node keep their own names. */
export function storageNameOf(name: string): string {
  return `wiki/${name}`;
}

/** Keywords stored with every version (storage adds the author's): the format, and the name. */
export function articleKeywords(record: ArticleRecord): string[] {
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

export function encodeArticle(record: ArticleRecord): Uint8Array {
  return recordCodec.encode(record);
}

/** The record in stored bytes, or undefined when they are not an article. */
export function decodeArticle(bytes: Uint8Array): ArticleRecord | undefined {
  try {
    return recordCodec.decode(bytes);
  } catch {
    return undefined;
  }
}
