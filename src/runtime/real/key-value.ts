import { mkdir } from 'node:fs/promises';
import type { Database, RootDatabase } from 'lmdb';
import type { KeyValueDatabase, KeyValueEnvironment } from '../disk.js';

/**
 * An LMDB sub-database with binary values. Writes are queued (LMDB batches
 * them into transactions in order); a failed one is kept for the
 * environment's next flush.
 */
class LmdbDatabase implements KeyValueDatabase {
  constructor(
    private readonly database: Database<Buffer, string>,
    private readonly track: (write: Promise<unknown>) => void,
  ) {}

  get(key: string): Uint8Array | undefined {
    return this.database.get(key);
  }

  put(key: string, value: Uint8Array): void {
    // A copy: the write is queued, and the caller may reuse its buffer meanwhile.
    this.track(this.database.put(key, Buffer.from(value)));
  }

  remove(key: string): void {
    this.track(this.database.remove(key));
  }

  *entries(): Iterable<{ key: string; value: Uint8Array }> {
    for (const { key, value } of this.database.getRange()) {
      // Butter writes string keys only; a record under any other key is foreign and goes.
      if (typeof key === 'string') yield { key, value };
      else this.track(this.database.remove(key));
    }
  }
}

class LmdbEnvironment implements KeyValueEnvironment {
  private readonly databases = new Map<string, LmdbDatabase>();
  private writeError: unknown;

  constructor(private readonly root: RootDatabase) {}

  database(name: string): KeyValueDatabase {
    let database = this.databases.get(name);
    if (!database) {
      database = new LmdbDatabase(this.root.openDB<Buffer, string>({ name, encoding: 'binary' }), this.track);
      this.databases.set(name, database);
    }
    return database;
  }

  async flush(): Promise<void> {
    // LMDB's `flushed` resolves once every earlier write is committed and synced.
    await this.root.flushed;
    if (this.writeError !== undefined) {
      const error = this.writeError;
      this.writeError = undefined;
      throw error;
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.root.close();
    }
  }

  /** A failed write (disk full, I/O error) surfaces at the next flush. */
  private readonly track = (write: Promise<unknown>): void => {
    write.catch((error: unknown) => {
      this.writeError ??= error;
    });
  };
}

/** Opens (creating if needed) the LMDB environment in `directory`. */
export async function openLmdbEnvironment(directory: string): Promise<KeyValueEnvironment> {
  await mkdir(directory, { recursive: true });
  // Loaded on first use: a node without a data directory never loads the native binding.
  const { open } = await import('lmdb');
  return new LmdbEnvironment(open({ path: directory, compression: false }));
}
