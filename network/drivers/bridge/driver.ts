import { familyOf } from '../../../base/address.js';
import type { NetworkRecord } from '../../model.js';
import { type Driver, ownNetnsOnly } from '../driver.js';
import { checkBridgeAttachment } from './check.js';
import { configureBridge } from './config.js';
import { attachVeth, detachVeth, ensureBridge } from './kernel.js';
import { planBridge } from './plan.js';
import { type BridgeSettings, bridgeSettingsOf, bridgeSpecOf } from './settings.js';

const gatewayAddresses = (net: NetworkRecord) => net.subnets.map((s) => `${s.gateway}/${s.prefixLength}`);

/** A Linux bridge holding the gateway, and a veth pair per attachment whose sandbox end is born in the sandbox. */
export const bridgeDriver: Driver<BridgeSettings> = {
  name: 'bridge',
  networks: true,
  makesInterface: true,
  names: true,
  configure: configureBridge,
  settingsOf: bridgeSettingsOf,
  hostInterface: (settings) => settings.bridge,

  admit: ownNetnsOnly('bridge'),

  async createNetwork(host, net, undo) {
    const h = host.handle();
    const { created } = await ensureBridge(h, bridgeSpecOf(bridgeSettingsOf(net), gatewayAddresses(net)), undo);
    await h.enableForwarding(4);
    if (net.subnets.some((s) => familyOf(s.subnet) === 6)) await h.enableForwarding(6);
    return { createdBridge: created };
  },

  deleteNetwork(host, net) {
    return [
      {
        what: `bridge ${net.bridgeName}`,
        // A bridge berth found rather than made stays (records before this field: berth made it).
        run: () => (net.createdBridge === false ? undefined : host.handle().deleteLink(net.bridgeName)),
      },
    ];
  },

  async attach(host, step, undo) {
    const { settings } = step;
    const plan = planBridge(settings, step.addressing);
    const h = host.handle();
    const spec = bridgeSpecOf(settings, plan.bridgeAddresses);
    await ensureBridge(h, spec, undo);
    for (const family of new Set(plan.bridgeAddresses.map(familyOf))) await h.enableForwarding(family);
    const attached = await attachVeth(
      h,
      spec,
      {
        hostVethName: step.hostLink,
        sandboxNetnsPath: step.netnsPath,
        ifname: step.ifname,
        addresses: plan.ips.map((ip) => ip.address),
        routes: plan.routes.map((r) => ({ dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}) })),
        up: settings.up,
        dad: settings.dad,
        isolated: settings.portIsolation,
        ...(step.mac ? { mac: step.mac } : {}),
      },
      undo,
    );
    const bridge = (await h.getLink(settings.bridge))!;
    return {
      ips: plan.ips,
      routes: plan.routes,
      interfaces: [
        { name: settings.bridge, mac: bridge.mac ?? '' },
        { name: attached.hostVeth.name, mac: attached.hostVeth.mac },
        { name: attached.container.name, mac: attached.container.mac, sandbox: step.netnsPath },
      ],
      hostLink: attached.hostVeth.name,
      mac: attached.container.mac,
    };
  },

  detach(host, step) {
    // By the host end alone: after an attach that failed on a taken ifname, the teardown must
    // not remove the interface that was in the way.
    return [{ what: `veth ${step.hostLink}`, run: () => detachVeth(host.handle(), step.hostLink) }];
  },

  check: checkBridgeAttachment,
};
