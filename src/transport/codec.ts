import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProtocolError } from '../errors.js';
import { frameHeaderBytes } from './frames.js';

/**
 * The binary codec (MessagePack via msgpackr) and schema validation (TypeBox,
 * compiled) used for every message. Records and other msgpackr extensions are
 * off so that the bytes are plain MessagePack any implementation can read.
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Encodes `value` behind its 4-byte big-endian length, in one buffer: msgpackr
 * reserves the header space, so the body is never copied into a frame.
 */
export function encodeFramedValue(value: unknown): Uint8Array {
  const frame = packr.pack(value, RESERVE_START_SPACE | frameHeaderBytes);
  frame.writeUInt32BE(frame.length - frameHeaderBytes, 0);
  return frame;
}

/** Decodes untrusted bytes; any malformed or trailing input becomes a ProtocolError. */
export function decodeValue(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (error) {
    throw new ProtocolError(`malformed MessagePack: ${(error as Error).message}`);
  }
}

export interface MessageCodec<Schema extends TSchema> {
  encode(message: Static<Schema>): Uint8Array;
  /** Decodes and validates untrusted bytes; throws ProtocolError when they do not match the schema. */
  decode(bytes: Uint8Array): Static<Schema>;
  is(value: unknown): value is Static<Schema>;
}

/** A codec for one message type: MessagePack bytes checked against a compiled schema. */
export function messageCodec<Schema extends TSchema>(name: string, schema: Schema): MessageCodec<Schema> {
  const check = TypeCompiler.Compile(schema);
  return {
    encode: (message) => encodeValue(message),
    decode(bytes) {
      const value = decodeValue(bytes);
      if (!check.Check(value)) {
        const first = check.Errors(value).First();
        throw new ProtocolError(`invalid ${name}: ${first ? `${first.path || '/'} ${first.message}` : 'schema mismatch'}`);
      }
      return value;
    },
    is: (value): value is Static<Schema> => check.Check(value),
  };
}
