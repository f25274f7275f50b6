import { readFileSync, statSync } from 'node:fs';
import { InvalidConfigError } from '../errors.js';
import { networkKeyBytes } from '../transport/network-key.js';

/** Reads and checks a network key file (32 random bytes, e.g. `head -c 32 /dev/urandom > network.key`). */
export function readNetworkKey(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw new InvalidConfigError(`cannot read network key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // Checked before reading, so that pointing the flag at a large file costs nothing.
  if (size !== networkKeyBytes) throw new InvalidConfigError(`network key file ${path} must hold exactly ${networkKeyBytes} bytes, it holds ${size}`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new InvalidConfigError(`cannot read network key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
