import { createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';

/**
 * The one certificate shape a Butter node presents on a TLS channel: X.509 v3,
 * self-signed with the node's Ed25519 identity key, no extensions, fixed
 * names, serial and validity, so a key always yields the same ~220 bytes.
 *
 * Why a DER writer here rather than a library: node:crypto verifies and parses
 * certificates but cannot write one, and the certificate libraries on npm
 * (node-forge, @peculiar/x509, pkijs) bring their own ASN.1 stacks (forge its
 * own RSA and no Ed25519 signing) for what is seven fixed fields. Only the
 * encoding is written here; the signature is node:crypto's `sign`, and OpenSSL
 * parses and checks the result in every handshake (test/runtime-tls.test.ts).
 */

const ed25519Algorithm = sequence(objectIdentifier([0x2b, 0x65, 0x70])); // 1.3.101.112
/** CN=butter: the name carries nothing; the key is the identity. */
const butterName = sequence(set(sequence(objectIdentifier([0x55, 0x04, 0x03]), tlv(0x0c, ascii('butter')))));
// Dates are not checked (the key is pinned by its hash, not by a CA); "no expiry" per RFC 5280 §4.1.2.5.
const validity = sequence(tlv(0x17, ascii('700101000000Z')), tlv(0x18, ascii('99991231235959Z')));
const version3 = tlv(0xa0, tlv(0x02, Uint8Array.of(2)));
const serialNumber = tlv(0x02, Uint8Array.of(1));

/** DER bytes of the self-signed certificate for `privateKey` (Ed25519). */
export function selfSignedCertificate(privateKey: KeyObject): Uint8Array {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('a channel certificate needs an Ed25519 key');
  const subjectPublicKeyInfo = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const toBeSigned = sequence(version3, serialNumber, ed25519Algorithm, butterName, validity, butterName, subjectPublicKeyInfo);
  const signature = sign(null, toBeSigned, privateKey);
  return sequence(toBeSigned, ed25519Algorithm, tlv(0x03, concat(Uint8Array.of(0), signature)));
}

/** PEM text of a DER certificate, as node:tls takes it. */
export function certificatePem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * The raw 32-byte Ed25519 key of a certificate the peer presented, or undefined
 * unless it is an Ed25519 certificate signed by its own key. (Possession of the
 * key is what TLS 1.3's CertificateVerify proved; this pins which key it was.)
 */
export function ed25519KeyOf(certificate: X509Certificate | undefined): Uint8Array | undefined {
  const publicKey = certificate?.publicKey;
  if (!certificate || publicKey?.asymmetricKeyType !== 'ed25519' || !certificate.verify(publicKey)) return undefined;
  const { x } = publicKey.export({ format: 'jwk' });
  return typeof x === 'string' ? new Uint8Array(Buffer.from(x, 'base64url')) : undefined;
}

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  const header =
    length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff];
  if (length > 0xffff) throw new RangeError('DER value too long for this writer');
  return concat(Uint8Array.from(header), content);
}

function sequence(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, concat(...items));
}

function set(...items: Uint8Array[]): Uint8Array {
  return tlv(0x31, concat(...items));
}

function objectIdentifier(encoded: number[]): Uint8Array {
  return tlv(0x06, Uint8Array.from(encoded));
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
