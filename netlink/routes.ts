import { type Family, formatIp, type IpAddress, type IpPrefix } from '../base/address.js';
import { type NlMsg, type NlWriter, readRtmsg } from './codec.js';
import {
  AF_UNSPEC,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_NEWROUTE,
  RTMSG_LEN,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { afOf, familyOfAf, parseCidr, parseIp } from './ip.js';
import type { LinkRef } from './links.js';
import { type Scope, type ScopeName, scopeName, scopeNumber } from './scopes.js';

/** Route requests and replies (RTM_*ROUTE), as pure functions over the codec. */

export interface RouteSpec {
  /** 'default' or a prefix: '10.1.0.0/16', 'fd00::/64'. */
  dst: string;
  gateway?: string;
  dev?: LinkRef;
  /** Defaults to 'link' for a route without a gateway and 'universe' with one, as `ip route` does. */
  scope?: ScopeName;
  /** Defaults to the main table (254). */
  table?: number;
  metric?: number;
  /** The preferred source address (RTA_PREFSRC). */
  src?: string;
  /** Needed only when nothing else tells: dst 'default' with neither gateway nor src. */
  family?: Family;
  /**
   * Take the gateway as reachable on dev even though no address of dev covers it
   * (RTNH_F_ONLINK), as flannel routes a remote host's block via the VXLAN device.
   */
  onlink?: boolean;
}

export interface Route {
  readonly family: Family;
  /** 'default' or the prefix. */
  readonly dst: string;
  readonly gateway?: string;
  /** The output link's ifindex. */
  readonly dev?: number;
  readonly src?: string;
  readonly scope: Scope;
  readonly table: number;
  /** 'kernel', 'boot', 'static', 'dhcp', 'ra'..., or the number. */
  readonly protocol: string | number;
  /** 'unicast', 'local', 'broadcast', 'multicast'..., or the number. */
  readonly type: string | number;
  readonly metric?: number;
  /** Present when the route has RTNH_F_ONLINK. */
  readonly onlink?: true;
}

export interface RouteFilter {
  family?: Family;
  /** A table id; default the main table (254), 0 for every table. */
  table?: number;
}

/** A RouteSpec checked and parsed, with the device resolved to its index. */
export interface RouteRequest {
  readonly family: Family;
  readonly dst: IpPrefix | undefined;
  readonly gateway: IpAddress | undefined;
  readonly src: IpAddress | undefined;
  readonly oif: number | undefined;
  readonly scope: ScopeName | undefined;
  readonly table: number;
  readonly metric: number | undefined;
  readonly onlink: boolean;
}

const PROTOCOLS: Readonly<Record<number, string>> = {
  0: 'unspec',
  1: 'redirect',
  2: 'kernel',
  3: 'boot',
  4: 'static',
  9: 'ra',
  16: 'dhcp',
};

const TYPES: readonly string[] = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
];

function checkU32(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xffffffff)) {
    throw new InvalidArgumentError(`invalid ${what} ${value}: must be an integer from 0 to 4294967295`);
  }
}

/** Parses and checks a RouteSpec; `oif` is its dev, already resolved. */
export function routeRequest(spec: RouteSpec, oif: number | undefined): RouteRequest {
  const dst = spec.dst === 'default' ? undefined : parseCidr(spec.dst, 'route destination');
  const gateway = spec.gateway === undefined ? undefined : parseIp(spec.gateway, 'gateway');
  const src = spec.src === undefined ? undefined : parseIp(spec.src, 'route source');
  const families = [spec.family, dst?.family, gateway?.family, src?.family].filter((f) => f !== undefined);
  const family = families[0];
  if (family === undefined) {
    throw new InvalidArgumentError(
      `route '${spec.dst}' does not say its family: give family 4 or 6, a gateway or a source address`,
    );
  }
  if (families.some((f) => f !== family)) {
    throw new InvalidArgumentError(
      `route '${spec.dst}' mixes IPv4 and IPv6 (gateway '${spec.gateway ?? ''}', src '${spec.src ?? ''}', family ${spec.family ?? '-'})`,
    );
  }
  if (spec.scope !== undefined && scopeNumber(spec.scope) === undefined) {
    throw new InvalidArgumentError(`invalid route scope '${spec.scope}': use universe, site, link, host or nowhere`);
  }
  checkU32(spec.table, 'route table');
  checkU32(spec.metric, 'route metric');
  if (spec.onlink && (!gateway || oif === undefined)) {
    throw new InvalidArgumentError(
      `onlink route '${spec.dst}' needs both a gateway and a dev: onlink says the gateway is on dev`,
    );
  }
  return {
    family,
    dst,
    gateway,
    src,
    oif,
    scope: spec.scope,
    table: spec.table ?? RT_TABLE_MAIN,
    metric: spec.metric,
    onlink: spec.onlink === true,
  };
}

/**
 * RTM_NEWROUTE / RTM_DELROUTE, as iproute2 builds them. A delete leaves
 * protocol, type and scope open (scope 'nowhere' matches any), so it finds the
 * route whoever made it. Tables above 255 do not fit rtm_table and go in RTA_TABLE.
 */
export function writeRoute(w: NlWriter, r: RouteRequest, forDelete: boolean): void {
  let scope: number;
  if (r.scope !== undefined) scope = scopeNumber(r.scope);
  else if (forDelete) scope = RT_SCOPE_NOWHERE;
  else scope = r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  w.rtmsg({
    family: afOf(r.family),
    dstLen: r.dst?.prefixLen ?? 0,
    table: r.table < 256 ? r.table : RT_TABLE_UNSPEC,
    protocol: forDelete ? 0 : RTPROT_BOOT,
    scope,
    type: forDelete ? RTN_UNSPEC : RTN_UNICAST,
    flags: r.onlink ? RTNH_F_ONLINK : 0,
  });
  if (r.table >= 256) w.u32(RTA_TABLE, r.table);
  if (r.dst) w.bytes(RTA_DST, r.dst.bytes);
  if (r.gateway) w.bytes(RTA_GATEWAY, r.gateway.bytes);
  if (r.oif !== undefined) w.u32(RTA_OIF, r.oif);
  if (r.src) w.bytes(RTA_PREFSRC, r.src.bytes);
  if (r.metric !== undefined) w.u32(RTA_PRIORITY, r.metric);
}

/** RTM_GETROUTE dump; with strict checking on, the kernel filters by table itself. */
export function writeListRoutes(w: NlWriter, filter: RouteFilter): void {
  const table = filter.table ?? RT_TABLE_MAIN;
  checkU32(table, 'route table');
  w.rtmsg({ family: filter.family ? afOf(filter.family) : AF_UNSPEC, table: table < 256 ? table : RT_TABLE_UNSPEC });
  if (table >= 256) w.u32(RTA_TABLE, table);
}

/** A Route from an RTM_NEWROUTE reply; undefined for other messages, families, and tables the filter excludes. */
export function parseRoute(msg: NlMsg, filter: RouteFilter = {}): Route | undefined {
  if (msg.type !== RTM_NEWROUTE) return undefined;
  const rtm = readRtmsg(msg);
  const family = familyOfAf(rtm.family);
  if (!family || (filter.family && filter.family !== family)) return undefined;
  const attrs = msg.attrs(RTMSG_LEN);
  const table = attrs.u32(RTA_TABLE) ?? rtm.table;
  const wanted = filter.table ?? RT_TABLE_MAIN;
  if (wanted !== RT_TABLE_UNSPEC && table !== wanted) return undefined;
  const dst = attrs.raw(RTA_DST);
  const gateway = attrs.raw(RTA_GATEWAY);
  const oif = attrs.u32(RTA_OIF);
  const src = attrs.raw(RTA_PREFSRC);
  const metric = attrs.u32(RTA_PRIORITY);
  return {
    family,
    dst: dst && rtm.dstLen > 0 ? `${formatIp(dst)}/${rtm.dstLen}` : 'default',
    ...(gateway ? { gateway: formatIp(gateway) } : {}),
    ...(oif !== undefined ? { dev: oif } : {}),
    ...(src ? { src: formatIp(src) } : {}),
    scope: scopeName(rtm.scope),
    table,
    protocol: PROTOCOLS[rtm.protocol] ?? rtm.protocol,
    type: TYPES[rtm.type] ?? rtm.type,
    ...(metric !== undefined ? { metric } : {}),
    ...(rtm.flags & RTNH_F_ONLINK ? { onlink: true as const } : {}),
  };
}
