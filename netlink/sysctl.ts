import type { Family } from '../base/address.js';
import { InvalidArgumentError } from './errors.js';
import { validateIfName } from './names.js';

/**
 * Sysctl keys as paths under /proc/sys ('net/ipv4/ip_forward'). The slash form
 * is the only one taken: in the dotted form an interface name with a dot
 * (eth0.100) would be ambiguous.
 */
export function sysctlPath(key: string): string {
  const parts = key.split('/');
  if (key === '' || parts.some((p) => p === '' || p === '.' || p === '..' || /[\s\0]/.test(p))) {
    throw new InvalidArgumentError(
      `invalid sysctl key '${key}': expected a path under /proc/sys like net/ipv4/ip_forward, without empty, '.' or '..' parts`,
    );
  }
  return `/proc/sys/${key}`;
}

/** The key of a per-interface setting: net/ipv4/conf/<ifname>/<setting>. */
export function interfaceSysctlKey(family: Family, ifname: string, setting: string): string {
  if (ifname !== 'all' && ifname !== 'default') validateIfName(ifname);
  if (setting === '' || setting.includes('/')) {
    throw new InvalidArgumentError(`invalid interface sysctl '${setting}': expected one name like rp_filter`);
  }
  return `net/ipv${family}/conf/${ifname}/${setting}`;
}

export function forwardingKey(family: Family): string {
  return family === 4 ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding';
}
