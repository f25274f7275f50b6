import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { DiskError, type Disk } from '../disk.js';
import { openLmdbEnvironment } from './key-value.js';

/** node's error codes that a `DiskError` names; any other failure passes through unchanged. */
function diskError(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new DiskError(`${path} already exists`, 'exists', { cause: error });
  if (code === 'ENOENT') return new DiskError(`a folder above ${path} does not exist`, 'missing', { cause: error });
  if (code === 'ENOTDIR') return new DiskError(`a file is in the way of ${path}`, 'not-a-folder', { cause: error });
  return error;
}

/** The machine's file system (node:fs) and LMDB environments. */
export function createRealDisk(): Disk {
  return {
    async readFile(path) {
      try {
        // A plain Uint8Array view (not a Buffer) so callers see one type on both runtimes.
        const bytes = await readFile(path);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async createFile(path, data, { mode }) {
      try {
        // 'wx': fails when the file exists, so two nodes starting on one folder cannot both write a key.
        await writeFile(path, data, { mode, flag: 'wx' });
      } catch (error) {
        throw diskError(error, path);
      }
    },
    async makeDirectory(path) {
      try {
        await mkdir(path, { recursive: true });
      } catch (error) {
        // With `recursive`, EEXIST means a file sits where the folder should be.
        const code = (error as NodeJS.ErrnoException).code;
        throw code === 'EEXIST' ? new DiskError(`a file is in the way of ${path}`, 'not-a-folder', { cause: error }) : diskError(error, path);
      }
    },
    openKeyValue: openLmdbEnvironment,
  };
}
