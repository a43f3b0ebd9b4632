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
import { isValidIfName, validateDnsName, validateIfName } from '../base/names.js';
import { sha256Hex } from '../base/sha256.js';
import { MACVLAN_MODES, type MacvlanMode } from '../netlink/index.js';
import { type DriverName, networkDriverOf } from './drivers/index.js';

export type { DriverName } from './drivers/index.js';
// The callers above network/ (plugins, cli) take the modes from here, not from netlink/.
export { MACVLAN_MODES, type MacvlanMode };

/** What a caller asks for when creating a network; everything but the name is optional. */
export interface NetworkOptions {
  readonly name: string;
  readonly driver?: DriverName;
  readonly subnet?: string;
  readonly gateway?: string;
  readonly subnet6?: string;
  readonly gateway6?: string;
  readonly bridgeName?: string;
  readonly mtu?: number;
  /** MASQUERADE traffic from the subnet to outside it. Default true. */
  readonly masquerade?: boolean;
  /** Drop traffic between this bridge network and other berth bridge networks. Default true, as Docker. */
  readonly isolate?: boolean;
  readonly hairpin?: boolean;
  readonly promiscuous?: boolean;
  /**
   * Names on this network: a name service on the gateway answers the sandboxes' names and
   * aliases to the network's sandboxes (bridge networks only). true, or a domain that names are
   * also answered under and that the sandboxes search. Default off in the library; the berth
   * command turns it on.
   */
  readonly dns?: boolean | { readonly domain?: string };
  /** macvlan: the device on the LAN, and how its sandboxes reach each other (default bridge). */
  readonly macvlan?: { readonly parent: string; readonly mode?: MacvlanMode };
  /** overlay: the VXLAN network identifier (default: the lowest free one). */
  readonly vni?: number;
  /** overlay: the size of each host's block of the subnet (default 24). */
  readonly blockPrefix?: number;
}

export interface SubnetConfig {
  readonly subnet: string; // canonical CIDR
  readonly gateway: string; // address only
  readonly prefixLength: number;
}

/** A validated network: every default resolved, every value checked. */
export interface NetworkConfig {
  readonly name: string;
  readonly id: string;
  readonly driver: DriverName;
  readonly bridgeName: string;
  readonly subnets: readonly SubnetConfig[];
  readonly mtu: number;
  readonly masquerade: boolean;
  readonly isolate: boolean;
  readonly hairpin: boolean;
  readonly promiscuous: boolean;
  /** Names are on; absent, off. */
  readonly dns?: { readonly domain?: string };
  /** A macvlan network's parent device and mode. */
  readonly macvlan?: { readonly parent: string; readonly mode: MacvlanMode };
}

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

/** Validates options against the existing networks; the result is what the drivers get. */
export function resolveNetwork(opts: NetworkOptions, existing: readonly NetworkConfig[]): NetworkConfig {
  const name = validateName(opts.name, 'network');
  if (existing.some((n) => n.name === name)) {
    throw invalid(`a network named ${JSON.stringify(name)} already exists`, 'choose another name, or remove it first');
  }
  const driver = opts.driver ?? 'bridge';
  networkDriverOf(driver);
  if (driver === 'overlay') {
    throw invalid(
      `overlay network ${name} is not made here`,
      "an overlay network lives in the cluster's store: Controller.createNetwork with an etcd makes it",
    );
  }
  const id = idFor(name);
  if (driver === 'macvlan') return resolveMacvlan(opts, existing, name, id);
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
    throw invalid(`invalid MTU ${JSON.stringify(opts.mtu)}`, 'give a whole number from 68 to 65535');
  const base = {
    name,
    id,
    driver,
    mtu,
    masquerade: opts.masquerade ?? true,
    isolate: opts.isolate ?? true,
    hairpin: opts.hairpin ?? true,
    promiscuous: opts.promiscuous ?? false,
  };
  if (driver !== 'bridge') {
    if (opts.subnet || opts.subnet6 || opts.bridgeName) {
      throw invalid(`the ${driver} driver takes no subnet or bridge`, 'leave them out, or use the bridge driver');
    }
    if (opts.dns) {
      throw invalid(
        `the ${driver} driver has no names: its name service listens on a bridge's gateway`,
        'leave dns out, or use the bridge driver',
      );
    }
    return { ...base, bridgeName: '', subnets: [] };
  }
  const subnets = subnetsOf(opts, existing);
  const bridgeName = validateIfName(opts.bridgeName ?? defaultBridgeName(name, id), 'bridge name');
  const sameBridge = existing.find(
    (n) => (n.driver === 'bridge' || n.driver === 'overlay') && n.bridgeName === bridgeName,
  );
  if (sameBridge)
    throw invalid(
      `bridge ${bridgeName} already belongs to network ${JSON.stringify(sameBridge.name)}`,
      'give another bridgeName',
    );
  const dns = resolveDns(opts.dns);
  return { ...base, bridgeName, subnets, ...(dns ? { dns } : {}) };
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

/**
 * A macvlan network: a parent device, the LAN's subnet and router (the gateway), and nothing of
 * a bridge network's (no bridge, masquerade, isolation or names). MTU 0 is the parent's.
 */
function resolveMacvlan(
  opts: NetworkOptions,
  existing: readonly NetworkConfig[],
  name: string,
  id: string,
): NetworkConfig {
  const given = (['bridgeName', 'masquerade', 'isolate', 'hairpin', 'promiscuous', 'dns'] as const).filter(
    (k) => opts[k] !== undefined && opts[k] !== false,
  );
  if (given.length > 0) {
    throw invalid(
      `a macvlan network has no ${given.join(', ')}: its sandboxes are on the LAN with addresses of their own`,
      'leave them out, or use the bridge driver',
    );
  }
  const parent = opts.macvlan?.parent;
  if (!parent) {
    throw invalid(`macvlan network ${name} needs a parent: the device on the LAN`, 'give one, e.g. parent eth0');
  }
  validateIfName(parent, 'parent device name');
  const mode = opts.macvlan?.mode ?? 'bridge';
  if (!MACVLAN_MODES.includes(mode)) {
    throw invalid(`invalid macvlan mode ${JSON.stringify(mode)}`, `use ${MACVLAN_MODES.join(', ')}`);
  }
  if (!opts.subnet) {
    throw invalid(
      `macvlan network ${name} needs the subnet of its LAN`,
      "give it, and the LAN's router as gateway unless that is the subnet's first address",
    );
  }
  const mtu = opts.mtu ?? 0;
  if (!Number.isInteger(mtu) || (opts.mtu !== undefined && (mtu < 68 || mtu > 65535)))
    throw invalid(
      `invalid MTU ${JSON.stringify(opts.mtu)}`,
      "give a whole number from 68 to 65535, or none for the parent's",
    );
  return {
    name,
    id,
    driver: 'macvlan',
    bridgeName: '',
    subnets: subnetsOf(opts, existing),
    mtu,
    masquerade: false,
    isolate: false,
    hairpin: false,
    promiscuous: false,
    macvlan: { parent, mode },
  };
}

/** A network's names option, checked: undefined when off. */
export function resolveDns(dns: NetworkOptions['dns']): NetworkConfig['dns'] {
  if (dns === undefined || dns === false) return undefined;
  if (dns === true) return {};
  if (typeof dns !== 'object' || dns === null) {
    throw invalid(`invalid dns ${JSON.stringify(dns)}`, 'give true, false or { domain: "..." }');
  }
  return dns.domain === undefined ? {} : { domain: validateDnsName(dns.domain, 'DNS domain') };
}

/** The subnets a network keeps from others: an overlay's whole subnet (every host's blocks), else its own. */
function subnetsHeld(n: NetworkConfig & { readonly overlay?: { readonly subnet: string } }): string[] {
  return n.overlay ? [n.overlay.subnet] : n.subnets.map((s) => s.subnet);
}

/** berth-NAME, or br-ID when that is longer than an interface name may be. */
export function defaultBridgeName(name: string, id: string): string {
  const readable = `berth-${name}`;
  return isValidIfName(readable) ? readable : `br-${id}`;
}
