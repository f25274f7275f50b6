import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProtocolError } from '../errors.js';
import { decodeValue, encodeFramedValue, encodeValue } from './codec.js';
import { frameHeaderBytes } from './frames.js';
import { addressFromTuple, addressToTuple, nodeIdSchema, peerAddressTupleSchema, type PeerAddress } from './vocabulary.js';

/**
 * The envelope of every frame: a MessagePack array whose first two elements
 * are the protocol version and the message kind. docs/PROTOCOL.md mirrors this.
 */
export const protocolVersion = 1;

export const FrameKind = { hello: 0, request: 1, response: 2, error: 3, notify: 4 } as const;

export const maxRouteLength = 64;
export const maxErrorMessageLength = 1024;
export const maxNetworkIdLength = 64;
/** Listen addresses one HELLO may announce. */
export const maxListenAddresses = 8;
/** Bound of the first frame on a stream, the HELLO (a real one with one address takes under 250 bytes). */
export const maxHelloFrameBytes = 4096;
export const routePattern = '^[A-Za-z0-9._/:-]{1,64}$';

const RequestId = Type.Integer({ minimum: 1, maximum: 0xffffffff });
/** An ERROR may also carry 0: "about the connection, not one request". */
const ErrorRequestId = Type.Integer({ minimum: 0, maximum: 0xffffffff });
const Route = Type.String({ pattern: routePattern, maxLength: maxRouteLength });
const Version = Type.Literal(protocolVersion);

const HelloTuple = Type.Tuple([
  Version,
  Type.Literal(FrameKind.hello),
  nodeIdSchema,
  Type.Uint8Array({ minByteLength: 32, maxByteLength: 32 }),
  Type.String({ minLength: 1, maxLength: maxNetworkIdLength }),
  Type.Array(peerAddressTupleSchema, { maxItems: maxListenAddresses }),
  Type.Union([peerAddressTupleSchema, Type.Null()]),
]);
const RequestTuple = Type.Tuple([Version, Type.Literal(FrameKind.request), RequestId, Route, Type.Uint8Array()]);
const ResponseTuple = Type.Tuple([Version, Type.Literal(FrameKind.response), RequestId, Type.Uint8Array()]);
const ErrorTuple = Type.Tuple([
  Version,
  Type.Literal(FrameKind.error),
  ErrorRequestId,
  Type.String({ minLength: 1, maxLength: 32 }),
  Type.String({ maxLength: maxErrorMessageLength }),
]);
const NotifyTuple = Type.Tuple([Version, Type.Literal(FrameKind.notify), Route, Type.Uint8Array()]);

const checkers = {
  [FrameKind.hello]: TypeCompiler.Compile(HelloTuple),
  [FrameKind.request]: TypeCompiler.Compile(RequestTuple),
  [FrameKind.response]: TypeCompiler.Compile(ResponseTuple),
  [FrameKind.error]: TypeCompiler.Compile(ErrorTuple),
  [FrameKind.notify]: TypeCompiler.Compile(NotifyTuple),
};

export interface HelloMessage {
  kind: 'hello';
  nodeId: string;
  publicKey: Uint8Array;
  networkId: string;
  /**
   * Where the sender accepts connections; none when it accepts none. A host of
   * 0.0.0.0 or :: means "the host you see me from" (a node listening on every interface).
   */
  listenAddresses: PeerAddress[];
  /** The address the sender sees the receiver's end of this stream at (for a node behind NAT, its public side). */
  observed: PeerAddress | undefined;
}
export interface RequestMessage {
  kind: 'request';
  requestId: number;
  route: string;
  payload: Uint8Array;
}
export interface ResponseMessage {
  kind: 'response';
  requestId: number;
  payload: Uint8Array;
}
export interface ErrorMessage {
  kind: 'error';
  /** 0 when the error is about the connection rather than one request. */
  requestId: number;
  code: string;
  message: string;
}
export interface NotifyMessage {
  kind: 'notify';
  route: string;
  payload: Uint8Array;
}
export type Envelope = HelloMessage | RequestMessage | ResponseMessage | ErrorMessage | NotifyMessage;

/** The MessagePack array of a message, as listed in docs/PROTOCOL.md. */
function envelopeArray(message: Envelope): unknown[] {
  switch (message.kind) {
    case 'hello':
      return [
        protocolVersion,
        FrameKind.hello,
        message.nodeId,
        message.publicKey,
        message.networkId,
        message.listenAddresses.map(addressToTuple),
        message.observed ? addressToTuple(message.observed) : null,
      ];
    case 'request':
      return [protocolVersion, FrameKind.request, message.requestId, message.route, message.payload];
    case 'response':
      return [protocolVersion, FrameKind.response, message.requestId, message.payload];
    case 'error':
      return [protocolVersion, FrameKind.error, message.requestId, message.code, message.message];
    case 'notify':
      return [protocolVersion, FrameKind.notify, message.route, message.payload];
  }
}

/** The frame body of a message. */
export function encodeEnvelope(message: Envelope): Uint8Array {
  return encodeValue(envelopeArray(message));
}

/**
 * The whole frame of a message (length prefix and body). Requests, responses and
 * notifications, nearly every frame sent, are written straight into one buffer: the
 * bytes msgpackr would produce (the smallest form of each field), at a fraction of its cost
 * per message (its encode was 13–19 % of a busy node's CPU in the transport benchmark).
 */
export function encodeEnvelopeFrame(message: Envelope): Uint8Array {
  switch (message.kind) {
    case 'request':
      return messageFrame(FrameKind.request, message.requestId, message.route, message.payload);
    case 'response':
      return messageFrame(FrameKind.response, message.requestId, undefined, message.payload);
    case 'notify':
      return messageFrame(FrameKind.notify, undefined, message.route, message.payload);
    default:
      return encodeFramedValue(envelopeArray(message));
  }
}

/** MessagePack header bytes of an unsigned integer (positive fixint, uint 8, 16, 32). */
function uintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5;
}

/** MessagePack header bytes of a str (fixstr, str 8, 16, 32) or bin (bin 8, 16, 32) of `length` bytes. */
function lengthHeaderBytes(length: number, isString: boolean): number {
  if (isString && length < 32) return 1;
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a MessagePack header: `small` when the length fits a fix form, else the 8-, 16- or 32-bit form of `first` (its 8-bit code). */
function writeLengthHeader(frame: Buffer, at: number, length: number, headerBytes: number, small: number, first: number): number {
  if (headerBytes === 1) {
    frame[at] = small | length;
  } else if (headerBytes === 2) {
    frame[at] = first;
    frame[at + 1] = length;
  } else if (headerBytes === 3) {
    frame[at] = first + 1;
    frame.writeUInt16BE(length, at + 1);
  } else {
    frame[at] = first + 2;
    frame.writeUInt32BE(length, at + 1);
  }
  return at + headerBytes;
}

/** The frame of `[version, kind, requestId?, route?, payload]`; the request id and route are left out when undefined. */
function messageFrame(kind: number, requestId: number | undefined, route: string | undefined, payload: Uint8Array): Buffer {
  const fields = 3 + (requestId === undefined ? 0 : 1) + (route === undefined ? 0 : 1);
  const idBytes = requestId === undefined ? 0 : uintBytes(requestId);
  const routeLength = route === undefined ? 0 : Buffer.byteLength(route);
  const routeBytes = route === undefined ? 0 : lengthHeaderBytes(routeLength, true) + routeLength;
  const payloadHeaderBytes = lengthHeaderBytes(payload.length, false);
  const bodyBytes = 3 + idBytes + routeBytes + payloadHeaderBytes + payload.length;
  const frame = Buffer.allocUnsafe(frameHeaderBytes + bodyBytes);
  frame.writeUInt32BE(bodyBytes, 0);
  let at = frameHeaderBytes;
  frame[at++] = 0x90 | fields; // fixarray
  frame[at++] = protocolVersion;
  frame[at++] = kind;
  if (requestId !== undefined) {
    at = writeLengthHeader(frame, at, requestId, idBytes, 0, 0xcc); // a uint's value is written as a length would be
  }
  if (route !== undefined) {
    at = writeLengthHeader(frame, at, routeLength, lengthHeaderBytes(routeLength, true), 0xa0, 0xd9);
    at += frame.write(route, at, routeLength, 'utf8');
  }
  at = writeLengthHeader(frame, at, payload.length, payloadHeaderBytes, 0, 0xc4);
  frame.set(payload, at);
  return frame;
}

const routeMatcher = new RegExp(routePattern);

/**
 * Decodes and validates one frame body. Throws ProtocolError on anything that
 * is not a well-formed envelope; `requestId` on the error is set when the
 * broken frame still names a request, so the reply can point at it.
 */
export function decodeEnvelope(body: Uint8Array): Envelope {
  return decodeMessage(body) ?? decodeEnvelopeBySchema(body);
}

/**
 * The number behind the MessagePack header at `at` whose 8-, 16- and 32-bit forms are
 * `first`, `first + 1`, `first + 2` (uint: 0xcc, str: 0xd9, bin: 0xc4), and where it ends;
 * undefined for any other header or when cut short.
 */
function readSized(body: Uint8Array, at: number, first: number): { value: number; end: number } | undefined {
  const width = (body[at] ?? 0) - first;
  if (width === 0 && at + 2 <= body.length) return { value: body[at + 1] as number, end: at + 2 };
  if (width === 1 && at + 3 <= body.length) return { value: ((body[at + 1] as number) << 8) | (body[at + 2] as number), end: at + 3 };
  if (width === 2 && at + 5 <= body.length) {
    const value = (body[at + 1] as number) * 0x1000000 + (((body[at + 2] as number) << 16) | ((body[at + 3] as number) << 8) | (body[at + 4] as number));
    return { value, end: at + 5 };
  }
  return undefined;
}

/**
 * A well-formed request, response or notification read straight from its bytes, as the
 * schema would accept it (a route of the route pattern, a request id 1..2^32-1, nothing
 * after the payload); undefined for anything else, which `decodeEnvelopeBySchema` then
 * decodes or refuses with its reason. msgpackr and the compiled schema check were 15 % of a
 * busy server's CPU in the transport benchmark.
 */
function decodeMessage(body: Uint8Array): RequestMessage | ResponseMessage | NotifyMessage | undefined {
  const fields = body[0];
  const kind = body[2];
  if (body[1] !== protocolVersion || !((fields === 0x95 && kind === FrameKind.request) || (fields === 0x94 && (kind === FrameKind.response || kind === FrameKind.notify)))) return undefined;
  let at = 3;
  let requestId = 0;
  if (kind !== FrameKind.notify) {
    const head = body[at] ?? 0;
    const id = head < 0x80 ? { value: head, end: at + 1 } : readSized(body, at, 0xcc);
    if (id === undefined || id.value === 0) return undefined;
    requestId = id.value;
    at = id.end;
  }
  let route = '';
  if (kind !== FrameKind.response) {
    const head = body[at] ?? 0;
    const length = head >= 0xa0 && head <= 0xbf ? { value: head - 0xa0, end: at + 1 } : readSized(body, at, 0xd9);
    if (length === undefined || length.value > maxRouteLength || length.end + length.value > body.length) return undefined;
    at = length.end;
    for (let index = at; index < at + length.value; index++) {
      const code = body[index] as number;
      if (code >= 0x80) return undefined; // not ASCII, so not a route; left to the general path
      route += String.fromCharCode(code);
    }
    if (!routeMatcher.test(route)) return undefined;
    at += length.value;
  }
  const payloadLength = readSized(body, at, 0xc4);
  if (payloadLength === undefined || payloadLength.end + payloadLength.value !== body.length) return undefined;
  const payload = body.subarray(payloadLength.end);
  if (kind === FrameKind.request) return { kind: 'request', requestId, route, payload };
  if (kind === FrameKind.response) return { kind: 'response', requestId, payload };
  return { kind: 'notify', route, payload };
}

/** decodeEnvelope by the general path: msgpackr, then the compiled schema of the message's kind. */
export function decodeEnvelopeBySchema(body: Uint8Array): Envelope {
  const value = decodeValue(body);
  if (!Array.isArray(value) || value.length < 2) throw new ProtocolError('envelope is not an array');
  if (value[0] !== protocolVersion) throw new ProtocolError(`unsupported protocol version ${describeValue(value[0])}`);
  const kind: unknown = value[1];
  // Only a number may index the table: an object key would run the object's own toString.
  const checker = typeof kind === 'number' ? checkers[kind as keyof typeof checkers] : undefined;
  if (checker === undefined) throw new ProtocolError(`unknown message kind ${describeValue(kind)}`);
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    throw new EnvelopeError(`invalid envelope: ${first ? `${first.path} ${first.message}` : 'schema mismatch'}`, requestIdOf(value));
  }
  switch (kind) {
    case FrameKind.hello: {
      const [, , nodeId, publicKey, networkId, listenAddresses, observed] = value as Static<typeof HelloTuple>;
      // A copy: the key outlives the frame, and a view would keep the whole received chunk (often a shared slab) alive.
      const key = Uint8Array.from(publicKey);
      return { kind: 'hello', nodeId, publicKey: key, networkId, listenAddresses: listenAddresses.map(addressFromTuple), observed: observed ? addressFromTuple(observed) : undefined };
    }
    case FrameKind.request: {
      const [, , requestId, route, payload] = value as Static<typeof RequestTuple>;
      return { kind: 'request', requestId, route, payload };
    }
    case FrameKind.response: {
      const [, , requestId, payload] = value as Static<typeof ResponseTuple>;
      return { kind: 'response', requestId, payload };
    }
    case FrameKind.error: {
      const [, , requestId, code, message] = value as Static<typeof ErrorTuple>;
      return { kind: 'error', requestId, code, message };
    }
    default: {
      const [, , route, payload] = value as Static<typeof NotifyTuple>;
      return { kind: 'notify', route, payload };
    }
  }
}

/** A malformed request that still carries a usable request id. */
export class EnvelopeError extends ProtocolError {
  constructor(
    message: string,
    readonly requestId: number,
  ) {
    super(message);
  }
}

/**
 * Names an untrusted value in an error message. Never String() on a decoded
 * object: a map with a `toString` key would make it throw a TypeError.
 */
function describeValue(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' || value === null ? String(value) : `of type ${typeof value}`;
}

function requestIdOf(value: unknown[]): number {
  const candidate = value[1] === FrameKind.request ? value[2] : undefined;
  return typeof candidate === 'number' && Number.isInteger(candidate) && candidate > 0 && candidate <= 0xffffffff ? candidate : 0;
}
