import { posix } from 'node:path';
import { DiskError, type Disk, type KeyValueDatabase, type KeyValueEnvironment } from '../disk.js';

type Records = Map<string, Uint8Array>;

/**
 * What a simulated machine's disk holds. It belongs to the machine, not to a
 * run of it: `Simulation.restart` boots the machine again on the same
 * contents, and a node created again on the same host finds them too.
 */
export class SimDiskContents {
  readonly files = new Map<string, { data: Uint8Array; mode: number }>();
  readonly folders = new Set<string>(['/']);
  /** Environment folder → sub-database name → records. */
  readonly environments = new Map<string, Map<string, Records>>();
}

/** Never settles: an operation of a crashed host. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/** Paths are POSIX; a relative one counts from the root. */
function normalise(path: string): string {
  return posix.resolve('/', path);
}

/**
 * The disk of one simulated host: an ideal disk in memory. Every operation
 * completes at once on virtual time and a write is durable as soon as it is
 * made (no lost or torn writes are modelled), so runs stay deterministic with
 * no real I/O. A crashed host's code can no longer change it.
 */
export class SimDisk implements Disk {
  constructor(
    private readonly contents: SimDiskContents,
    private readonly isAlive: () => boolean,
  ) {}

  readFile(path: string): Promise<Uint8Array | undefined> {
    if (!this.isAlive()) return never();
    const where = normalise(path);
    if (this.contents.folders.has(where)) return Promise.reject(new Error(`${where} is a folder, not a file`));
    const file = this.contents.files.get(where);
    return Promise.resolve(file === undefined ? undefined : new Uint8Array(file.data));
  }

  createFile(path: string, data: Uint8Array, options: { mode: number }): Promise<void> {
    if (!this.isAlive()) return never();
    const where = normalise(path);
    const parent = posix.dirname(where);
    if (this.contents.files.has(where) || this.contents.folders.has(where)) return Promise.reject(new DiskError(`${where} already exists`, 'exists'));
    if (this.contents.files.has(parent)) return Promise.reject(new DiskError(`a file is in the way of ${where}`, 'not-a-folder'));
    if (!this.contents.folders.has(parent)) return Promise.reject(new DiskError(`a folder above ${where} does not exist`, 'missing'));
    this.contents.files.set(where, { data: new Uint8Array(data), mode: options.mode });
    return Promise.resolve();
  }

  makeDirectory(path: string): Promise<void> {
    if (!this.isAlive()) return never();
    try {
      this.makeFolders(normalise(path));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return Promise.resolve();
  }

  openKeyValue(path: string): Promise<KeyValueEnvironment> {
    if (!this.isAlive()) return never();
    const where = normalise(path);
    try {
      this.makeFolders(where);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    let databases = this.contents.environments.get(where);
    if (databases === undefined) {
      databases = new Map();
      this.contents.environments.set(where, databases);
    }
    return Promise.resolve(new SimKeyValueEnvironment(databases, this.isAlive));
  }

  /** The permission bits a file was created with (tests check the identity file's). */
  fileMode(path: string): number | undefined {
    return this.contents.files.get(normalise(path))?.mode;
  }

  private makeFolders(where: string): void {
    const missing: string[] = [];
    for (let folder = where; !this.contents.folders.has(folder); folder = posix.dirname(folder)) {
      if (this.contents.files.has(folder)) throw new DiskError(`a file is in the way of ${where}`, 'not-a-folder');
      missing.push(folder);
    }
    for (const folder of missing) this.contents.folders.add(folder);
  }
}

class SimKeyValueEnvironment implements KeyValueEnvironment {
  private readonly handles = new Map<string, SimKeyValueDatabase>();
  closed = false;

  constructor(
    private readonly databases: Map<string, Records>,
    readonly isAlive: () => boolean,
  ) {}

  database(name: string): KeyValueDatabase {
    this.assertOpen();
    let handle = this.handles.get(name);
    if (handle === undefined) {
      let records = this.databases.get(name);
      if (records === undefined) {
        records = new Map();
        this.databases.set(name, records);
      }
      handle = new SimKeyValueDatabase(records, this);
      this.handles.set(name, handle);
    }
    return handle;
  }

  flush(): Promise<void> {
    return this.isAlive() ? Promise.resolve() : never();
  }

  close(): Promise<void> {
    if (!this.isAlive()) return never();
    this.closed = true;
    return Promise.resolve();
  }

  assertOpen(): void {
    if (this.closed) throw new Error('the key-value environment is closed');
  }
}

class SimKeyValueDatabase implements KeyValueDatabase {
  constructor(
    private readonly records: Records,
    private readonly environment: SimKeyValueEnvironment,
  ) {}

  get(key: string): Uint8Array | undefined {
    this.environment.assertOpen();
    return this.records.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.environment.assertOpen();
    // A buffer of its own: a slice of a shared slab would pin the whole slab for as long as the record lives.
    if (this.environment.isAlive()) this.records.set(key, new Uint8Array(value));
  }

  remove(key: string): void {
    this.environment.assertOpen();
    if (this.environment.isAlive()) this.records.delete(key);
  }

  entries(): Iterable<{ key: string; value: Uint8Array }> {
    this.environment.assertOpen();
    // Key order, as LMDB iterates (byte order of the keys; Butter's keys are ASCII).
    return [...this.records.keys()].sort().map((key) => ({ key, value: this.records.get(key) as Uint8Array }));
  }
}
