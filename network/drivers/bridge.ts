import { isSystemError } from '../../netlink/binding.js';
import { NetlinkHandle } from '../../netlink/index.js';
import type { UndoStack } from '../undo.js';

/** What the kernel steps of a bridge network need; plain values, no model. */
export interface BridgeSpec {
  readonly bridgeName: string;
  readonly mtu: number;
  readonly hairpin: boolean;
  readonly promiscuous: boolean;
  /** Gateway addresses with prefix, e.g. '10.89.0.1/24'; put on the bridge when it is the gateway. */
  readonly gatewayAddresses: readonly string[];
}

export interface VethSpec {
  readonly hostVethName: string;
  readonly sandboxNetnsPath: string;
  readonly ifname: string;
  readonly mac?: string;
  /** Addresses with prefix, e.g. '10.89.0.2/24'. */
  readonly addresses: readonly string[];
  /** Default route gateways, one per family, e.g. ['10.89.0.1']. */
  readonly gateways: readonly string[];
}

export interface Attached {
  readonly hostVeth: { readonly name: string; readonly index: number; readonly mac: string };
  readonly container: { readonly name: string; readonly index: number; readonly mac: string };
}

/** A link, address or netns that is already gone: success for a teardown. */
export function isGone(e: unknown): boolean {
  return isSystemError(e) && ['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL'].includes(e.code);
}

/** Creates the bridge when missing and makes it match the spec (MTU, up, gateway addresses, promiscuous). */
export async function ensureBridge(
  host: NetlinkHandle,
  spec: BridgeSpec,
  undo?: UndoStack,
): Promise<{ index: number; mac: string }> {
  let link = await host.getLink(spec.bridgeName);
  if (!link) {
    try {
      await host.createBridge(spec.bridgeName, { mtu: spec.mtu });
      undo?.push(`bridge ${spec.bridgeName}`, () => host.deleteLink(spec.bridgeName));
    } catch (e) {
      if (!isSystemError(e, 'EEXIST')) throw e; // another process made it first
    }
    link = await host.getLink(spec.bridgeName);
    if (!link) throw new Error(`bridge ${spec.bridgeName} vanished right after it was created`);
  } else if (link.type !== 'bridge') {
    throw new Error(
      `${spec.bridgeName} exists but is a ${link.type ?? 'non-bridge'} link, not a bridge; choose another bridge name`,
    );
  }
  if (link.mtu !== spec.mtu) await host.setMtu(spec.bridgeName, spec.mtu);
  if (spec.gatewayAddresses.length > 0) {
    const present = new Set((await host.listAddresses(link.index)).map((a) => a.cidr));
    for (const cidr of spec.gatewayAddresses) {
      if (present.has(cidr)) continue;
      try {
        await host.addAddress(spec.bridgeName, cidr, { noDad: true });
      } catch (e) {
        if (!isSystemError(e, 'EEXIST')) throw e;
      }
    }
  }
  if (spec.promiscuous) await host.setPromisc(spec.bridgeName, true);
  if (!link.up) await host.setLinkUp(spec.bridgeName);
  return { index: link.index, mac: link.mac ?? '' };
}

/**
 * A veth pair whose container end is born in the sandbox's netns under its
 * final name, attached to the bridge; addresses, lo and default routes inside.
 */
export async function attachVeth(
  host: NetlinkHandle,
  bridge: BridgeSpec,
  spec: VethSpec,
  undo: UndoStack,
): Promise<Attached> {
  await host.createVeth(spec.hostVethName, spec.ifname, {
    peerNetnsPath: spec.sandboxNetnsPath,
    mtu: bridge.mtu,
    ...(spec.mac ? { peerMac: spec.mac } : {}),
  });
  // Deleting one end of a veth deletes both, wherever the other end is.
  undo.push(`veth ${spec.hostVethName}`, () => host.deleteLink(spec.hostVethName));
  await host.setMaster(spec.hostVethName, bridge.bridgeName);
  if (bridge.hairpin) await host.setBridgePort(spec.hostVethName, { hairpin: true });
  await host.setLinkUp(spec.hostVethName);
  const hostLink = (await host.getLink(spec.hostVethName))!;

  const inside = await NetlinkHandle.open(spec.sandboxNetnsPath);
  try {
    await inside.setLinkUp('lo');
    for (const cidr of spec.addresses) await inside.addAddress(spec.ifname, cidr, { noDad: true });
    await inside.setLinkUp(spec.ifname);
    for (const gateway of spec.gateways) await inside.addRoute({ dst: 'default', gateway, dev: spec.ifname });
    const container = (await inside.getLink(spec.ifname))!;
    return {
      hostVeth: { name: hostLink.name, index: hostLink.index, mac: hostLink.mac ?? '' },
      container: { name: container.name, index: container.index, mac: container.mac ?? '' },
    };
  } finally {
    inside.close();
  }
}

/** Removes the pair from the host end, or from inside the sandbox when the host end is gone. Gone is success. */
export async function detachVeth(
  host: NetlinkHandle,
  hostVethName: string,
  sandboxNetnsPath: string | undefined,
  ifname: string,
): Promise<void> {
  try {
    await host.deleteLink(hostVethName);
    return;
  } catch (e) {
    if (!isGone(e)) throw e;
  }
  if (!sandboxNetnsPath) return;
  let inside: NetlinkHandle;
  try {
    inside = await NetlinkHandle.open(sandboxNetnsPath);
  } catch (e) {
    if (isGone(e)) return;
    throw e;
  }
  try {
    await inside.deleteLink(ifname);
  } catch (e) {
    if (!isGone(e)) throw e;
  } finally {
    inside.close();
  }
}
