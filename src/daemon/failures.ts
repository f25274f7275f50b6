import { ButterError, DurableStoreError, type ErrorCode } from '../errors.js';

/** Failures of the command, its daemon and the control API (docs/API.md) on top of the node's own error codes. */
export type CommandFailureCode =
  | 'DATA_DIR_LOCKED'
  | 'NO_PEERS'
  | 'NOT_FOUND'
  | 'NO_NODE'
  | 'WRONG_NETWORK_KEY'
  | 'USAGE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN_HOST'
  | 'FORBIDDEN_ORIGIN'
  | 'BAD_JSON'
  | 'UNKNOWN_ENDPOINT'
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** The API answered an error without a code this version knows. */
  | 'API_ERROR';

/** A failure the command reports as one line. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly code: CommandFailureCode | ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class DataDirLockedError extends CommandError {
  constructor(message: string) {
    super('DATA_DIR_LOCKED', message);
  }
}

export class NoPeersError extends CommandError {
  constructor(message: string) {
    super('NO_PEERS', message);
  }
}

export class NotFoundError extends CommandError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class WrongNetworkKeyError extends CommandError {
  constructor(message: string) {
    super('WRONG_NETWORK_KEY', message);
  }
}

/** The hint every "no peers" message carries. */
export const noPeersHint =
  'nodes on one LAN find each other by UDP multicast (group 239.255.77.77, port 47477: check that a firewall or the network lets it through), or give --bootstrap host:port of a running node';

/**
 * Exit codes, documented in docs/API.md: 1 the job failed (not found, network
 * full, no peers), 2 a bad command line or configuration (including a taken
 * port, a locked data directory, a bad allocation), 3 no node to talk to.
 */
export const exitCodes = { ok: 0, failed: 1, configuration: 2, noNode: 3 } as const;

const configurationCodes = new Set(['INVALID_CONFIG', 'INVALID_ARGUMENT', 'DATA_DIR_LOCKED', 'WRONG_NETWORK_KEY', 'USAGE']);

export function exitCodeOf(code: string): number {
  if (configurationCodes.has(code)) return exitCodes.configuration;
  if (code === 'NO_NODE') return exitCodes.noNode;
  return exitCodes.failed;
}

/** What the node's typed errors mean to someone at a shell. */
const prefixes: Record<string, string> = {
  STORAGE_FULL: 'network full',
  NO_PEERS: 'no peers found',
  NOT_FOUND: 'not found',
  TIMEOUT: 'timed out',
};

/** The code and the one line a failure is reported as. */
export function describeFailure(error: unknown): { code: string; message: string } {
  if (error instanceof CommandError || error instanceof ButterError) {
    // A durable store rolled back for want of room is still, to the user, a full network.
    const cause = error instanceof DurableStoreError && error.cause instanceof ButterError ? error.cause.code : undefined;
    const prefix = prefixes[cause ?? error.code] ?? prefixes[error.code];
    return { code: error.code, message: prefix && !error.message.startsWith(prefix) ? `${prefix}: ${error.message}` : error.message };
  }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
