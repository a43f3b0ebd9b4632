import { BerthError, ErrorCode } from '../base/errors.js';
import { tryParseMac } from '../base/mac.js';
import { DEFAULT_STATE_DIR } from '../network/state.js';
import type { CniDns } from './types.js';

/** A plugin's own keys of its config, read and checked: each refusal names the key, the value and the fix. */

type Raw = Readonly<Record<string, unknown>>;

export const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

export function bool(raw: Raw, key: string, fallback = false): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean')
    throw invalid(
      `"${key}" must be true or false, not ${JSON.stringify(v)}`,
      `write "${key}": ${fallback ? 'true' : 'false'}`,
    );
  return v;
}

/** A string, or undefined when absent or empty. */
export function str(raw: Raw, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string')
    throw invalid(`"${key}" must be a string, not ${JSON.stringify(v)}`, `give "${key}" as a string`);
  return v;
}

/** An MTU: 0 when absent (the kernel's, or the parent's), else a whole number from 68 to 65535. `name` is how errors name the key. */
export function mtuOf(raw: Raw, key: string, name: string, fix: string): number {
  const mtu = raw[key] ?? 0;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || (mtu !== 0 && (mtu < 68 || mtu > 65535))) {
    throw invalid(`invalid "${name}" ${JSON.stringify(raw[key])}`, fix);
  }
  return mtu;
}

/** A MAC address, lower-case. */
export function mac(value: string, where: string): string {
  if (!tryParseMac(value)) {
    throw invalid(
      `invalid MAC address ${JSON.stringify(value)} in ${where}`,
      'write six hex pairs such as 02:42:ac:11:00:02',
    );
  }
  return value.toLowerCase();
}

/** The type of the "ipam" section; undefined without one (an attachment without addresses). */
export function ipamTypeOf(raw: Raw): string | undefined {
  const ipam = raw.ipam;
  if (ipam === undefined || ipam === null) return undefined;
  if (typeof ipam !== 'object' || Array.isArray(ipam))
    throw invalid('"ipam" must be an object', 'e.g. "ipam": {"type": "berth-ipam", ...}');
  const type = (ipam as Record<string, unknown>).type;
  if (type !== undefined && typeof type !== 'string')
    throw invalid(
      `"ipam.type" must be a string, not ${JSON.stringify(type)}`,
      'name an IPAM plugin, e.g. "berth-ipam"',
    );
  return type || undefined;
}

/** The config's "dns" when it says anything, for the result. */
export function dnsOf(raw: Raw): CniDns | undefined {
  const dns = raw.dns as CniDns | undefined;
  const given =
    !!dns &&
    typeof dns === 'object' &&
    (dns.nameservers !== undefined || dns.search !== undefined || dns.options !== undefined || !!dns.domain);
  return given ? dns : undefined;
}

/**
 * What DEL needs, read without judging the rest: a config that made ADD fail must
 * not make the runtime's DEL fail too (DEL after a failed ADD succeeds).
 */
export function detachConfOf(raw: Raw): { stateDir: string; ipamType?: string; loopback: boolean } {
  const stateDir = typeof raw.stateDir === 'string' && raw.stateDir !== '' ? raw.stateDir : DEFAULT_STATE_DIR;
  const ipam = raw.ipam as { type?: unknown } | null | undefined;
  const ipamType = typeof ipam?.type === 'string' && ipam.type !== '' ? ipam.type : undefined;
  return { stateDir, loopback: raw.loopback === true, ...(ipamType ? { ipamType } : {}) };
}
