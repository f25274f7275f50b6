/**
 * Keyword normalisation for keyword search (docs/PROTOCOL.md, "Keyword search"):
 * accents stripped (NFD, then combining marks removed), lower case, split on
 * anything that is not a letter or a digit, and words shorter than
 * `minWordLength` dropped. Stored keywords and searched words go through the same
 * function, so "Crème Brûlée" finds content stored with "creme brulee".
 */

export const minWordLength = 3;
/** Longest normalised word kept (a stored keyword is at most 64 characters anyway). */
export const maxWordLength = 64;
/** Words one search may carry. */
export const maxSearchWords = 8;

/** Storage's author keyword (`author:<key>`) is an identity, not a word: never indexed. */
const authorPrefix = 'author:';

/** The normalised words of `text`, in order, duplicates removed. */
export function normaliseWords(text: string): string[] {
  const words = new Set<string>();
  const plain = text.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase();
  for (const word of plain.split(/[^\p{L}\p{N}]+/u)) {
    if ([...word].length >= minWordLength && word.length <= maxWordLength) words.add(word);
  }
  return [...words];
}

/** The words a content's keywords index: every normalised word of every keyword but the author's. */
export function indexedWords(keywords: readonly string[]): string[] {
  const words = new Set<string>();
  for (const keyword of keywords) if (!keyword.startsWith(authorPrefix)) for (const word of normaliseWords(keyword)) words.add(word);
  return [...words];
}

/** The words of a search (several arguments or one phrase), normalised; at most `maxSearchWords`. */
export function searchWords(words: readonly string[]): string[] {
  return indexedWords(words).slice(0, maxSearchWords);
}
