import type { Address } from '../../runtime/types.js';

export interface PublicAddressOptions {
  /** Distinct Ambassadors that must report the same IP before it is trusted. Default 2. */
  quorum: number;
  /** A report, and so a trusted address, lapses after this long without being renewed. Default 30 min. */
  reportTtlMs: number;
  /** Ambassadors whose reports are kept; the oldest report makes room. Default 16. */
  maxReporters: number;
}

export const defaultPublicAddressOptions: PublicAddressOptions = { quorum: 2, reportTtlMs: 30 * 60_000, maxReporters: 16 };

export type TrustedAddress =
  | { readonly source: 'ambassadors'; readonly host: string; readonly reporters: number }
  | { readonly source: 'mapping'; readonly host: string; readonly port: number };

/**
 * Which public IP this node may announce: one that `quorum` distinct Ambassadors
 * saw it connect from, or the external address the router's port mapping
 * reports. One Ambassador alone (or any number of ordinary peers) cannot make a
 * node announce an address. Sans-IO: every call takes `now`.
 */
export class PublicAddressTrust {
  /** Ambassador id -> the IP it last reported and when. */
  private readonly reports = new Map<string, { host: string; atMs: number }>();
  private mapped: { address: Address; atMs: number } | undefined;

  constructor(private readonly options: PublicAddressOptions = defaultPublicAddressOptions) {}

  /** An Ambassador `ambassadorId` saw this node connect from `host`. */
  report(ambassadorId: string, host: string, nowMs: number): void {
    this.reports.delete(ambassadorId); // most recent last, so the first entry is the oldest
    if (this.reports.size >= this.options.maxReporters) this.reports.delete(this.reports.keys().next().value as string);
    this.reports.set(ambassadorId, { host, atMs: nowMs });
  }

  /** The router mapped the listen port to `address` (already checked to be public). */
  mapping(address: Address, nowMs: number): void {
    this.mapped = { address: { host: address.host, port: address.port }, atMs: nowMs };
  }

  /** The mapping was removed or failed to refresh. */
  unmapped(): void {
    this.mapped = undefined;
  }

  /** The address to announce now, if any: a live mapping first, else the IP most Ambassadors agree on. */
  trusted(nowMs: number): TrustedAddress | undefined {
    this.expire(nowMs);
    if (this.mapped) return { source: 'mapping', host: this.mapped.address.host, port: this.mapped.address.port };
    const counts = new Map<string, number>();
    for (const { host } of this.reports.values()) counts.set(host, (counts.get(host) ?? 0) + 1);
    let best: { host: string; reporters: number } | undefined;
    for (const [host, reporters] of counts) if (!best || reporters > best.reporters) best = { host, reporters };
    return best && best.reporters >= this.options.quorum ? { source: 'ambassadors', ...best } : undefined;
  }

  private expire(nowMs: number): void {
    const oldestMs = nowMs - this.options.reportTtlMs;
    for (const [id, report] of this.reports) if (report.atMs <= oldestMs) this.reports.delete(id);
    if (this.mapped && this.mapped.atMs <= oldestMs) this.mapped = undefined;
  }
}
