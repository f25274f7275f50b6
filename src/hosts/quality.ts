import { Type, type Static } from '@sinclair/typebox';
import { ProtocolError } from '../errors.js';
import { tupleCodec } from '../transport/codec.js';
import type { HostQuality } from './known-hosts.js';

/** Limits of a quality claim: anything beyond is absurd and makes the claimant a failed host. */
export const qualityLimits = {
  /** About 100 years. */
  maxUptimeMs: 3_200_000_000_000,
  /** 1 PiB: far above any node's allocation. */
  maxAvailableStorageBytes: 2 ** 50,
  maxKnownHosts: 65_536,
  maxZoneLength: 64,
  /** An encoded quality is about 30 bytes; anything much bigger is not one. */
  maxEncodedBytes: 256,
} as const;

/** TypeBox rejects NaN and ±Infinity for Type.Number by default, so only finite values pass. */
const uptimeMs = Type.Number({ minimum: 0, maximum: qualityLimits.maxUptimeMs });
const availableStorageBytes = Type.Number({ minimum: 0, maximum: qualityLimits.maxAvailableStorageBytes });
const knownHosts = Type.Integer({ minimum: 0, maximum: qualityLimits.maxKnownHosts });
const ambassador = Type.Boolean();
const zone = Type.String({ minLength: 1, maxLength: qualityLimits.maxZoneLength });

/** A quality on the wire: `[uptimeMs, availableStorageBytes, knownHosts, ambassador]`, with the zone as a fifth element when there is one. */
export const qualityTupleSchema = Type.Union([
  Type.Tuple([uptimeMs, availableStorageBytes, knownHosts, ambassador]),
  Type.Tuple([uptimeMs, availableStorageBytes, knownHosts, ambassador, zone]),
]);
export type QualityTuple = Static<typeof qualityTupleSchema>;

/** Only the known fields go out, whatever else the object holds. */
export function qualityToTuple(quality: HostQuality): QualityTuple {
  const { uptimeMs, availableStorageBytes, knownHosts, ambassador, zone } = quality;
  return zone === undefined ? [uptimeMs, availableStorageBytes, knownHosts, ambassador] : [uptimeMs, availableStorageBytes, knownHosts, ambassador, zone];
}

export function qualityFromTuple(tuple: QualityTuple): HostQuality {
  const [uptimeMs, availableStorageBytes, knownHosts, ambassador, zone] = tuple;
  return zone === undefined ? { uptimeMs, availableStorageBytes, knownHosts, ambassador } : { uptimeMs, availableStorageBytes, knownHosts, ambassador, zone };
}

const qualityCodec = tupleCodec('host-quality answer', qualityTupleSchema, { toTuple: qualityToTuple, fromTuple: qualityFromTuple });

export function encodeQuality(quality: HostQuality): Uint8Array {
  return qualityCodec.encode(quality);
}

/** Decodes an untrusted `host-quality` answer; oversized or invalid answers throw ProtocolError. */
export function decodeQuality(bytes: Uint8Array): HostQuality {
  if (bytes.byteLength > qualityLimits.maxEncodedBytes) {
    throw new ProtocolError(`host-quality answer of ${bytes.byteLength} bytes exceeds ${qualityLimits.maxEncodedBytes}`);
  }
  return qualityCodec.decode(bytes);
}
