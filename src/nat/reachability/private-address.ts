/**
 * True for an IPv4 or IPv6 address no router forwards from the Internet:
 * RFC 1918, carrier-grade NAT (RFC 6598), loopback, link-local, unique local
 * (fc00::/7) and unspecified. A mapping whose external side is one of these
 * sits behind a second NAT and must not be announced.
 */
export function isPrivateAddress(host: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/.exec(host.startsWith('::ffff:') ? host.slice(7) : host);
  if (v4) {
    const a = Number(v4[1]);
    const b = Number(v4[2]);
    return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
  }
  const v6 = host.toLowerCase();
  return v6 === '::' || v6 === '::1' || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6);
}
