/**
 * Every error Butter hands to a caller is a `ButterError` with a stable `code`.
 * Codes that can cross the wire (a peer's ERROR reply) are listed in
 * `remoteErrorCodes`; docs/PROTOCOL.md documents them.
 */
export type ErrorCode =
  | 'UNKNOWN_ROUTE'
  | 'HANDLER_FAILED'
  | 'TIMEOUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PEER_UNREACHABLE'
  | 'CONNECTION_CLOSED'
  | 'PROTOCOL_ERROR'
  | 'OVERLOADED'
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'NODE_STOPPED'
  | 'STORAGE_FULL'
  | 'DURABLE_STORE_FAILED'
  | 'BAD_SIGNATURE'
  | 'STALE_VERSION'
  | 'CONTENT_DELETED';

export class ButterError extends Error {
  override readonly name: string = 'ButterError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The peer has no handler for the route. */
export class UnknownRouteError extends ButterError {
  override readonly name = 'UnknownRouteError';
  constructor(message: string) {
    super('UNKNOWN_ROUTE', message);
  }
}

/** The peer's handler threw; `message` carries the peer's (truncated) reason. */
export class HandlerError extends ButterError {
  override readonly name = 'HandlerError';
  constructor(message: string) {
    super('HANDLER_FAILED', message);
  }
}

export class TimeoutError extends ButterError {
  override readonly name = 'TimeoutError';
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

export class PayloadTooLargeError extends ButterError {
  override readonly name = 'PayloadTooLargeError';
  constructor(message: string) {
    super('PAYLOAD_TOO_LARGE', message);
  }
}

export class PeerUnreachableError extends ButterError {
  override readonly name = 'PeerUnreachableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('PEER_UNREACHABLE', message, options);
  }
}

export class ConnectionClosedError extends ButterError {
  override readonly name = 'ConnectionClosedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONNECTION_CLOSED', message, options);
  }
}

/** The peer sent something that breaks the wire protocol. */
export class ProtocolError extends ButterError {
  override readonly name = 'ProtocolError';
  constructor(message: string) {
    super('PROTOCOL_ERROR', message);
  }
}

/** The peer refused the request because one of its limits is reached. */
export class OverloadedError extends ButterError {
  override readonly name = 'OverloadedError';
  constructor(message: string) {
    super('OVERLOADED', message);
  }
}

export class InvalidArgumentError extends ButterError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class InvalidConfigError extends ButterError {
  override readonly name = 'InvalidConfigError';
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}

export class NodeStoppedError extends ButterError {
  override readonly name = 'NodeStoppedError';
  constructor(message = 'the node is stopped') {
    super('NODE_STOPPED', message);
  }
}

/** No host in reach (this one included) had room for a block: the store did not happen, or not durably. */
export class StorageFullError extends ButterError {
  override readonly name = 'StorageFullError';
  constructor(message: string) {
    super('STORAGE_FULL', message);
  }
}

/**
 * A durable store did not reach its replicas in time (`cause`: the TimeoutError or
 * StorageFullError that ended it) and was rolled back: this node dropped the segments the
 * store had placed (not those it held before) and asked the hosts it reached to drop theirs. `replicasReached` is the
 * fewest holders any segment had when it gave up.
 */
export class DurableStoreError extends ButterError {
  override readonly name = 'DurableStoreError';
  constructor(
    message: string,
    readonly contentId: string,
    readonly replicas: number,
    readonly replicasReached: number,
    options: { cause: Error },
  ) {
    super('DURABLE_STORE_FAILED', message, options);
  }
}

/** A name record or tombstone whose signature does not verify, or that is signed by someone other than the content's author. */
export class SignatureError extends ButterError {
  override readonly name = 'SignatureError';
  constructor(message: string) {
    super('BAD_SIGNATURE', message);
  }
}

/** A name record no newer than the one held (an older version or a replay), or a tombstone already held. */
export class StaleVersionError extends ButterError {
  override readonly name = 'StaleVersionError';
  constructor(message: string) {
    super('STALE_VERSION', message);
  }
}

/** The content was deleted by its author and its tombstone still lives here: it is not stored again. */
export class ContentDeletedError extends ButterError {
  override readonly name = 'ContentDeletedError';
  constructor(
    message: string,
    readonly contentId: string,
  ) {
    super('CONTENT_DELETED', message);
  }
}

/** Codes a peer may put in an ERROR reply, and the error each becomes locally. */
const remoteErrorFactories = {
  UNKNOWN_ROUTE: (message: string) => new UnknownRouteError(message),
  HANDLER_FAILED: (message: string) => new HandlerError(message),
  PAYLOAD_TOO_LARGE: (message: string) => new PayloadTooLargeError(message),
  PROTOCOL_ERROR: (message: string) => new ProtocolError(message),
  OVERLOADED: (message: string) => new OverloadedError(message),
} as const;

export type RemoteErrorCode = keyof typeof remoteErrorFactories;
export const remoteErrorCodes = Object.keys(remoteErrorFactories) as RemoteErrorCode[];

/** Turns a peer's ERROR reply into a local typed error; unknown codes become protocol errors. */
export function errorFromRemote(code: string, message: string): ButterError {
  // Own keys only: a peer's code "__proto__" or "constructor" must not reach Object.prototype.
  if (Object.hasOwn(remoteErrorFactories, code)) return remoteErrorFactories[code as RemoteErrorCode](message);
  return new ProtocolError(`peer replied with unknown error code ${JSON.stringify(code)}: ${message}`);
}
