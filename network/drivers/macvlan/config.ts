import { validateIfName } from '../../../base/names.js';
import { MACVLAN_MODES } from '../../../netlink/index.js';
import { invalid } from '../configure.js';
import type { DriverConfig, NetworkRequest } from '../options.js';

/**
 * A macvlan network: a parent device, the LAN's subnet and router (the gateway), and nothing of
 * a bridge network's (no bridge, masquerade, isolation or names). MTU 0 is the parent's.
 */
export function configureMacvlan({ options: opts, name, subnets }: NetworkRequest): DriverConfig {
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
    bridgeName: '',
    subnets: subnets(),
    mtu,
    masquerade: false,
    isolate: false,
    hairpin: false,
    promiscuous: false,
    macvlan: { parent, mode },
  };
}
