import ipaddr from 'ipaddr.js';

/**
 * IP addresses and prefixes: one strict parser, and the forms the layers need
 * (bytes for netlink, bigint for IPAM's ranges, canonical text for the firewall
 * and the records). The parsers return undefined; each caller words its own error.
 */

export type Family = 4 | 6;

export interface IpAddress {
  readonly family: Family;
  /** 4 or 16 bytes, network order, as netlink carries them. */
  readonly bytes: Uint8Array;
}

export interface IpPrefix extends IpAddress {
  readonly prefixLen: number;
}

export const BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

/**
 * An IP address, strictly: dotted quads only for IPv4 (no '10.1', hex, octal or
 * leading zeros, which inet_aton would take and Go refuses), no zone for IPv6.
 * An IPv4-mapped IPv6 address stays IPv6; unmapped() gives its IPv4 address.
 */
export function tryParseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string') return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, bytes: Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, bytes: Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  return undefined;
}

/** 'address/length' with the address as tryParseIp takes it; the host bits stay (10.0.0.2/24 keeps .2). */
export function tryParseCidr(text: string): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  const lenText = text.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(lenText)) return undefined;
  const ip = tryParseIp(text.slice(0, slash));
  const prefixLen = Number(lenText);
  if (!ip || prefixLen > BITS[ip.family]) return undefined;
  return { ...ip, prefixLen };
}

/** The text of 4 or 16 bytes: IPv6 in RFC 5952 form, as `ip`, nft and Go's net.IP print it. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) return (ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6).toRFC5952String();
  throw new TypeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/** An address in canonical text (RFC 5952 for IPv6), a zone (%eth0) dropped; undefined when it is none. */
export function canonicalIp(text: string): string | undefined {
  const ip = tryParseIp(text.replace(/%.*$/, ''));
  return ip ? formatIp(ip.bytes) : undefined;
}

/** Whether the address is an IPv4 address written as IPv6 (::ffff:a.b.c.d). */
export function isIpv4Mapped(ip: IpAddress): boolean {
  if (ip.family !== 6) return false;
  for (let i = 0; i < 10; i++) if (ip.bytes[i] !== 0) return false;
  return ip.bytes[10] === 0xff && ip.bytes[11] === 0xff;
}

/** The IPv4 address of an IPv4-mapped IPv6 one, as Go's net.IP treats it; any other address as it is. */
export function unmapped(ip: IpAddress): IpAddress {
  return isIpv4Mapped(ip) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** An address as a number, so ranges are comparisons and the next address is +1. */
export function ipToBigint(ip: IpAddress): bigint {
  let v = 0n;
  for (const b of ip.bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function ipFromBigint(family: Family, value: bigint): IpAddress {
  const bytes = new Uint8Array(BITS[family] / 8);
  let v = value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { family, bytes };
}

/** The canonical text of an address given as a number. */
export const ipText = (family: Family, value: bigint): string => formatIp(ipFromBigint(family, value).bytes);

/** The bits of an address below the prefix, as a mask. */
export function hostMask(family: Family, prefixLen: number): bigint {
  return (1n << BigInt(BITS[family] - prefixLen)) - 1n;
}

/** The first and last address of a prefix's subnet: its network address and, in IPv4, its broadcast address. */
export function subnetBounds(prefix: IpPrefix): { readonly first: bigint; readonly last: bigint } {
  const mask = hostMask(prefix.family, prefix.prefixLen);
  const first = ipToBigint(prefix) & ~mask;
  return { first, last: first | mask };
}

/** Whether two prefixes share any address (never across families). */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  if (a.family !== b.family) return false;
  const ra = subnetBounds(a);
  const rb = subnetBounds(b);
  return ra.first <= rb.last && rb.first <= ra.last;
}

/** The subnet's broadcast address of an IPv4 prefix, as bytes. */
export function broadcastOf(prefix: IpPrefix): Uint8Array {
  return ipFromBigint(prefix.family, subnetBounds(prefix).last).bytes;
}

/** The family of an address or CIDR that is known to be one (berth's own records, the kernel's answers). */
export const familyOf = (addressOrCidr: string): Family => (addressOrCidr.includes(':') ? 6 : 4);

// Addresses with prefix that berth wrote itself or read from the kernel: one that does not parse is a bug, not input.
function knownCidr(cidr: string): IpPrefix {
  const prefix = tryParseCidr(cidr);
  if (!prefix) throw new TypeError(`${JSON.stringify(cidr)} is not an address with a prefix length`);
  return prefix;
}

/** The subnet of an address with prefix: '10.1.2.3/24' -> '10.1.2.0/24'. */
export function subnetOf(cidr: string): string {
  const prefix = knownCidr(cidr);
  return `${ipText(prefix.family, subnetBounds(prefix).first)}/${prefix.prefixLen}`;
}

/** The first host of a subnet, the conventional gateway: '10.1.2.3/24' -> '10.1.2.1'. */
export function firstHostOf(cidr: string): string {
  const prefix = knownCidr(cidr);
  return ipText(prefix.family, subnetBounds(prefix).first + 1n);
}
