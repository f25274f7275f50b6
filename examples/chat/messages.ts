import { Type } from '@sinclair/typebox';
import { messageCodec } from '../../src/index.js';

/** The chat's wire messages (docs/PROTOCOL.md, "Example dapps"): bounded strings, checked at the boundary. */
export const chatRoutes = { hello: 'chat.hello', message: 'chat.message', leave: 'chat.leave' } as const;

export const maxNicknameLength = 32;
export const maxMessageLength = 2_000;

const nickname = Type.String({ minLength: 1, maxLength: maxNicknameLength, pattern: '^[^\\x00-\\x1f\\x7f]+$' });

/** Sent to a peer when it is first met and answered with the peer's own hello: who is there. */
export const helloCodec = messageCodec('chat hello', Type.Object({ nick: nickname }, { additionalProperties: false }));
export const messageCodecOfChat = messageCodec(
  'chat message',
  Type.Object({ nick: nickname, text: Type.String({ minLength: 1, maxLength: maxMessageLength }) }, { additionalProperties: false }),
);
export const leaveCodec = helloCodec;

/** Peer text shown in a terminal: control characters (escape sequences) become spaces. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f\x9b]/g, ' ');
}
