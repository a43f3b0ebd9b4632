import { BerthError, ErrorCode } from '../../base/errors.js';
import { idFor, overlaps } from '../config.js';
import type { Controller } from '../controller.js';
import { defaultBridgeName } from '../drivers/bridge/config.js';
import { driverOf } from '../drivers/index.js';
import type { NetworkRecord } from '../model.js';
import { namesNetworkOf } from '../names/network.js';
import { Network } from '../network.js';
import { openHost } from '../pipeline/host.js';
import { transaction } from '../undo.js';
import { type AgentOptions, type HostOverlay, type LocalSide, OverlayAgent } from './agent.js';
import { gatewayOf } from './blocks.js';
import type { OverlayNetwork } from './model.js';

/**
 * The host's side of the overlay networks: each one the agent holds a block of
 * becomes a network record of this host (driver overlay, its subnet the block),
 * with its bridge and firewall rules, made the way a bridge network is made. From
 * then on endpoints, `berth run`, the CNI plugin, inspect, doctor and gc see it
 * like any other network.
 */

/** An overlay network as this host's record says it; without `host` when no block of it is held here. */
export function overlayRecordOf(net: OverlayNetwork, view?: HostOverlay, createdAt = net.createdAt): NetworkRecord {
  const id = idFor(net.name);
  const block = view?.block;
  return {
    name: net.name,
    id,
    driver: 'overlay',
    bridgeName: defaultBridgeName(net.name, id),
    subnets: block ? [{ subnet: block, gateway: gatewayOf(block), prefixLength: Number(block.split('/')[1]) }] : [],
    mtu: net.mtu || view?.vxlanMtu || 0,
    masquerade: true,
    isolate: true,
    hairpin: true,
    promiscuous: false,
    createdAt,
    ...(net.dns ? { dns: net.dns } : {}),
    overlay: {
      subnet: net.subnet,
      vni: net.vni,
      vxlan: view?.vxlan ?? '',
      ...(view ? { host: { node: view.node, block: view.block, underlay: view.address, vtepMac: view.vtepMac } } : {}),
    },
  };
}

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** A local network in the way of an overlay network: the same name, or a subnet that overlaps it. */
export function localClash(existing: readonly NetworkRecord[], net: OverlayNetwork): BerthError | undefined {
  const same = existing.find((n) => n.name === net.name && n.driver !== 'overlay');
  if (same) {
    return invalid(
      `a ${same.driver} network named ${JSON.stringify(net.name)} exists on this host`,
      'give the overlay network another name, or remove that network here',
    );
  }
  const over = existing.find(
    (n) =>
      n.name !== net.name &&
      (n.overlay ? [n.overlay.subnet] : n.subnets.map((s) => s.subnet)).some((s) => overlaps(s, net.subnet)),
  );
  if (over) {
    return invalid(
      `overlay subnet ${net.subnet} overlaps network ${JSON.stringify(over.name)} of this host (${over.subnets.map((s) => s.subnet).join(', ')})`,
      'give the overlay network a subnet that no network of any host uses',
    );
  }
  return undefined;
}

/** The agent's LocalSide over a Controller: records, bridges and rules in its state dir and host netns. */
export function controllerSide(ctl: Controller): LocalSide {
  const overlays = () => ctl.store.list<NetworkRecord>('networks').filter((n) => n.driver === 'overlay');
  return {
    adopted: () => overlays().flatMap((n) => (n.overlay?.host ? [{ name: n.name, block: n.overlay.host.block }] : [])),

    adopt: (view) =>
      ctl.store.locked(async () => {
        const all = ctl.store.list<NetworkRecord>('networks');
        const clash = localClash(all, view.network);
        if (clash) throw clash;
        const existing = all.find((n) => n.name === view.network.name);
        const rec = overlayRecordOf(view.network, view, existing?.createdAt);
        const before = existing?.overlay?.host?.block;
        if (before && before !== view.block && ctl.endpointRecords().some((e) => e.network === rec.name && e.join)) {
          throw invalid(
            `this host's block of ${rec.name} moved from ${before} to ${view.block} while endpoints here have addresses of the old one`,
            'remove and connect those endpoints again',
          );
        }
        const driver = driverOf('overlay');
        const host = openHost(ctl.hostNetnsPath);
        try {
          await transaction(async (undo) => {
            const { createdBridge } = await driver.createNetwork(host, rec, undo);
            const next = { ...rec, createdBridge: existing?.createdBridge ?? createdBridge };
            // The rules change only with the record: a sync that finds it the same adds nothing.
            if (JSON.stringify(existing) === JSON.stringify(next)) return;
            await ctl.firewall.addNetwork(next);
            ctl.store.write('networks', next.name, next);
          });
        } finally {
          host.close();
        }
        syncNamesSettings(ctl, rec);
      }),

    names: {
      // A CNI conflist's names of the same name (cni) are that network's, never the overlay's.
      local: (network) => {
        const settings = ctl.names.network(network);
        return settings && !settings.cni ? ctl.names.records(network) : undefined;
      },
      imported: (network) => ctl.names.imported(network),
      importNames: (network, put, remove) => {
        for (const r of put) ctl.names.putImported(network, r);
        for (const owner of remove) ctl.names.removeImported(network, owner);
      },
      changedAt: (network) => ctl.names.changedAt(network),
    },

    drop: async (name) => {
      const rec = ctl.store.read<NetworkRecord>('networks', name);
      if (rec?.driver !== 'overlay') return;
      await new Network(ctl, rec).removeHere();
    },
  };
}

/**
 * The name service's settings of an overlay network as its record says: it listens on the
 * gateway of this host's block (on the host's bridge, which every sandbox of the host reaches)
 * and answers for the whole overlay subnet. Names off: its folder goes, imported records too.
 */
function syncNamesSettings(ctl: Controller, rec: NetworkRecord): void {
  const current = ctl.names.network(rec.name);
  // A CNI network's names of the same name (a bridge conflist's) are not the overlay's to touch.
  if (current?.cni) return;
  if (!rec.dns) {
    if (current) ctl.names.removeNetwork(rec.name);
    return;
  }
  const wanted = namesNetworkOf(rec);
  if (JSON.stringify(current) !== JSON.stringify(wanted)) ctl.names.setNetwork(wanted);
}

/** The agent of a Controller's host: its etcd, its host netns, its records as the host's side. */
export async function controllerAgent(
  ctl: Controller,
  options: Omit<AgentOptions, 'cluster' | 'local' | 'hostNetnsPath'>,
): Promise<OverlayAgent> {
  return new OverlayAgent({
    ...options,
    cluster: await ctl.cluster(),
    hostNetnsPath: ctl.hostNetnsPath,
    local: controllerSide(ctl),
  });
}
