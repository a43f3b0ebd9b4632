import ipaddr from 'ipaddr.js';
import { AF_INET, AF_INET6 } from './constants.js';
import { InvalidArgumentError } from './errors.js';

export type Family = 4 | 6;

export interface IpAddress {
  readonly family: Family;
  /** 4 or 16 bytes, network order, as netlink carries them. */
  readonly bytes: Uint8Array;
}

export interface IpPrefix extends IpAddress {
  readonly prefixLen: number;
}

export const afOf = (family: Family): number => (family === 4 ? AF_INET : AF_INET6);

export function familyOfAf(af: number): Family | undefined {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return undefined;
}

/**
 * Parses an IP address strictly: dotted quads only for IPv4 (no '10.1' or hex
 * forms that inet_aton would take), no zone id for IPv6.
 */
export function parseIp(text: string, what = 'IP address'): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) {
    throw new InvalidArgumentError(
      `invalid ${what} '${text}': expected an IPv4 address like 10.0.0.1 or IPv6 like fd00::1`,
    );
  }
  return ip;
}

function tryParseIp(text: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, bytes: Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, bytes: Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  return undefined;
}

/** Parses 'a.b.c.d/nn' or 'v6/nn'; the address part keeps its host bits (10.0.0.2/24 stays .2). */
export function parseCidr(text: string, what = 'CIDR'): IpPrefix {
  const slash = text.indexOf('/');
  const lenText = slash >= 0 ? text.slice(slash + 1) : '';
  const addr = slash >= 0 && /^\d{1,3}$/.test(lenText) ? tryParseIp(text.slice(0, slash)) : undefined;
  if (!addr) {
    throw new InvalidArgumentError(
      `invalid ${what} '${text}': expected address/prefix-length like 10.0.0.2/24 or fd00::2/64`,
    );
  }
  const prefixLen = Number(lenText);
  if (prefixLen > addr.bytes.length * 8) {
    throw new InvalidArgumentError(
      `invalid ${what} '${text}': prefix length ${prefixLen} exceeds ${addr.bytes.length * 8}`,
    );
  }
  return { ...addr, prefixLen };
}

/** The text of a 4- or 16-byte address (IPv6 in RFC 5952 form, as `ip` prints it). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) return (ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6).toRFC5952String();
  throw new InvalidArgumentError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/** The subnet's broadcast address of an IPv4 prefix. */
export function broadcastOf(prefix: IpPrefix): Uint8Array {
  const out = Uint8Array.from(prefix.bytes);
  for (let bit = prefix.prefixLen; bit < out.length * 8; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Parses 'aa:bb:cc:dd:ee:ff' into six bytes. */
export function parseMac(text: string): Uint8Array {
  if (!MAC.test(text)) {
    throw new InvalidArgumentError(`invalid MAC address '${text}': expected six hex pairs like 02:42:ac:11:00:02`);
  }
  return Uint8Array.from(text.split(':'), (h) => Number.parseInt(h, 16));
}

export function formatMac(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += (i ? ':' : '') + bytes[i]!.toString(16).padStart(2, '0');
  return out;
}
