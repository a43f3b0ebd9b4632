import { NetlinkHandle } from '../../../netlink/index.js';
import type { CheckStep, HostAccess } from '../driver.js';
import { checkAddressesAndRoutes, notAsMade as failed } from '../sandbox.js';
import type { BridgeSettings } from './settings.js';

/**
 * The kernel still holds what the attach made, as `expected` says: the bridge, the host
 * end on it, the sandbox end peered with it, its addresses and routes.
 */
export async function checkBridgeAttachment(host: HostAccess, step: CheckStep<BridgeSettings>): Promise<void> {
  const { settings, netnsPath, ifname, expected } = step;
  const h = host.handle();
  const bridge = await h.getLink(settings.bridge);
  if (bridge?.type !== 'bridge')
    throw failed(`bridge ${settings.bridge} is ${bridge ? `a ${bridge.type} link` : 'missing'} in the host netns`);
  if (bridge.promisc !== settings.promiscuous)
    throw failed(
      `bridge ${settings.bridge} has promiscuous mode ${bridge.promisc ? 'on' : 'off'}, the config says ${settings.promiscuous ? 'on' : 'off'}`,
    );
  const vethName = step.hostLink;
  const veth = await h.getLink(vethName);
  if (!veth) throw failed(`host veth ${vethName} of ${step.name} is missing`);
  if (veth.masterIndex !== bridge.index)
    throw failed(`host veth ${vethName} is not attached to bridge ${settings.bridge}`);

  const inside = NetlinkHandle.open(netnsPath);
  try {
    const link = await inside.getLink(ifname);
    if (!link) throw failed(`interface ${ifname} is missing in ${netnsPath}`);
    if (link.type !== 'veth') throw failed(`interface ${ifname} in ${netnsPath} is a ${link.type} link, not a veth`);
    if (expected.mac && link.mac !== expected.mac)
      throw failed(`interface ${ifname} has MAC ${link.mac}, prevResult says ${expected.mac}`);
    if (link.peerIndex !== veth.index || veth.peerIndex !== link.index) {
      throw failed(`interface ${ifname} in ${netnsPath} is not the peer of host veth ${vethName}`);
    }
    await checkAddressesAndRoutes(inside, link, netnsPath, expected);
  } finally {
    inside.close();
  }
}
