import { tryParseCidr, tryParseIp } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { CniDns, CniInterface, CniIPConfig, CniResult, CniRoute, CniVersion } from '../types.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from './version.js';

/**
 * A result as written on the wire for one version. The shapes differ in three ways:
 * 0.3.x and 0.4.0 carry `ips[].version` ("4" or "6"), 1.0.0 dropped it, and 1.1.0
 * added `interfaces[].mtu/socketPath/pciID` and `routes[].mtu/advmss/priority/table/scope`.
 */
export interface ResultJson {
  cniVersion: CniVersion;
  interfaces?: Record<string, string | number>[];
  ips?: Record<string, string | number>[];
  routes?: Record<string, string | number>[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

const hasIpVersionField = (v: CniVersion) => v === '0.3.0' || v === '0.3.1' || v === '0.4.0';
const has11Fields = (v: CniVersion) => v === '1.1.0';

function ipFamily(address: string): '4' | '6' | undefined {
  const family = tryParseIp(address)?.family;
  return family === undefined ? undefined : `${family}`;
}

/** Writes a current-shape result in the shape of `version`, dropping what that version does not know. */
export function encodeResult(result: CniResult, version: CniVersion): ResultJson {
  const out: ResultJson = { cniVersion: version };
  const ext = has11Fields(version);
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) =>
      pick({
        name: i.name,
        mac: i.mac,
        sandbox: i.sandbox,
        mtu: ext ? i.mtu : undefined,
        socketPath: ext ? i.socketPath : undefined,
        pciID: ext ? i.pciID : undefined,
      }),
    );
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => {
      let family: '4' | '6' | undefined;
      if (hasIpVersionField(version)) {
        family = ipFamily(ip.address.split('/')[0]!);
        if (!family) {
          throw new BerthError(
            ErrorCode.Internal,
            `result address "${ip.address}" is not an IP address in CIDR notation`,
          );
        }
      }
      return pick({ version: family, address: ip.address, gateway: ip.gateway, interface: ip.interface });
    });
  }
  if (result.routes?.length) {
    out.routes = result.routes.map((r) =>
      pick({
        dst: r.dst,
        gw: r.gw,
        mtu: ext ? r.mtu : undefined,
        advmss: ext ? r.advmss : undefined,
        priority: ext ? r.priority : undefined,
        table: ext ? r.table : undefined,
        scope: ext ? r.scope : undefined,
      }),
    );
  }
  const dns = result.dns;
  if (dns && (dns.nameservers?.length || dns.domain || dns.search?.length || dns.options?.length)) {
    out.dns = {};
    if (dns.nameservers?.length) out.dns.nameservers = [...dns.nameservers];
    if (dns.domain) out.dns.domain = dns.domain;
    if (dns.search?.length) out.dns.search = [...dns.search];
    if (dns.options?.length) out.dns.options = [...dns.options];
  }
  return out;
}

function pick(o: Record<string, string | number | undefined>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Reads a result of any supported version into the current shape, checking
 * every field; `label` names it in errors (e.g. "prevResult"). The shape is
 * recognised by its fields, not trusted from `cniVersion`, since the shapes of
 * 0.3.0 to 1.1.0 only ever add fields; a version outside those is refused.
 * Errors are code 7 (invalid config), as a result arrives inside a config.
 */
export function decodeResult(raw: unknown, label = 'result'): CniResult {
  const r = asObject(raw, label);
  if (r.cniVersion !== undefined && !isSupportedVersion(r.cniVersion)) {
    throw new BerthError(
      ErrorCode.IncompatibleVersion,
      `${label} has the unsupported cniVersion ${JSON.stringify(r.cniVersion)}`,
      `berth reads results of versions ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const result: {
    interfaces?: CniInterface[];
    ips?: CniIPConfig[];
    routes?: CniRoute[];
    dns?: CniDns;
  } = {};
  const interfaces = optArray(r.interfaces, `${label}.interfaces`);
  if (interfaces) {
    result.interfaces = interfaces.map((x, n) => {
      const at = `${label}.interfaces[${n}]`;
      const i = asObject(x, at);
      const name = optString(i.name, `${at}.name`);
      if (name === undefined || name === '') throw invalid(`${at}.name is missing`, 'every interface has a name');
      return strip<CniInterface>({
        name,
        mac: optString(i.mac, `${at}.mac`),
        mtu: optUint(i.mtu, `${at}.mtu`),
        sandbox: optString(i.sandbox, `${at}.sandbox`),
        socketPath: optString(i.socketPath, `${at}.socketPath`),
        pciID: optString(i.pciID, `${at}.pciID`),
      });
    });
  }
  const ips = optArray(r.ips, `${label}.ips`);
  if (ips) {
    result.ips = ips.map((x, n) => {
      const at = `${label}.ips[${n}]`;
      const ip = asObject(x, at);
      const address = optString(ip.address, `${at}.address`);
      if (address === undefined) throw invalid(`${at}.address is missing`, 'every IP entry has an address');
      checkCidr(address, `${at}.address`);
      const gateway = optString(ip.gateway, `${at}.gateway`);
      if (gateway !== undefined) checkIp(gateway, `${at}.gateway`);
      // ips[].version of 0.3.x/0.4.0 is derived from the address when writing, so a reader drops it.
      return strip<CniIPConfig>({ address, gateway, interface: optUint(ip.interface, `${at}.interface`) });
    });
  }
  const routes = optArray(r.routes, `${label}.routes`);
  if (routes) {
    result.routes = routes.map((x, n) => {
      const at = `${label}.routes[${n}]`;
      const route = asObject(x, at);
      const dst = optString(route.dst, `${at}.dst`);
      if (dst === undefined) throw invalid(`${at}.dst is missing`, 'every route has a destination in CIDR notation');
      checkCidr(dst, `${at}.dst`);
      const gw = optString(route.gw, `${at}.gw`);
      if (gw !== undefined) checkIp(gw, `${at}.gw`);
      return strip<CniRoute>({
        dst,
        gw,
        mtu: optUint(route.mtu, `${at}.mtu`),
        advmss: optUint(route.advmss, `${at}.advmss`),
        priority: optUint(route.priority, `${at}.priority`),
        table: optUint(route.table, `${at}.table`),
        scope: optUint(route.scope, `${at}.scope`),
      });
    });
  }
  if (r.dns !== undefined && r.dns !== null) {
    const d = asObject(r.dns, `${label}.dns`);
    const dns = strip<CniDns>({
      nameservers: optStrings(d.nameservers, `${label}.dns.nameservers`),
      domain: optString(d.domain, `${label}.dns.domain`),
      search: optStrings(d.search, `${label}.dns.search`),
      options: optStrings(d.options, `${label}.dns.options`),
    });
    if (Object.keys(dns).length > 0) result.dns = dns;
  }
  return result;
}

/** A result of any supported version, rewritten in the shape of `to`. */
export function convertResult(raw: unknown, to: CniVersion): ResultJson {
  return encodeResult(decodeResult(raw), to);
}

const invalid = (msg: string, details = '') => new BerthError(ErrorCode.InvalidConfig, msg, details);

function asObject(x: unknown, at: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) {
    throw invalid(`${at} must be an object, not ${describe(x)}`);
  }
  return x as Record<string, unknown>;
}

function optArray(x: unknown, at: string): unknown[] | undefined {
  if (x === undefined || x === null) return undefined;
  if (!Array.isArray(x)) throw invalid(`${at} must be an array, not ${describe(x)}`);
  return x;
}

function optString(x: unknown, at: string): string | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'string') throw invalid(`${at} must be a string, not ${describe(x)}`);
  return x;
}

function optStrings(x: unknown, at: string): string[] | undefined {
  const list = optArray(x, at);
  return list?.map((s, n) => {
    if (typeof s !== 'string') throw invalid(`${at}[${n}] must be a string, not ${describe(s)}`);
    return s;
  });
}

function optUint(x: unknown, at: string): number | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) {
    throw invalid(`${at} must be a whole number from 0 to 4294967295, not ${describe(x)}`);
  }
  return x;
}

function checkIp(s: string, at: string): void {
  if (!ipFamily(s)) throw invalid(`${at} "${s}" is not an IP address`);
}

function checkCidr(s: string, at: string): void {
  if (!tryParseCidr(s)) {
    throw invalid(`${at} "${s}" is not an address in CIDR notation`, 'write it as address/prefix, e.g. 10.88.0.5/16');
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return 'an object';
  return JSON.stringify(x) ?? typeof x;
}

/** Drops absent optional fields so results compare and print without `undefined` keys. */
function strip<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o as T;
}
