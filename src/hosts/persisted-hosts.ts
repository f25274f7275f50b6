import { join } from 'node:path';
import type { Disk, KeyValueDatabase, KeyValueEnvironment } from '../runtime/disk.js';
import type { Address } from '../runtime/types.js';
import { tupleCodec } from '../transport/codec.js';
import { entryFromTuple, entryToTuple, hostEntryTupleSchema, type HostEntry } from '../transport/vocabulary.js';
import type { KnownHost, KnownHosts } from './known-hosts.js';

/** Where a node with a data directory keeps its known hosts. */
export function knownHostsDirectory(dataDir: string): string {
  return join(dataDir, 'hosts');
}

/** Hosts read back at most: a damaged or foreign store cannot make a restart dial thousands. */
const maxRestoredHosts = 256;

const entryCodec = tupleCodec('persisted known host', hostEntryTupleSchema, { toTuple: entryToTuple, fromTuple: entryFromTuple });

/**
 * The known-host list kept on disk (a key–value environment in
 * `<dataDir>/hosts`, one record per host id), so that a restarted node tries
 * the hosts it knew first instead of depending on bootstrap addresses and
 * multicast alone. Written through on every list change, as a diff: a list of
 * at most 256 hosts, a handful of records per change.
 */
export class PersistedHosts {
  private readonly saved = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;

  private constructor(
    private readonly environment: KeyValueEnvironment,
    private readonly records: KeyValueDatabase,
  ) {}

  static async open(disk: Disk, directory: string): Promise<PersistedHosts> {
    const environment = await disk.openKeyValue(directory);
    return new PersistedHosts(environment, environment.database('known'));
  }

  /** The hosts kept by an earlier run, checked like any peer's message; damaged records are dropped. */
  restore(): Address[] {
    const addresses: Address[] = [];
    for (const { key, value } of this.records.entries()) {
      const entry = this.decode(value);
      if (!entry || entry.id !== key || addresses.length >= maxRestoredHosts) {
        this.records.remove(key);
        continue;
      }
      this.saved.set(entry.id, recordText(entry));
      addresses.push({ host: entry.host, port: entry.port });
    }
    return addresses;
  }

  /** Keeps the records in step with `knownHosts` from now on. */
  follow(knownHosts: KnownHosts): void {
    this.unsubscribe?.();
    this.sync(knownHosts.list());
    this.unsubscribe = knownHosts.onChange(() => this.sync(knownHosts.list()));
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.environment.close();
  }

  private sync(hosts: readonly KnownHost[]): void {
    const present = new Set<string>();
    for (const host of hosts) {
      present.add(host.id);
      const entry = { id: host.id, host: host.address.host, port: host.address.port };
      const text = recordText(entry);
      if (this.saved.get(host.id) === text) continue;
      this.records.put(host.id, entryCodec.encode(entry));
      this.saved.set(host.id, text);
    }
    for (const id of [...this.saved.keys()]) {
      if (present.has(id)) continue;
      this.records.remove(id);
      this.saved.delete(id);
    }
  }

  private decode(value: Uint8Array): HostEntry | undefined {
    try {
      return entryCodec.decode(value);
    } catch {
      return undefined;
    }
  }
}

function recordText(entry: HostEntry): string {
  return `${entry.host}:${entry.port}`;
}
