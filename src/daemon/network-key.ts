import { readFileSync, statSync } from 'node:fs';
import { InvalidConfigError } from '../errors.js';
import { UnsupportedError } from './failures.js';

/** A network key is 32 random bytes (e.g. `head -c 32 /dev/urandom > network.key`). */
export const networkKeyBytes = 32;

/**
 * Whether the node takes a `networkKey` option. The TLS work adds it; until
 * then `--network-key` is refused here, in this one place, rather than ignored.
 * To switch it on: set this to true and pass the key read by `readNetworkKey`
 * to `createNode` in `startNode` (src/daemon/daemon.ts).
 */
export const nodeAcceptsNetworkKey = false;

/** Reads and checks a network key file; refused with a clear line while the node cannot use one. */
export function readNetworkKey(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw new InvalidConfigError(`cannot read network key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (size !== networkKeyBytes) throw new InvalidConfigError(`network key file ${path} must hold exactly ${networkKeyBytes} bytes, it holds ${size}`);
  let key: Uint8Array;
  try {
    key = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new InvalidConfigError(`cannot read network key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!nodeAcceptsNetworkKey) throw new UnsupportedError('--network-key is not supported yet: this version of the node has no network keys (it arrives with TLS)');
  return key;
}
