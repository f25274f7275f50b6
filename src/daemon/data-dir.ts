import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirLockedError } from './failures.js';

/**
 * The files a running node keeps beside its identity, blocks and known hosts:
 * a lock with its pid (one node per data directory), the API token (mode
 * 0600: whoever can read it may drive the node) and where the API listens.
 */
export const lockFileName = 'butter.lock';
export const tokenFileName = 'api.token';
export const endpointFileName = 'api.json';

export interface ApiEndpoint {
  url: string;
  pid: number;
}

/** Holds `<dataDir>/butter.lock` until `release`; a lock left by a dead process is taken over. */
export class DataDirLock {
  private released = false;

  private constructor(private readonly path: string) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, lockFileName);
    // Two attempts: the second after removing a stale lock; a live holder fails the first.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const descriptor = openSync(path, 'wx', 0o600);
        writeSync(descriptor, `${process.pid}\n`);
        closeSync(descriptor);
        return new DataDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = lockHolder(path);
        if (holder !== undefined && isAlive(holder)) {
          throw new DataDirLockedError(`data directory ${dataDir} is locked by another node (process ${holder}); stop it first (butter stop --data-dir ${dataDir}) or choose another --data-dir`);
        }
        rmSync(path, { force: true });
      }
    }
    throw new DataDirLockedError(`data directory ${dataDir} is being locked by another process at this moment; try again`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.path, { force: true });
  }
}

function lockHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 checks that a process exists; EPERM means it exists but belongs to someone else. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** 32 random bytes, hex: the bearer token every API call must carry. */
export function createToken(): string {
  return randomBytes(32).toString('hex');
}

/** Written atomically (a temporary file, then a rename) so a reader never sees half a file. */
function writePrivateFile(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, path);
}

export function writeApiFiles(dataDir: string, token: string, endpoint: ApiEndpoint): void {
  writePrivateFile(join(dataDir, tokenFileName), `${token}\n`);
  writePrivateFile(join(dataDir, endpointFileName), `${JSON.stringify(endpoint)}\n`);
}

export function removeApiFiles(dataDir: string): void {
  rmSync(join(dataDir, endpointFileName), { force: true });
  rmSync(join(dataDir, tokenFileName), { force: true });
}

/** The API of the node running on `dataDir`, or undefined when none is (no file, or its process is gone). */
export function readApiEndpoint(dataDir: string): { endpoint: ApiEndpoint; token: string } | undefined {
  let endpoint: unknown;
  let token: string;
  try {
    endpoint = JSON.parse(readFileSync(join(dataDir, endpointFileName), 'utf8'));
    token = readFileSync(join(dataDir, tokenFileName), 'utf8').trim();
  } catch {
    return undefined;
  }
  const { url, pid } = (endpoint ?? {}) as Partial<ApiEndpoint>;
  if (typeof url !== 'string' || typeof pid !== 'number' || !isAlive(pid)) return undefined;
  return { endpoint: { url, pid }, token };
}
