import { familyOf, subnetOf } from '../../../base/address.js';
import { isSystemError } from '../../../base/binding.js';
import { BerthError, ErrorCode } from '../../../base/errors.js';
import { NetlinkHandle } from '../../../netlink/index.js';
import { isGone, type UndoStack } from '../../undo.js';
import { addRouteAfterOthers, type RouteSpec } from '../sandbox.js';

/** What the kernel steps of a bridge network need; plain values, no model. */
export interface BridgeSpec {
  readonly bridgeName: string;
  /** 0: the kernel's default. */
  readonly mtu: number;
  readonly hairpin: boolean;
  readonly promiscuous: boolean;
  /** Gateway addresses with prefix, e.g. '10.89.0.1/24'; put on the bridge when it is the gateway. */
  readonly gatewayAddresses: readonly string[];
  /** Replace a different address of the bridge in the way of a gateway address, instead of failing. */
  readonly forceAddress?: boolean;
}

export interface VethSpec {
  readonly hostVethName: string;
  readonly sandboxNetnsPath: string;
  readonly ifname: string;
  readonly mac?: string;
  /** Addresses with prefix, e.g. '10.89.0.2/24'. */
  readonly addresses: readonly string[];
  /** Routes inside the sandbox through the container interface. */
  readonly routes: readonly RouteSpec[];
  /** Bring the container interface up (default true); routes need it up, so a down one gets none. */
  readonly up?: boolean;
  /** Run duplicate address detection on the IPv6 addresses (default false: they are ours). */
  readonly dad?: boolean;
  /** Isolate the bridge port: it talks only to non-isolated ports. */
  readonly isolated?: boolean;
}

export interface Attached {
  readonly hostVeth: { readonly name: string; readonly index: number; readonly mac: string };
  readonly container: { readonly name: string; readonly index: number; readonly mac: string };
}

/**
 * Deletes a bridge no port is attached to. A rollback uses it: another attachment may have
 * joined the bridge this one created while it was failing, and must keep it.
 */
export async function deleteBridgeIfUnused(host: NetlinkHandle, name: string): Promise<void> {
  const bridge = await host.getLink(name);
  if (!bridge) return;
  if ((await host.listLinks()).some((l) => l.masterIndex === bridge.index)) return;
  await host.deleteLink(bridge.index);
}

/** Creates the bridge when missing and makes it match the spec (MTU, up, gateway addresses, promiscuous). */
export async function ensureBridge(
  host: NetlinkHandle,
  spec: BridgeSpec,
  undo?: UndoStack,
): Promise<{ index: number; mac: string; created: boolean }> {
  let link = await host.getLink(spec.bridgeName);
  let created = false;
  if (!link) {
    try {
      await host.createBridge(spec.bridgeName, spec.mtu ? { mtu: spec.mtu } : {});
      created = true;
      undo?.push(`bridge ${spec.bridgeName}`, () => deleteBridgeIfUnused(host, spec.bridgeName));
      // Before it goes up: DAD of its link-local address would hold IPv6 forwarding back for a second or two.
      await host.setInterfaceSysctl(6, spec.bridgeName, 'accept_dad', '0').catch((e: unknown) => {
        if (!isSystemError(e, 'ENOENT')) throw e; // IPv6 is off on this host
      });
    } catch (e) {
      if (!isSystemError(e, 'EEXIST')) throw e; // another process made it first
    }
    link = await host.getLink(spec.bridgeName);
    if (!link) throw new Error(`bridge ${spec.bridgeName} vanished right after it was created`);
    // Pinned, a bridge keeps its MAC; unpinned it takes the lowest of its ports' and changes as they come and go.
    if (link.mac) await host.setMac(spec.bridgeName, link.mac);
  } else if (link.type !== 'bridge') {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${spec.bridgeName} exists but is a ${link.type ?? 'non-bridge'} link, not a bridge`,
      'choose another bridge name, or remove that link',
    );
  }
  if (spec.mtu && link.mtu !== spec.mtu) await host.setMtu(spec.bridgeName, spec.mtu);
  if (spec.gatewayAddresses.length > 0) {
    const existing = await host.listAddresses(link.index);
    const present = new Set(existing.map((a) => a.cidr));
    for (const cidr of spec.gatewayAddresses) {
      if (present.has(cidr)) continue;
      for (const other of existing.filter((a) => inTheWay(a.cidr, cidr))) {
        if (!spec.forceAddress) {
          throw new BerthError(
            ErrorCode.InvalidConfig,
            `bridge ${spec.bridgeName} already has the address ${other.cidr}, not ${cidr}`,
            'remove that address, give the network the subnet of the bridge, or set "forceAddress": true to replace it',
          );
        }
        await host.deleteAddress(spec.bridgeName, other.cidr);
      }
      try {
        await host.addAddress(spec.bridgeName, cidr, { noDad: true });
      } catch (e) {
        if (!isSystemError(e, 'EEXIST')) throw e;
      }
    }
  }
  if (spec.promiscuous) await host.setPromisc(spec.bridgeName, true);
  if (!link.up) await host.setLinkUp(spec.bridgeName);
  return { index: link.index, mac: link.mac ?? '', created };
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
    ...(bridge.mtu ? { mtu: bridge.mtu } : {}),
    ...(spec.mac ? { peerMac: spec.mac } : {}),
  });
  // Deleting one end of a veth deletes both, wherever the other end is.
  undo.push(`veth ${spec.hostVethName}`, () => host.deleteLink(spec.hostVethName));
  await host.setMaster(spec.hostVethName, bridge.bridgeName);
  if (bridge.hairpin || spec.isolated) {
    await host.setBridgePort(spec.hostVethName, {
      ...(bridge.hairpin ? { hairpin: true } : {}),
      ...(spec.isolated ? { isolated: true } : {}),
    });
  }
  await host.setLinkUp(spec.hostVethName);
  const hostLink = (await host.getLink(spec.hostVethName))!;

  const inside = await NetlinkHandle.open(spec.sandboxNetnsPath);
  try {
    await inside.setLinkUp('lo');
    for (const cidr of spec.addresses) await inside.addAddress(spec.ifname, cidr, { noDad: !spec.dad });
    if (spec.up ?? true) {
      await inside.setLinkUp(spec.ifname);
      for (const r of spec.routes) await addRouteAfterOthers(inside, r, spec.ifname);
    }
    const container = (await inside.getLink(spec.ifname))!;
    return {
      hostVeth: { name: hostLink.name, index: hostLink.index, mac: hostLink.mac ?? '' },
      container: { name: container.name, index: container.index, mac: container.mac ?? '' },
    };
  } finally {
    inside.close();
  }
}

/**
 * Removes the pair by its host end, which takes the peer with it wherever it is. With the host
 * end gone the pair is gone: a link of the same name in the sandbox is someone else's. Gone is success.
 */
export async function detachVeth(host: NetlinkHandle, hostVethName: string): Promise<void> {
  try {
    await host.deleteLink(hostVethName);
  } catch (e) {
    if (!isGone(e)) throw e;
  }
}

/** An address of the bridge that a gateway address would conflict with: any other IPv4 one, an IPv6 one of an overlapping subnet. */
function inTheWay(existing: string, wanted: string): boolean {
  if (familyOf(existing) !== familyOf(wanted)) return false;
  if (familyOf(wanted) === 4) return true;
  return subnetOf(existing) === subnetOf(wanted) && !existing.startsWith('fe80:');
}
