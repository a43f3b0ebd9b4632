import { type Family, type IpAddress, type IpPrefix, tryParseCidr, tryParseIp } from '../base/address.js';
import { tryParseMac } from '../base/mac.js';
import { AF_INET, AF_INET6 } from './constants.js';
import { InvalidArgumentError } from './errors.js';

export const afOf = (family: Family): number => (family === 4 ? AF_INET : AF_INET6);

export function familyOfAf(af: number): Family | undefined {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return undefined;
}

/** An address as tryParseIp takes it, or an error naming what it is for. */
export function parseIp(text: string, what = 'IP address'): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) {
    throw new InvalidArgumentError(
      `invalid ${what} '${text}': expected an IPv4 address like 10.0.0.1 or IPv6 like fd00::1`,
    );
  }
  return ip;
}

/** 'a.b.c.d/nn' or 'v6/nn'; the address part keeps its host bits (10.0.0.2/24 stays .2). */
export function parseCidr(text: string, what = 'CIDR'): IpPrefix {
  const prefix = tryParseCidr(text);
  if (!prefix) {
    throw new InvalidArgumentError(
      `invalid ${what} '${text}': expected address/prefix-length like 10.0.0.2/24 or fd00::2/64, the length at most 32 for IPv4 and 128 for IPv6`,
    );
  }
  return prefix;
}

/** Parses 'aa:bb:cc:dd:ee:ff' into six bytes. */
export function parseMac(text: string): Uint8Array {
  const bytes = tryParseMac(text);
  if (!bytes) {
    throw new InvalidArgumentError(`invalid MAC address '${text}': expected six hex pairs like 02:42:ac:11:00:02`);
  }
  return bytes;
}
