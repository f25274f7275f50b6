import type { RouteHandler } from '../../src/index.js';

/** The route both ohce programs serve. */
export const rechoRoute = 'recho';

/** Reverses a UTF-8 message by characters (not bytes, so accents and emoji survive). */
export function reverseText(text: string): string {
  return [...text].reverse().join('');
}

export const recho: RouteHandler = (_node, payload) =>
  new TextEncoder().encode(reverseText(new TextDecoder().decode(payload)));
