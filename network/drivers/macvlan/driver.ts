import { type Driver, ownNetnsOnly } from '../driver.js';
import { configureMacvlan } from './config.js';
import { attachMacvlan, checkMacvlanAttachment, deleteMacvlan, findParent } from './kernel.js';
import { type MacvlanSettings, macvlanSettingsOf } from './settings.js';

/**
 * Docker's macvlan: each sandbox on the LAN of a parent device with a MAC and an address of its
 * own, the LAN's router as its gateway. No bridge, no host end, no masquerade and no published
 * ports: nothing of the host stands between the sandbox and the LAN (in bridge mode the host itself
 * cannot reach its sandboxes through the parent; that is the kernel's macvlan, not a fault).
 */
export const macvlanDriver: Driver<MacvlanSettings> = {
  name: 'macvlan',
  networks: true,
  makesInterface: true,
  names: false,
  configure: configureMacvlan,
  settingsOf: macvlanSettingsOf,
  hostInterface: () => undefined,
  admit: ownNetnsOnly('macvlan'),

  async createNetwork(host, net) {
    await findParent(host.handle(), macvlanSettingsOf(net), 'the host netns');
    return {};
  },

  deleteNetwork: () => [],

  attach: attachMacvlan,

  detach(_host, step) {
    const { netnsPath, ifname } = step;
    if (!netnsPath || !ifname) return [];
    return [{ what: `macvlan ${ifname} in ${netnsPath}`, run: () => deleteMacvlan(netnsPath, ifname) }];
  },

  check: checkMacvlanAttachment,
};
