/**
 * The disk seam: what a node keeps between runs (its identity file, its
 * known hosts and its block store) goes through a `Disk`, so that the simulator
 * can give every simulated machine a disk of its own in memory, and nothing
 * outside the real runtime touches node:fs or LMDB. The interface is as narrow
 * as its users: small files created once, and one key–value environment per store.
 */

/** A disk operation that failed for a reason the caller may handle. */
export class DiskError extends Error {
  override readonly name = 'DiskError';
  constructor(
    message: string,
    /** `exists`: the file to create is already there; `missing`: a parent folder is not; `not-a-folder`: a file is in the way. */
    readonly reason: 'exists' | 'missing' | 'not-a-folder',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Disk {
  /** The file's bytes, or undefined when there is no file at `path`. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /**
   * Creates the file `path` with `data`, only if it does not exist yet
   * (`DiskError` 'exists' otherwise); its folder must exist ('missing').
   * `mode` is the POSIX permission, e.g. 0o600 for a private key.
   */
  createFile(path: string, data: Uint8Array, options: { mode: number }): Promise<void>;
  /** Creates the folder and any missing parents (`mkdir -p`); nothing when it exists. */
  makeDirectory(path: string): Promise<void>;
  /** Opens the key–value environment kept in the folder `path`, creating both when absent. */
  openKeyValue(path: string): Promise<KeyValueEnvironment>;
}

/**
 * A transactional key–value environment with named sub-databases (LMDB on the
 * real runtime). Writes are queued in order and become durable together; a
 * write that fails (disk full, I/O error) surfaces at the next `flush`.
 */
export interface KeyValueEnvironment {
  /** The sub-database `name`, created on first use; the same object for the same name. */
  database(name: string): KeyValueDatabase;
  /** Resolves once every earlier write is durable; rejects with the first write that failed since the last flush. */
  flush(): Promise<void>;
  /** Flushes, then releases the environment; it must not be used afterwards. */
  close(): Promise<void>;
}

export interface KeyValueDatabase {
  /** The stored value of `key`, or undefined; a write queued since the last flush may not show yet. */
  get(key: string): Uint8Array | undefined;
  /** Queues a write of a copy of `value` under `key`. */
  put(key: string, value: Uint8Array): void;
  /** Queues the removal of `key` (nothing when absent). */
  remove(key: string): void;
  /** Every record, in key order: a snapshot, so removing while iterating is safe. */
  entries(): Iterable<{ key: string; value: Uint8Array }>;
}
