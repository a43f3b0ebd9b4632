import { BerthError, ErrorCode } from '../../base/errors.js';
import { DEFAULT_DATA_DIR } from './file-store.js';
import {
  formatIp,
  parseCidr,
  parseIp,
  parseRange,
  parseRangeSet,
  type RangeConfig,
  type RangeSet,
  rangeSetsOverlap,
} from './range.js';

/** A route of the IPAM config, passed through to the CNI result. */
export interface Route {
  /** CIDR, canonical address text. */
  readonly dst: string;
  readonly gw?: string;
  /** Spec 1.1.0's route attributes, which host-local passes through as written; older results drop them. */
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

/** The 1.1.0 route attributes and their largest value (a route's scope is one byte in rtmsg). */
const ROUTE_ATTRIBUTES = [
  ['mtu', 0xffffffff],
  ['advmss', 0xffffffff],
  ['priority', 0xffffffff],
  ['table', 0xffffffff],
  ['scope', 255],
] as const;

/** host-local's IPAM config, validated. */
export interface IpamConfig {
  readonly type: string;
  /** The network's name: the folder of its reservations under dataDir. */
  readonly name: string;
  readonly cniVersion: string;
  readonly dataDir: string;
  /** Runtime `ipRanges` first, then the old single-range keys, then `ranges`, as host-local orders them. */
  readonly rangeSets: readonly RangeSet[];
  readonly routes: readonly Route[];
  readonly resolvConf?: string;
  /** From CNI_ARGS `IP=`, `args.cni.ips` and `runtimeConfig.ips`, canonical. */
  readonly requestedIPs: readonly string[];
}

const bad = (msg: string, details: string) => new BerthError(ErrorCode.InvalidConfig, msg, details);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw bad(`${where}.${key} must be a string, not ${JSON.stringify(v)}`, `write it in quotes`);
  return v;
}

function rangeConfig(v: unknown, where: string): RangeConfig {
  if (!isObject(v) || typeof v.subnet !== 'string') {
    throw bad(
      `${where} must be an object with a "subnet", not ${JSON.stringify(v)}`,
      'e.g. {"subnet": "10.22.0.0/16"}',
    );
  }
  const out: { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string } = { subnet: v.subnet };
  for (const key of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const s = optionalString(v, key, where);
    if (s !== undefined) out[key] = s;
  }
  return out;
}

function rangeSetConfigs(v: unknown, where: string): { raws: RangeConfig[]; where: string }[] {
  if (!Array.isArray(v)) {
    throw bad(`${where} must be a list of range sets, not ${JSON.stringify(v)}`, 'e.g. [[{"subnet": "10.22.0.0/16"}]]');
  }
  return v.map((set, i) => {
    if (!Array.isArray(set)) {
      throw bad(
        `${where}[${i}] must be a list of ranges, not ${JSON.stringify(set)}`,
        'each range set is a list: [[{"subnet": "10.22.0.0/16"}], [{"subnet": "fd00:22::/64"}]]',
      );
    }
    return { raws: set.map((r, j) => rangeConfig(r, `${where}[${i}][${j}]`)), where: `${where}[${i}]` };
  });
}

function requestedIp(v: unknown, where: string): string {
  // runtimeConfig.ips may carry a prefix length ("10.22.0.5/16"); the address is what counts.
  const ip = typeof v !== 'string' ? undefined : v.includes('/') ? parseCidr(v)?.ip : parseIp(v);
  if (!ip) {
    throw bad(`${where} ${JSON.stringify(v)} is not an IP address`, 'write an address such as 10.22.0.5 or fd00:22::5');
  }
  return formatIp(ip);
}

/** The `IP=` of CNI_ARGS ("K=V;K=V"); other keys belong to other plugins and are ignored. */
export function requestedIpFromArgs(cniArgs: string): string | undefined {
  let found: string | undefined;
  for (const pair of cniArgs.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new BerthError(
        ErrorCode.InvalidEnvironment,
        `CNI_ARGS holds ${JSON.stringify(pair)}, not a KEY=VALUE pair`,
        'CNI_ARGS is a list of KEY=VALUE pairs separated by ";", e.g. "IgnoreUnknown=1;IP=10.22.0.5"',
      );
    }
    if (pair.slice(0, eq) !== 'IP') continue;
    const value = pair.slice(eq + 1);
    const ip = parseIp(value);
    if (!ip) {
      throw new BerthError(
        ErrorCode.InvalidEnvironment,
        `CNI_ARGS IP=${value} is not an IP address`,
        'write IP=<address>, e.g. IP=10.22.0.5',
      );
    }
    found = formatIp(ip);
  }
  return found;
}

function versionBelow(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a < major || (a === major && b < minor);
}

/**
 * Parses a network config (the whole of it, as an IPAM plugin receives it) for
 * host-local's `ipam` section: `ranges`, the old `subnet`/`rangeStart`/
 * `rangeEnd`/`gateway` keys, `routes`, `dataDir`, `resolvConf`, and the
 * requested addresses of CNI_ARGS, `args.cni.ips` and `runtimeConfig.ips`.
 */
export function parseIpamConfig(netconf: unknown, cniArgs = ''): IpamConfig {
  if (!isObject(netconf)) throw bad('the network config is not a JSON object', 'pass the network config on stdin');
  const ipam = netconf.ipam;
  if (!isObject(ipam)) {
    throw bad(
      'the network config has no "ipam" object',
      'add e.g. "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.22.0.0/16"}]]}',
    );
  }
  const name = netconf.name;
  if (typeof name !== 'string' || name === '') {
    throw bad('the network config has no "name"', 'name the network: its reservations are kept under dataDir/<name>');
  }
  const cniVersion = typeof netconf.cniVersion === 'string' ? netconf.cniVersion : '';
  const runtime = isObject(netconf.runtimeConfig) ? netconf.runtimeConfig : {};

  const requested: string[] = [];
  const fromEnv = requestedIpFromArgs(cniArgs);
  if (fromEnv) requested.push(fromEnv);
  const argsIps = isObject(netconf.args) && isObject(netconf.args.cni) ? netconf.args.cni.ips : undefined;
  if (argsIps !== undefined) {
    if (!Array.isArray(argsIps))
      throw bad(`args.cni.ips must be a list, not ${JSON.stringify(argsIps)}`, 'e.g. ["10.22.0.5"]');
    requested.push(...argsIps.map((v, i) => requestedIp(v, `args.cni.ips[${i}]`)));
  }
  if (runtime.ips !== undefined) {
    if (!Array.isArray(runtime.ips)) {
      throw bad(`runtimeConfig.ips must be a list, not ${JSON.stringify(runtime.ips)}`, 'e.g. ["10.22.0.5/16"]');
    }
    requested.push(...runtime.ips.map((v, i) => requestedIp(v, `runtimeConfig.ips[${i}]`)));
  }

  const sources: { raws: RangeConfig[]; where: string }[] = [];
  if (runtime.ipRanges !== undefined) sources.push(...rangeSetConfigs(runtime.ipRanges, 'runtimeConfig.ipRanges'));
  if (ipam.subnet !== undefined && ipam.subnet !== null && ipam.subnet !== '') {
    sources.push({ raws: [rangeConfig(ipam, 'ipam')], where: 'ipam' });
  }
  if (ipam.ranges !== undefined && ipam.ranges !== null) sources.push(...rangeSetConfigs(ipam.ranges, 'ipam.ranges'));
  if (sources.length === 0) {
    throw bad(
      'the ipam section has no address ranges',
      'add "ranges": [[{"subnet": "10.22.0.0/16"}]] (one list per address family), or the old "subnet" key',
    );
  }
  // The old single-range keys are a set of one range; messages name them as written (ipam.subnet).
  const rangeSets = sources.map((s) =>
    s.where === 'ipam' ? [parseRange(s.raws[0]!, 'ipam')] : parseRangeSet(s.raws, s.where),
  );

  const v4 = rangeSets.filter((s) => s[0]!.family === 4).length;
  const v6 = rangeSets.length - v4;
  if ((v4 > 1 || v6 > 1) && versionBelow(cniVersion, 0, 3)) {
    throw bad(
      `cniVersion ${cniVersion} allows one address per family, but the config has ${v4} IPv4 and ${v6} IPv6 range sets`,
      'use cniVersion 0.3.0 or later, or keep one range set per family',
    );
  }
  for (let i = 0; i < rangeSets.length; i++) {
    for (let j = i + 1; j < rangeSets.length; j++) {
      if (rangeSetsOverlap(rangeSets[i]!, rangeSets[j]!)) {
        throw bad(
          `range sets ${sources[i]!.where} and ${sources[j]!.where} overlap`,
          'each address belongs to at most one range set; make their ranges disjoint or merge them into one set',
        );
      }
    }
  }

  const dataDir = optionalString(ipam, 'dataDir', 'ipam') || DEFAULT_DATA_DIR;
  const resolvConf = optionalString(ipam, 'resolvConf', 'ipam') || undefined;
  const type = optionalString(ipam, 'type', 'ipam') ?? '';
  return {
    type,
    name,
    cniVersion,
    dataDir,
    rangeSets,
    routes: parseRoutes(ipam.routes),
    ...(resolvConf ? { resolvConf } : {}),
    requestedIPs: requested,
  };
}

function parseRoutes(v: unknown): Route[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v))
    throw bad(`ipam.routes must be a list, not ${JSON.stringify(v)}`, 'e.g. [{"dst": "0.0.0.0/0"}]');
  return v.map((r, i) => {
    const where = `ipam.routes[${i}]`;
    if (!isObject(r) || typeof r.dst !== 'string') {
      throw bad(`${where} must be an object with a "dst", not ${JSON.stringify(r)}`, 'e.g. {"dst": "0.0.0.0/0"}');
    }
    const dst = parseCidr(r.dst);
    if (!dst) throw bad(`${where}.dst ${JSON.stringify(r.dst)} is not a CIDR`, 'e.g. "0.0.0.0/0" or "10.0.0.0/8"');
    const gwText = optionalString(r, 'gw', where);
    const route: { -readonly [K in keyof Route]: Route[K] } = { dst: `${formatIp(dst.ip)}/${dst.prefixLength}` };
    for (const [key, max] of ROUTE_ATTRIBUTES) {
      const v = r[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
        throw bad(`${where}.${key} ${JSON.stringify(v)} is not a whole number from 0 to ${max}`, `e.g. "${key}": 0`);
      }
      route[key] = v;
    }
    if (gwText !== undefined) {
      const gw = parseIp(gwText);
      if (!gw)
        throw bad(`${where}.gw ${JSON.stringify(gwText)} is not an IP address`, 'e.g. "10.22.0.1", or leave gw out');
      if (gw.family !== dst.ip.family) {
        throw bad(
          `${where}.gw ${gwText} is not of the family of dst ${r.dst}`,
          'a route and its gateway share a family',
        );
      }
      route.gw = formatIp(gw);
    }
    return route;
  });
}
