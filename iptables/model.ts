import {
  type Family,
  familyOf,
  formatIp,
  ipText,
  ipToBigint,
  subnetBounds,
  tryParseCidr,
  tryParseIp,
  unmapped,
} from '../base/address.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { validateIfName } from '../base/names.js';
import { sha256Hex } from '../base/sha256.js';

/**
 * berth's packet-filter rules as plain values. The firewall layer knows nothing
 * of CNI or of berth's networks: a caller states, per owner, what it wants, and
 * the driver makes the kernel match it. Everything here is family-neutral; the
 * renderers split by address family.
 */

export type OwnerKind = 'network' | 'container';

/** Who a set of rules belongs to: removing the owner removes exactly its rules. */
export interface Owner {
  readonly kind: OwnerKind;
  /** Any non-empty string (a network name, a container ID, `${containerId}/${ifname}`). */
  readonly id: string;
}

export type Protocol = 'tcp' | 'udp' | 'sctp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

/** A Linux bridge berth manages: forwarding to and from it is accepted, and hairpin NAT for its subnets. */
export interface BridgeRule {
  /** The bridge's interface name. */
  readonly name: string;
  /**
   * The subnets on the bridge (CIDR); traffic DNATed back into one of them from inside it is masqueraded
   * (hairpin). For a container to reach its own published port, its bridge port also needs hairpin mode:
   * br_netfilter bridges the DNATed frame back out the port it came in on.
   */
  readonly subnets: readonly string[];
  /** Drop forwarded traffic between this bridge and every other isolated berth bridge (Docker's default). */
  readonly isolate: boolean;
}

/**
 * Traffic from `source` to anything outside `subnet`, and not multicast, is
 * masqueraded. `source` is one address (a container, as the CNI bridge plugin
 * does it) or a CIDR (a whole network, as Docker does it).
 */
export interface MasqueradeRule {
  readonly source: string;
  readonly subnet: string;
}

/**
 * hostIP:hostPort/protocol on the host is DNATed to containerIP:containerPort.
 * Without hostIP every local address of the host of the container's family
 * answers. A loopback hostIP (127.0.0.0/8) publishes to the host itself only;
 * the caller must set `net.ipv4.conf.<bridge>.route_localnet=1` for it, and the
 * firewall drops 127.0.0.0/8 arriving on other interfaces (CVE-2020-8558).
 */
export interface PortMapping {
  readonly protocol: Protocol;
  readonly hostIP?: string;
  readonly hostPort: number;
  readonly containerIP: string;
  readonly containerPort: number;
}

/** Everything one owner holds. Typically a network owns bridges (and masquerade for its subnet), a container its masquerade and ports. */
export interface Rules {
  readonly bridges?: readonly BridgeRule[];
  readonly masquerade?: readonly MasqueradeRule[];
  readonly ports?: readonly PortMapping[];
}

/** Rules after validation: addresses canonical, every list present, duplicates gone. */
export interface NormalizedRules {
  readonly bridges: readonly BridgeRule[];
  readonly masquerade: readonly MasqueradeRule[];
  readonly ports: readonly PortMapping[];
}

/** Multicast destinations are never masqueraded (the reference plugin's rule). */
export const MULTICAST: Readonly<Record<Family, string>> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };
export const LOOPBACK4 = '127.0.0.0/8';

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** Canonical text of an address (RFC 5952 for IPv6, as nft and iptables print it) and its family. */
export function parseAddress(text: string, what: string): { readonly address: string; readonly family: Family } {
  const ip = tryParseIp(text);
  if (!ip) {
    if (typeof text === 'string' && text.includes('%') && tryParseIp(text.slice(0, text.indexOf('%')))) {
      throw invalid(`${what} ${JSON.stringify(text)} has a zone`, 'give the address without %zone');
    }
    throw invalid(
      `${what} ${JSON.stringify(text)} is not an IP address`,
      'give an IPv4 or IPv6 address such as 10.88.0.2',
    );
  }
  const plain = unmapped(ip);
  return { address: formatIp(plain.bytes), family: plain.family };
}

/** A CIDR as its network address and length ('10.1.0.7/24' is an error: the host bits must be zero, so typos show). */
export function parseCidr(
  text: string,
  what: string,
): { readonly cidr: string; readonly address: string; readonly length: number; readonly family: Family } {
  const prefix = tryParseCidr(text);
  if (!prefix) {
    throw invalid(
      `${what} ${JSON.stringify(text)} is not a CIDR`,
      'give an address and a prefix length such as 10.88.0.0/16',
    );
  }
  const { family, prefixLen: length } = prefix;
  const { first } = subnetBounds(prefix);
  const network = ipText(family, first);
  if (ipToBigint(prefix) !== first) {
    throw invalid(
      `${what} ${JSON.stringify(text)} has host bits set`,
      `did you mean ${network}/${length}? The address of a subnet ends in zero bits`,
    );
  }
  return { cidr: `${network}/${length}`, address: network, length, family };
}

/** An address or a CIDR; a full-length prefix is written as the plain address. */
export function parseAddressOrCidr(
  text: string,
  what: string,
): { readonly text: string; readonly family: Family; readonly single: boolean } {
  if (typeof text === 'string' && text.includes('/')) {
    const c = parseCidr(text, what);
    const full = c.family === 4 ? 32 : 128;
    return c.length === full
      ? { text: c.address, family: c.family, single: true }
      : { text: c.cidr, family: c.family, single: false };
  }
  const a = parseAddress(text, what);
  return { text: a.address, family: a.family, single: true };
}

function validatePort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid(`${what} ${JSON.stringify(port)} is not a port`, 'give an integer from 1 to 65535');
  }
  return port;
}

export function validateOwner(owner: Owner): Owner {
  if (!owner || (owner.kind !== 'network' && owner.kind !== 'container')) {
    throw invalid(`firewall owner kind ${JSON.stringify(owner?.kind)} is unknown`, "use 'network' or 'container'");
  }
  if (typeof owner.id !== 'string' || owner.id.length === 0 || owner.id.length > 1024) {
    throw invalid(`firewall owner id ${JSON.stringify(owner.id)} is empty or too long`, 'give 1 to 1024 characters');
  }
  return { kind: owner.kind, id: owner.id };
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$/;

/**
 * The tag written into the kernel beside every rule and element of an owner
 * (nft element comments, iptables `-m comment`). Ids that are long or hold
 * characters a comment would have to escape are written as a hash.
 */
export function ownerTag(owner: Owner): string {
  const id = SAFE_ID.test(owner.id) ? owner.id : `#${sha256Hex(owner.id).slice(0, 32)}`;
  return `berth ${owner.kind} ${id}`;
}

/** The items with each key once, where it first stands. */
export function unique<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Checks every value and puts addresses in canonical form; throws InvalidConfig naming the bad value. */
export function normalizeRules(rules: Rules): NormalizedRules {
  if (rules === null || typeof rules !== 'object') {
    throw invalid(
      `firewall rules ${JSON.stringify(rules)} are not an object`,
      'give { bridges?, masquerade?, ports? }',
    );
  }
  const bridges = (rules.bridges ?? []).map((b, i): BridgeRule => {
    const name = validateIfName(b.name, `bridges[${i}].name`);
    const subnets = unique(
      (b.subnets ?? []).map((s, j) => parseCidr(s, `bridges[${i}].subnets[${j}]`).cidr),
      (s) => s,
    );
    if (typeof b.isolate !== 'boolean') {
      throw invalid(`bridges[${i}].isolate ${JSON.stringify(b.isolate)} is not a boolean`, 'give true or false');
    }
    return { name, subnets, isolate: b.isolate };
  });
  const names = new Set<string>();
  for (const b of bridges) {
    if (names.has(b.name)) throw invalid(`bridge ${b.name} is listed twice`, 'list each bridge once');
    names.add(b.name);
  }

  const bySource = new Map<string, MasqueradeRule>();
  (rules.masquerade ?? []).forEach((m, i) => {
    const source = parseAddressOrCidr(m.source, `masquerade[${i}].source`);
    const subnet = parseCidr(m.subnet, `masquerade[${i}].subnet`);
    if (source.family !== subnet.family) {
      throw invalid(
        `masquerade[${i}]: source ${m.source} and subnet ${m.subnet} are of different address families`,
        'pair an IPv4 source with an IPv4 subnet and an IPv6 source with an IPv6 subnet',
      );
    }
    const kept = bySource.get(source.text);
    if (kept && kept.subnet !== subnet.cidr) {
      throw invalid(
        `masquerade[${i}]: source ${source.text} is listed with subnets ${kept.subnet} and ${subnet.cidr}`,
        'list each source once, with the subnet it lives in',
      );
    }
    bySource.set(source.text, { source: source.text, subnet: subnet.cidr });
  });
  const masquerade = [...bySource.values()];

  const byHostKey = new Map<string, PortMapping>();
  (rules.ports ?? []).forEach((p, i) => {
    const n = normalizePort(p, i);
    const key = `${n.hostIP ?? ''}|${n.protocol}|${n.hostPort}|${familyOf(n.containerIP)}`;
    const kept = byHostKey.get(key);
    if (kept && (kept.containerIP !== n.containerIP || kept.containerPort !== n.containerPort)) {
      throw invalid(
        `ports[${i}]: host port ${n.hostIP ? `${n.hostIP}:` : ''}${n.hostPort}/${n.protocol} is already mapped to ${kept.containerIP}:${kept.containerPort}`,
        'map each host address, port and protocol once',
      );
    }
    byHostKey.set(key, n);
  });
  const ports = [...byHostKey.values()];
  return { bridges, masquerade, ports };
}

function normalizePort(p: PortMapping, i: number): PortMapping {
  if (!PROTOCOLS.includes(p.protocol)) {
    throw invalid(`ports[${i}].protocol ${JSON.stringify(p.protocol)} is not supported`, 'use tcp, udp or sctp');
  }
  const container = parseAddress(p.containerIP, `ports[${i}].containerIP`);
  const hostPort = validatePort(p.hostPort, `ports[${i}].hostPort`);
  const containerPort = validatePort(p.containerPort, `ports[${i}].containerPort`);
  let hostIP: string | undefined;
  if (p.hostIP !== undefined && p.hostIP !== '') {
    const host = parseAddress(p.hostIP, `ports[${i}].hostIP`);
    if (host.family !== container.family) {
      throw invalid(
        `ports[${i}]: hostIP ${p.hostIP} and containerIP ${p.containerIP} are of different address families`,
        'publish an IPv4 host address to an IPv4 container address, IPv6 to IPv6',
      );
    }
    if (host.address === '::1') {
      throw invalid(
        `ports[${i}].hostIP ::1 cannot be published by NAT`,
        'the kernel never routes ::1 off the loopback interface; publish on 127.0.0.1 or use a userland proxy',
      );
    }
    // The unspecified address means every address, as Docker reads it.
    if (host.address !== '0.0.0.0' && host.address !== '::') hostIP = host.address;
  }
  return {
    protocol: p.protocol,
    ...(hostIP !== undefined ? { hostIP } : {}),
    hostPort,
    containerIP: container.address,
    containerPort,
  };
}

export function isEmpty(rules: NormalizedRules): boolean {
  return rules.bridges.length === 0 && rules.masquerade.length === 0 && rules.ports.length === 0;
}

export const NO_RULES: NormalizedRules = { bridges: [], masquerade: [], ports: [] };

/** Which address families a set of rules touches (bridges without subnets count for both). */
export function familiesOf(rules: NormalizedRules): Set<Family> {
  const f = new Set<Family>();
  for (const b of rules.bridges) {
    if (b.subnets.length === 0) {
      f.add(4);
      f.add(6);
    }
    for (const s of b.subnets) f.add(familyOf(s));
  }
  for (const m of rules.masquerade) f.add(familyOf(m.source));
  for (const p of rules.ports) f.add(familyOf(p.containerIP));
  return f;
}
