import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProtocolError } from '../errors.js';
import { decodeValue, encodeFramedValue, encodeValue } from './codec.js';
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

/** The whole frame of a message (length prefix and body), built without copying the body. */
export function encodeEnvelopeFrame(message: Envelope): Uint8Array {
  return encodeFramedValue(envelopeArray(message));
}

/**
 * Decodes and validates one frame body. Throws ProtocolError on anything that
 * is not a well-formed envelope; `requestId` on the error is set when the
 * broken frame still names a request, so the reply can point at it.
 */
export function decodeEnvelope(body: Uint8Array): Envelope {
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
