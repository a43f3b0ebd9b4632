import ipaddr from 'ipaddr.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { sha256Hex } from '../base/sha256.js';
import { isValidIfName } from '../netlink/names.js';
import { broadcastOf, networkOf, offsetAddress } from './address.js';

export type DriverName = 'bridge' | 'host' | 'null';

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
}

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const DEFAULT_POOL = '10.89.0.0/16';

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** An interface name the kernel accepts, or a typed error that names it. */
export function validateIfname(name: string, what = 'interface name'): string {
  if (!isValidIfName(name)) {
    throw invalid(
      `invalid ${what} ${JSON.stringify(name)}`,
      'Linux interface names are 1 to 15 bytes, without "/", ":" or white space, and not "." or ".."',
    );
  }
  return name;
}

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

export function parseCidr(cidr: string, what: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  try {
    return ipaddr.parseCIDR(cidr);
  } catch {
    throw invalid(`invalid ${what} ${JSON.stringify(cidr)}`, 'write it as address/prefix, e.g. 10.89.0.0/24');
  }
}

/** The subnet's canonical form and gateway, checked: host bits clear, gateway inside and not the network or broadcast. */
export function parseSubnet(subnet: string, gateway: string | undefined, family: 4 | 6): SubnetConfig {
  const [addr, prefix] = parseCidr(subnet, 'subnet');
  const kind = family === 4 ? 'ipv4' : 'ipv6';
  if (addr.kind() !== kind) {
    throw invalid(
      `subnet ${subnet} is not IPv${family}`,
      family === 4 ? 'use subnet6 for IPv6' : 'use subnet for IPv4',
    );
  }
  const network = networkOf(`${addr.toString()}/${prefix}`);
  if (network.toString() !== addr.toString()) {
    throw invalid(`subnet ${subnet} has host bits set`, `did you mean ${network.toString()}/${prefix}?`);
  }
  const usable = family === 4 ? 32 - prefix : 128 - prefix;
  if (usable < 2)
    throw invalid(`subnet ${subnet} is too small`, 'a subnet needs room for a gateway and a container: /30 or larger');
  const canonical = `${network.toString()}/${prefix}`;
  const gw = gateway ?? offsetAddress(network, 1).toString();
  let gwAddr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    gwAddr = ipaddr.parse(gw);
  } catch {
    throw invalid(`invalid gateway ${JSON.stringify(gw)}`, `give an address inside ${canonical}`);
  }
  if (gwAddr.kind() !== kind || !gwAddr.match(network, prefix)) {
    throw invalid(
      `gateway ${gw} is outside the subnet ${canonical}`,
      `give an address inside ${canonical}, e.g. ${offsetAddress(network, 1)}`,
    );
  }
  if (
    gwAddr.toString() === network.toString() ||
    (family === 4 && gwAddr.toString() === broadcastOf(canonical).toString())
  ) {
    throw invalid(
      `gateway ${gw} is the network or broadcast address of ${canonical}`,
      `use e.g. ${offsetAddress(network, 1)}`,
    );
  }
  return { subnet: canonical, gateway: gwAddr.toString(), prefixLength: prefix };
}

/** True when two CIDRs share any address. */
export function overlaps(a: string, b: string): boolean {
  const [aa, ap] = ipaddr.parseCIDR(a);
  const [ba, bp] = ipaddr.parseCIDR(b);
  if (aa.kind() !== ba.kind()) return false;
  return ap <= bp ? ba.match(aa, ap) : aa.match(ba, bp);
}

/** The first /24 of berth's default pool that no existing subnet overlaps. */
export function pickSubnet(taken: readonly string[], pool = DEFAULT_POOL): string {
  const [base, prefix] = ipaddr.parseCIDR(pool);
  const count = 2 ** (24 - prefix);
  for (let i = 0; i < count; i++) {
    const candidate = `${offsetAddress(base, i * 256).toString()}/24`;
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
  if (!['bridge', 'host', 'null'].includes(driver)) {
    throw invalid(`unknown driver ${JSON.stringify(driver)}`, 'use "bridge", "host" or "null"');
  }
  const id = idFor(name);
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
    return { ...base, bridgeName: '', subnets: [] };
  }
  const bridges = existing.filter((n) => n.driver === 'bridge');
  const takenSubnets = bridges.flatMap((n) => n.subnets.map((s) => s.subnet));
  const subnets: SubnetConfig[] = [parseSubnet(opts.subnet ?? pickSubnet(takenSubnets), opts.gateway, 4)];
  if (opts.subnet6) subnets.push(parseSubnet(opts.subnet6, opts.gateway6, 6));
  for (const s of subnets) {
    const clash = bridges.find((n) => n.subnets.some((t) => overlaps(t.subnet, s.subnet)));
    if (clash) {
      throw invalid(
        `subnet ${s.subnet} overlaps network ${JSON.stringify(clash.name)} (${clash.subnets.map((t) => t.subnet).join(', ')})`,
        'choose a subnet that no other network uses',
      );
    }
  }
  const bridgeName = validateIfname(opts.bridgeName ?? defaultBridgeName(name, id), 'bridge name');
  const sameBridge = bridges.find((n) => n.bridgeName === bridgeName);
  if (sameBridge)
    throw invalid(
      `bridge ${bridgeName} already belongs to network ${JSON.stringify(sameBridge.name)}`,
      'give another bridgeName',
    );
  return { ...base, bridgeName, subnets };
}

function defaultBridgeName(name: string, id: string): string {
  const readable = `berth-${name}`;
  return Buffer.byteLength(readable) <= 15 && !/[/:\s]/.test(readable) ? readable : `br-${id}`;
}
