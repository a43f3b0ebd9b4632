import {
  BITS,
  type IpPrefix,
  ipText,
  ipToBigint,
  prefixesOverlap,
  subnetBounds,
  tryParseCidr,
  tryParseIp,
} from '../base/address.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { sha256Hex } from '../base/sha256.js';
import { MACVLAN_MODES, type MacvlanMode } from '../netlink/index.js';
import { networkDriverOf } from './drivers/index.js';
import type { NetworkConfig, NetworkOptions, SubnetConfig } from './drivers/options.js';

export type { DriverName, NetworkConfig, NetworkOptions, SubnetConfig } from './drivers/options.js';
// The callers above network/ (plugins, cli) take the modes from here, not from netlink/.
export { MACVLAN_MODES, type MacvlanMode };

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const DEFAULT_POOL = '10.89.0.0/16';

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

export function validateName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NETWORK_NAME.test(name) || name.length > 128) {
    throw invalid(
      `invalid ${what} name ${JSON.stringify(name)}`,
      'a name starts with a letter or digit and holds only letters, digits, "_", "." and "-" (at most 128)',
    );
  }
  return name;
}

/** A stable id from a name: the same network always gets the same id, bridge name and chains. */
export function idFor(name: string): string {
  return sha256Hex(name).slice(0, 12);
}

export function parseCidr(cidr: string, what: string): IpPrefix {
  const prefix = tryParseCidr(cidr);
  if (!prefix)
    throw invalid(`invalid ${what} ${JSON.stringify(cidr)}`, 'write it as address/prefix, e.g. 10.89.0.0/24');
  return prefix;
}

/** The subnet's canonical form and gateway, checked: host bits clear, gateway inside and not the network or broadcast. */
export function parseSubnet(subnet: string, gateway: string | undefined, family: 4 | 6): SubnetConfig {
  const prefix = parseCidr(subnet, 'subnet');
  if (prefix.family !== family) {
    throw invalid(
      `subnet ${subnet} is not IPv${family}`,
      family === 4 ? 'use subnet6 for IPv6' : 'use subnet for IPv4',
    );
  }
  const { prefixLen } = prefix;
  const { first: network, last } = subnetBounds(prefix);
  const canonical = `${ipText(family, network)}/${prefixLen}`;
  if (ipToBigint(prefix) !== network) {
    throw invalid(`subnet ${subnet} has host bits set`, `did you mean ${canonical}?`);
  }
  const usable = BITS[family] - prefixLen;
  if (usable < 2)
    throw invalid(`subnet ${subnet} is too small`, 'a subnet needs room for a gateway and a container: /30 or larger');
  const firstHost = ipText(family, network + 1n);
  const gw = gateway ?? firstHost;
  const gwAddr = tryParseIp(gw);
  if (!gwAddr) {
    throw invalid(`invalid gateway ${JSON.stringify(gw)}`, `give an address inside ${canonical}`);
  }
  const gwValue = ipToBigint(gwAddr);
  if (gwAddr.family !== family || gwValue < network || gwValue > last) {
    throw invalid(
      `gateway ${gw} is outside the subnet ${canonical}`,
      `give an address inside ${canonical}, e.g. ${firstHost}`,
    );
  }
  if (gwValue === network || (family === 4 && gwValue === last)) {
    throw invalid(`gateway ${gw} is the network or broadcast address of ${canonical}`, `use e.g. ${firstHost}`);
  }
  return { subnet: canonical, gateway: ipText(family, gwValue), prefixLength: prefixLen };
}

/** True when two CIDRs share any address. */
export function overlaps(a: string, b: string): boolean {
  return prefixesOverlap(parseCidr(a, 'subnet'), parseCidr(b, 'subnet'));
}

/** The first /24 of berth's default pool that no existing subnet overlaps. */
export function pickSubnet(taken: readonly string[], pool = DEFAULT_POOL): string {
  const prefix = parseCidr(pool, 'pool');
  const start = ipToBigint(prefix);
  const count = 2 ** (24 - prefix.prefixLen);
  for (let i = 0; i < count; i++) {
    const candidate = `${ipText(4, start + BigInt(i * 256))}/24`;
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  throw invalid(`every /24 of berth's default pool ${pool} is in use`, 'give the network a subnet explicitly');
}

/**
 * Validates options against the existing networks; the result is what the drivers get. What
 * every network has is checked here (its name, its subnets against the others'); the rest is
 * its driver's (`configure`).
 */
export function resolveNetwork(opts: NetworkOptions, existing: readonly NetworkConfig[]): NetworkConfig {
  const name = validateName(opts.name, 'network');
  if (existing.some((n) => n.name === name)) {
    throw invalid(`a network named ${JSON.stringify(name)} already exists`, 'choose another name, or remove it first');
  }
  const driver = opts.driver ?? 'bridge';
  const id = idFor(name);
  const part = networkDriverOf(driver).configure({
    options: opts,
    name,
    id,
    existing,
    subnets: () => subnetsOf(opts, existing),
  });
  return { name, id, driver, ...part };
}

/** The network's subnets, checked against every network that has some: two networks never share an address. */
function subnetsOf(opts: NetworkOptions, existing: readonly NetworkConfig[]): SubnetConfig[] {
  const withSubnets = existing.filter((n) => subnetsHeld(n).length > 0);
  const taken = withSubnets.flatMap(subnetsHeld);
  const subnets: SubnetConfig[] = [parseSubnet(opts.subnet ?? pickSubnet(taken), opts.gateway, 4)];
  if (opts.subnet6) subnets.push(parseSubnet(opts.subnet6, opts.gateway6, 6));
  for (const s of subnets) {
    const clash = withSubnets.find((n) => subnetsHeld(n).some((t) => overlaps(t, s.subnet)));
    if (clash) {
      throw invalid(
        `subnet ${s.subnet} overlaps network ${JSON.stringify(clash.name)} (${subnetsHeld(clash).join(', ')})`,
        'choose a subnet that no other network uses',
      );
    }
  }
  return subnets;
}

/** The subnets a network keeps from others: an overlay's whole subnet (every host's blocks), else its own. */
function subnetsHeld(n: NetworkConfig & { readonly overlay?: { readonly subnet: string } }): string[] {
  return n.overlay ? [n.overlay.subnet] : n.subnets.map((s) => s.subnet);
}
