import { readFileSync } from 'node:fs';
import { canonicalIp } from '../../base/address.js';
import { isSystemError } from '../../base/binding.js';
import { parseResolvConf } from '../ipam/dns.js';

/** The host's resolver settings; BERTH_RESOLV_CONF names another file (the tests' own resolver). */
export const hostResolvConfPath = (): string => process.env.BERTH_RESOLV_CONF || '/etc/resolv.conf';

/** systemd-resolved's stub, and the file where it writes the upstreams it forwards to. */
export const SYSTEMD_STUB = '127.0.0.53';
export const SYSTEMD_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

/**
 * The resolvers names are forwarded to: the nameservers of the host's resolv.conf, with
 * systemd-resolved's stub replaced by the upstreams it uses, as Docker does (the stub answers only
 * on the host's loopback). `systemdText` is the stub's resolv.conf, when there is one.
 */
export function upstreamsFrom(hostText: string, systemdText?: string): string[] {
  const servers = parseResolvConf(hostText).nameservers;
  const replaced = servers.flatMap((s) =>
    s === SYSTEMD_STUB && systemdText !== undefined
      ? parseResolvConf(systemdText).nameservers.filter((u) => u !== SYSTEMD_STUB)
      : [s],
  );
  return [...new Set(replaced.filter((s) => canonicalIp(s) !== undefined))];
}

/** The host's resolv.conf and, when it names systemd-resolved's stub, the stub's; each undefined when it cannot be read. */
export function hostResolverFiles(path = hostResolvConfPath()): { text?: string; systemdText?: string } {
  const text = readText(path);
  const systemdText = text?.includes(SYSTEMD_STUB) ? readText(SYSTEMD_RESOLV_CONF) : undefined;
  return { ...(text === undefined ? {} : { text }), ...(systemdText === undefined ? {} : { systemdText }) };
}

/** The host's upstreams now; none when its resolv.conf cannot be read. */
export function readUpstreams(path = hostResolvConfPath()): string[] {
  const files = hostResolverFiles(path);
  return files.text === undefined ? [] : upstreamsFrom(files.text, files.systemdText);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isSystemError(e)) return undefined;
    throw e;
  }
}
