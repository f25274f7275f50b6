import { Type } from '@sinclair/typebox';
import { ProtocolError } from '../errors.js';
import { messageCodec } from '../transport/codec.js';
import type { HostQuality } from './known-hosts.js';

/** Limits of a quality claim: anything beyond is absurd and makes the claimant a failed host. */
export const qualityLimits = {
  /** About 100 years. */
  maxUptimeMs: 3_200_000_000_000,
  /** 1 PiB: far above any node's allocation. */
  maxAvailableStorageBytes: 2 ** 50,
  maxKnownHosts: 65_536,
  maxZoneLength: 64,
  /** An encoded quality is about 60 bytes; anything much bigger is not one. */
  maxEncodedBytes: 256,
} as const;

/** TypeBox rejects NaN and ±Infinity for Type.Number by default, so only finite values pass. */
export const hostQualitySchema = Type.Object({
  uptimeMs: Type.Number({ minimum: 0, maximum: qualityLimits.maxUptimeMs }),
  availableStorageBytes: Type.Number({ minimum: 0, maximum: qualityLimits.maxAvailableStorageBytes }),
  knownHosts: Type.Integer({ minimum: 0, maximum: qualityLimits.maxKnownHosts }),
  ambassador: Type.Boolean(),
  zone: Type.Optional(Type.String({ minLength: 1, maxLength: qualityLimits.maxZoneLength })),
});

const qualityCodec = messageCodec('host-quality answer', hostQualitySchema);

export function encodeQuality(quality: HostQuality): Uint8Array {
  return qualityCodec.encode(quality);
}

/** Decodes an untrusted `host-quality` answer; oversized or invalid answers throw ProtocolError. */
export function decodeQuality(bytes: Uint8Array): HostQuality {
  if (bytes.byteLength > qualityLimits.maxEncodedBytes) {
    throw new ProtocolError(`host-quality answer of ${bytes.byteLength} bytes exceeds ${qualityLimits.maxEncodedBytes}`);
  }
  return copyQuality(qualityCodec.decode(bytes));
}

/** Keeps only the known fields, so unknown extras a peer sent are not cached. */
export function copyQuality(quality: HostQuality): HostQuality {
  const { uptimeMs, availableStorageBytes, knownHosts, ambassador, zone } = quality;
  return zone === undefined ? { uptimeMs, availableStorageBytes, knownHosts, ambassador } : { uptimeMs, availableStorageBytes, knownHosts, ambassador, zone };
}
