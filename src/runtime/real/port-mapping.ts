import { upnpNat, type Gateway } from '@achingbrain/nat-port-mapper';
import type { PortMapper } from '../../nat/mapping/port-mapper.js';
import type { Address } from '../types.js';

export interface UpnpPortMapperOptions {
  /** How long to look for a gateway (SSDP) before giving up. Default 5 000 ms. */
  discoveryTimeoutMs?: number;
  /** Lease asked of the router; the library renews it before it ends. Default 20 min. */
  ttlMs?: number;
  description?: string;
}

/**
 * The real port mapper: @achingbrain/nat-port-mapper finds the UPnP Internet
 * Gateway Device on the LAN, maps the TCP port (renewing the lease itself) and
 * unmaps it at `stop`.
 */
export function upnpPortMapper(options: UpnpPortMapperOptions = {}): PortMapper {
  const { discoveryTimeoutMs = 5_000, ttlMs = 20 * 60_000, description = 'butter node' } = options;
  let gateway: Gateway | undefined;
  return {
    async map(internalPort: number, internalHost: string): Promise<Address> {
      gateway ??= await findGateway(discoveryTimeoutMs);
      const mapOptions = { protocol: 'tcp' as const, ttl: ttlMs, description, autoRefresh: true, signal: AbortSignal.timeout(discoveryTimeoutMs) };
      if (internalHost !== '0.0.0.0' && internalHost !== '::') {
        const mapping = await gateway.map(internalPort, internalHost, mapOptions);
        return { host: mapping.externalHost, port: mapping.externalPort };
      }
      for await (const mapping of gateway.mapAll(internalPort, mapOptions)) return { host: mapping.externalHost, port: mapping.externalPort };
      throw new Error('the gateway mapped no interface');
    },
    async stop(): Promise<void> {
      const found = gateway;
      gateway = undefined;
      await found?.stop();
    },
  };
}

async function findGateway(timeoutMs: number): Promise<Gateway> {
  for await (const gateway of upnpNat().findGateways({ signal: AbortSignal.timeout(timeoutMs) })) return gateway;
  throw new Error(`no UPnP gateway answered within ${timeoutMs} ms`);
}
