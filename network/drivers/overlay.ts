import { BerthError, ErrorCode } from '../../base/errors.js';
import { bridgeDriver } from './bridge/driver.js';
import { ensureBridge } from './bridge/kernel.js';
import { type BridgeSettings, bridgeSettingsOf, bridgeSpecOf } from './bridge/settings.js';
import { invalid } from './configure.js';
import type { Driver } from './driver.js';

/**
 * An overlay network on this host: a bridge holding the gateway of the host's block, veth
 * pairs to the sandboxes as on a bridge network. The VXLAN device and the routes to the
 * other hosts' blocks are the overlay agent's (network/overlay/); a sandbox's default route
 * goes through the bridge, and the host routes the other blocks through the VXLAN device.
 * The block is the agent's to change, so the bridge's address follows it. Removing the network
 * here removes the VXLAN device too: its entries mean nothing without the network.
 */
const settingsOf = (net: Parameters<Driver['settingsOf']>[0]): BridgeSettings => ({
  ...bridgeSettingsOf(net),
  forceAddress: true,
});

export const overlayDriver: Driver<BridgeSettings> = {
  ...bridgeDriver,
  name: 'overlay',
  settingsOf,

  configure({ name }) {
    throw invalid(
      `overlay network ${name} is not made here`,
      "an overlay network lives in the cluster's store: Controller.createNetwork with an etcd makes it",
    );
  },

  admit(sb, network) {
    if (sb.mode === 'none') return;
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `sandbox ${sb.name} is in ${sb.mode} mode and cannot join overlay network ${network}`,
      sb.mode === 'host'
        ? 'a host-mode sandbox uses the host network as is'
        : `connect sandbox ${sb.shareWith} instead`,
    );
  },

  async createNetwork(host, net, undo) {
    const h = host.handle();
    const gateways = net.subnets.map((s) => `${s.gateway}/${s.prefixLength}`);
    const { created } = await ensureBridge(h, bridgeSpecOf(settingsOf(net), gateways), undo);
    await h.enableForwarding(4);
    return { createdBridge: created };
  },

  deleteNetwork(host, net) {
    return [
      ...bridgeDriver.deleteNetwork(host, net),
      ...(net.overlay?.vxlan
        ? [{ what: `VXLAN device ${net.overlay.vxlan}`, run: () => host.handle().deleteLink(net.overlay!.vxlan) }]
        : []),
    ];
  },
};
