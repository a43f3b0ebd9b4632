import { isValidIfName, validateIfName } from '../../../base/names.js';
import { hostSideOf, invalid, resolveDns } from '../configure.js';
import type { DriverConfig, NetworkRequest } from '../options.js';

/** A new bridge network's options, checked: its subnets, a bridge no other network has, its names. */
export function configureBridge({
  options: opts,
  name,
  id,
  existing,
  subnets: subnetsOf,
}: NetworkRequest): DriverConfig {
  const hostSide = hostSideOf(opts);
  const subnets = subnetsOf();
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
  return { ...hostSide, bridgeName, subnets, ...(dns ? { dns } : {}) };
}

/** berth-NAME, or br-ID when that is longer than an interface name may be. */
export function defaultBridgeName(name: string, id: string): string {
  const readable = `berth-${name}`;
  return isValidIfName(readable) ? readable : `br-${id}`;
}
