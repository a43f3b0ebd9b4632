import {
  BITS,
  type Family,
  hostMask,
  ipText,
  ipToBigint,
  isIpv4Mapped,
  tryParseCidr,
  tryParseIp,
  unmapped,
} from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';

/** An address as a number, so ranges are plain comparisons and the next address is +1. */
export interface IpAddr {
  readonly family: Family;
  readonly value: bigint;
}

/** One range as written in a host-local config (`ranges[i][j]`, or the old top-level keys). */
export interface RangeConfig {
  readonly subnet: string;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  readonly gateway?: string;
}

/** A validated range: every address is filled in, and `size` counts what can be handed out. */
export interface Range {
  readonly family: Family;
  /** Canonical CIDR, e.g. `10.22.0.0/16`. */
  readonly subnet: string;
  readonly prefixLength: number;
  readonly network: bigint;
  /** The last address of the subnet (the broadcast address in IPv4). */
  readonly last: bigint;
  readonly rangeStart: bigint;
  readonly rangeEnd: bigint;
  readonly gateway: bigint;
  /** How many addresses in rangeStart..rangeEnd may be handed out (network, broadcast and gateway left out). */
  readonly size: bigint;
}

/** The ranges of one family that one allocation takes one address from. */
export type RangeSet = readonly Range[];

const EXAMPLE = 'e.g. "10.22.0.0/16" or "fd00:22::/64"';

const bad = (msg: string, details: string) => new BerthError(ErrorCode.InvalidConfig, msg, details);

/**
 * One address, strictly (see tryParseIp), as a number. An IPv4-mapped IPv6
 * address is its IPv4 address, as host-local (Go's net.IP) treats it.
 */
export function parseIp(text: string): IpAddr | undefined {
  const ip = tryParseIp(text);
  if (!ip) return undefined;
  const plain = unmapped(ip);
  return { family: plain.family, value: ipToBigint(plain) };
}

/** The canonical text of an address: what Go's net.IP.String() prints, so also host-local's file names. */
export const formatIp = (ip: IpAddr): string => ipText(ip.family, ip.value);

const familyName = (f: Family) => (f === 4 ? 'IPv4' : 'IPv6');

/** Parses `address/prefix` with the address strict as in parseIp; undefined when it is not one. */
export function parseCidr(text: string): { ip: IpAddr; prefixLength: number } | undefined {
  const prefix = tryParseCidr(text);
  // A mapped IPv6 subnet would mix an IPv4 address with an IPv6 prefix length; host-local rejects it too.
  if (!prefix || isIpv4Mapped(prefix)) return undefined;
  return { ip: { family: prefix.family, value: ipToBigint(prefix) }, prefixLength: prefix.prefixLen };
}

/**
 * Validates one range and fills in host-local's defaults: rangeStart is the
 * network address + 1, rangeEnd the broadcast address - 1 (IPv4) or the last
 * address (IPv6), gateway the network address + 1. `where` names the range in
 * messages (e.g. `ipam.ranges[0][1]`).
 */
export function parseRange(raw: RangeConfig, where: string): Range {
  const cidr = parseCidr(raw.subnet);
  if (!cidr) {
    throw bad(
      `${where}.subnet ${JSON.stringify(raw.subnet)} is not a valid subnet`,
      `write it in CIDR notation, an address and a prefix length, ${EXAMPLE}`,
    );
  }
  const { ip, prefixLength } = cidr;
  const family = ip.family;
  const mask = hostMask(family, prefixLength);
  const network = ip.value & ~mask;
  const last = network | mask;
  const subnet = `${ipText(family, network)}/${prefixLength}`;
  if (ip.value !== network) {
    throw bad(
      `${where}.subnet ${JSON.stringify(raw.subnet)} has host bits set`,
      `the network address of ${raw.subnet} is ${ipText(family, network)}; write "${subnet}"`,
    );
  }
  if (prefixLength > BITS[family] - 2) {
    const larger = `/${BITS[family] - 2}`;
    throw bad(
      `${where}.subnet ${subnet} has no address to hand out`,
      `a /${prefixLength} holds ${prefixLength === BITS[family] ? 'one address' : 'two addresses'}, none left once the network and ${family === 4 ? 'broadcast addresses' : 'gateway'} are taken out; use a ${larger} or larger, e.g. "${ipText(family, network)}${larger}"`,
    );
  }
  const defaultEnd = family === 4 ? last - 1n : last;
  const inSubnet = (key: 'rangeStart' | 'rangeEnd' | 'gateway', fallback: bigint): bigint => {
    const text = raw[key];
    if (text === undefined) return fallback;
    const addr = parseIp(text);
    if (!addr) {
      throw bad(
        `${where}.${key} ${JSON.stringify(text)} is not an IP address`,
        `write an ${familyName(family)} address inside ${subnet}, or leave ${key} out`,
      );
    }
    if (addr.family !== family) {
      throw bad(
        `${where}.${key} ${text} is an ${familyName(addr.family)} address but the subnet ${subnet} is ${familyName(family)}`,
        `write an ${familyName(family)} address between ${ipText(family, network + 1n)} and ${ipText(family, defaultEnd)}, or put the ${familyName(addr.family)} range in a range set of its own`,
      );
    }
    if (addr.value < network || addr.value > last) {
      throw bad(
        `${where}.${key} ${text} is outside the subnet ${subnet}`,
        `write an address between ${ipText(family, network + 1n)} and ${ipText(family, defaultEnd)}, or leave ${key} out (default ${ipText(family, fallback)})`,
      );
    }
    return addr.value;
  };
  const rangeStart = inSubnet('rangeStart', network + 1n);
  const rangeEnd = inSubnet('rangeEnd', defaultEnd);
  const gateway = inSubnet('gateway', network + 1n);
  if (rangeStart > rangeEnd) {
    throw bad(
      `${where}: rangeStart ${ipText(family, rangeStart)} is after rangeEnd ${ipText(family, rangeEnd)}`,
      `rangeStart is the first address handed out and rangeEnd the last, both inclusive; swap them`,
    );
  }
  if (gateway === network || (family === 4 && gateway === last)) {
    throw bad(
      `${where}.gateway ${ipText(family, gateway)} is the ${gateway === network ? 'network' : 'broadcast'} address of ${subnet}`,
      `use a host address such as ${ipText(family, network + 1n)}, or leave gateway out`,
    );
  }
  // host-local accepts a range that starts on the network address (or ends on the
  // broadcast address) and skips only the gateway; berth skips all three, so a
  // config that works with host-local works here and never hands out either.
  const excluded = new Set([network, gateway, ...(family === 4 ? [last] : [])]);
  let size = rangeEnd - rangeStart + 1n;
  for (const x of excluded) if (x >= rangeStart && x <= rangeEnd) size--;
  const range: Range = { family, subnet, prefixLength, network, last, rangeStart, rangeEnd, gateway, size };
  if (size === 0n) {
    throw bad(
      `${where} (${rangeText(range)}) has no address to hand out`,
      `its only address${rangeStart === rangeEnd ? ' is' : 'es are'} the network, broadcast or gateway address (gateway ${ipText(family, gateway)}); widen rangeStart..rangeEnd`,
    );
  }
  return range;
}

/** Validates a set: at least one range, one family, no two ranges sharing an address. */
export function parseRangeSet(raws: readonly RangeConfig[], where: string): RangeSet {
  if (raws.length === 0) {
    throw bad(`${where} is an empty range set`, 'give it at least one range, e.g. [{"subnet": "10.22.0.0/16"}]');
  }
  const set = raws.map((raw, i) => parseRange(raw, `${where}[${i}]`));
  const first = set[0]!;
  set.forEach((r, i) => {
    if (r.family !== first.family) {
      throw bad(
        `${where} mixes ${familyName(first.family)} (${where}[0], ${first.subnet}) and ${familyName(r.family)} (${where}[${i}], ${r.subnet})`,
        'each range set holds one family; put each family in its own set: "ranges": [[{"subnet": "10.22.0.0/16"}], [{"subnet": "fd00:22::/64"}]]',
      );
    }
  });
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      const a = set[i]!;
      const b = set[j]!;
      if (rangesOverlap(a, b)) {
        throw bad(
          `${where}[${i}] (${rangeText(a)}) and ${where}[${j}] (${rangeText(b)}) overlap`,
          'ranges of one set must not share an address; set rangeStart/rangeEnd so that they are disjoint',
        );
      }
    }
  }
  return set;
}

export function rangesOverlap(a: Range, b: Range): boolean {
  return a.family === b.family && a.rangeStart <= b.rangeEnd && b.rangeStart <= a.rangeEnd;
}

export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangesOverlap(x, y)));
}

/** Whether ip is in rangeStart..rangeEnd (not merely in the subnet). */
export function rangeContains(r: Range, ip: IpAddr): boolean {
  return ip.family === r.family && ip.value >= r.rangeStart && ip.value <= r.rangeEnd;
}

/** The index of the range of the set that holds ip, or -1. */
export function rangeIndexFor(set: RangeSet, ip: IpAddr): number {
  return set.findIndex((r) => rangeContains(r, ip));
}

/** Whether the address is one that is never handed out: the network, broadcast (IPv4) or gateway address. */
export function isExcluded(r: Range, value: bigint): boolean {
  return value === r.network || value === r.gateway || (r.family === 4 && value === r.last);
}

/** A range for messages: `10.22.0.0/16 (10.22.0.1-10.22.255.254)`. */
export function rangeText(r: Range): string {
  return `${r.subnet} (${ipText(r.family, r.rangeStart)}-${ipText(r.family, r.rangeEnd)})`;
}

export function rangeSetText(set: RangeSet): string {
  return set.map(rangeText).join(', ');
}

/** How many addresses the whole set can hand out. */
export function rangeSetSize(set: RangeSet): bigint {
  return set.reduce((n, r) => n + r.size, 0n);
}
