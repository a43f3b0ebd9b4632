import { isSystemError } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { NetlinkHandle } from '../../netlink/index.js';
import { VXLAN_PORT } from '../../netlink/vxlan.js';
import { overlayMtu } from './blocks.js';
import type { Programmed, SyncPlan } from './sync.js';

/**
 * A host's VTEP on one overlay network: its VXLAN device over the underlay,
 * holding the VTEP address of the host's block, and the entries for the other
 * hosts (routes, neighbours, FDB) that planSync decides.
 */

export interface VtepSpec {
  /** The device's name, berth's own (vx-<network id>). */
  readonly name: string;
  readonly vni: number;
  /** The host's underlay address; the device binds to the link that holds it. */
  readonly local: string;
  readonly mac: string;
  /** The VTEP address with prefix: the block's network address, /32. */
  readonly address: string;
}

/** The underlay link of an address of this host, or a clear error naming the address. */
export async function underlayOf(
  host: NetlinkHandle,
  address: string,
): Promise<{ index: number; name: string; mtu: number }> {
  const held = (await host.listAddresses(undefined, 4)).find((a) => a.cidr.split('/')[0] === address);
  const link = held ? await host.getLink(held.index) : null;
  if (!link) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `the underlay address ${address} is not on this host`,
      "give --address an IPv4 address of one of this host's interfaces, the one the other hosts reach it at",
    );
  }
  return { index: link.index, name: link.name, mtu: link.mtu };
}

/**
 * Makes the VXLAN device match the spec: created when missing, made again when it
 * is of another VNI, address or underlay, its MTU the underlay's less 50, its
 * VTEP address the only one, up. Returns its ifindex and MTU.
 */
export async function ensureVtep(host: NetlinkHandle, spec: VtepSpec): Promise<{ index: number; mtu: number }> {
  const underlay = await underlayOf(host, spec.local);
  const mtu = overlayMtu(underlay.mtu);
  const links = await host.listLinks();
  const clash = links.find((l) => l.name !== spec.name && l.vxlan?.vni === spec.vni && l.vxlan.port === VXLAN_PORT);
  if (clash) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `VNI ${spec.vni} is in use on this host by the VXLAN device ${clash.name}`,
      `remove that device, or give the overlay network another VNI`,
    );
  }
  let link = links.find((l) => l.name === spec.name);
  if (link && (link.type !== 'vxlan' || !sameTunnel(link, spec, underlay.index))) {
    await host.deleteLink(link.index);
    link = undefined;
  }
  if (!link) {
    await host.createVxlan(spec.name, {
      vni: spec.vni,
      local: spec.local,
      underlay: underlay.index,
      learning: false,
      mtu,
      mac: spec.mac,
    });
    link = (await host.getLink(spec.name))!;
  }
  if (link.mtu !== mtu) await host.setMtu(link.index, mtu);
  if (link.mac?.toLowerCase() !== spec.mac.toLowerCase()) await host.setMac(link.index, spec.mac);
  const addresses = await host.listAddresses(link.index, 4);
  for (const a of addresses) if (a.cidr !== spec.address) await host.deleteAddress(link.index, a.cidr);
  if (!addresses.some((a) => a.cidr === spec.address)) await host.addAddress(link.index, spec.address);
  if (!link.up) await host.setLinkUp(link.index);
  return { index: link.index, mtu };
}

function sameTunnel(
  link: { vxlan?: { vni: number; local?: string; port: number }; parentIndex?: number },
  spec: VtepSpec,
  underlay: number,
): boolean {
  return (
    link.vxlan?.vni === spec.vni &&
    link.vxlan.local === spec.local &&
    link.vxlan.port === VXLAN_PORT &&
    link.parentIndex === underlay
  );
}

/** What the device holds for other hosts: routes with a gateway through it, its permanent neighbours, its FDB entries with a dst. */
export async function readProgrammed(host: NetlinkHandle, index: number): Promise<Programmed> {
  const routes = (await host.listRoutes({ family: 4 }))
    .filter((r) => r.dev === index && r.gateway !== undefined && r.table === 254)
    .map((r) => ({ dst: r.dst, gateway: r.gateway! }));
  const neighbours = (await host.listNeighbours(index, 4))
    .filter((n) => n.state.includes('permanent'))
    .map((n) => ({ ip: n.ip, ...(n.mac ? { mac: n.mac } : {}) }));
  const fdb = (await host.listFdbEntries(index)).flatMap((e) => (e.dst ? [{ mac: e.mac, dst: e.dst }] : []));
  return { routes, neighbours, fdb };
}

/** Applies a plan to the device: removals first (gone is success), then FDB, neighbours and routes. */
export async function applyPlan(host: NetlinkHandle, index: number, plan: SyncPlan): Promise<void> {
  const gone = (e: unknown) => {
    if (!isSystemError(e) || !['ENOENT', 'ESRCH', 'ENODEV'].includes(e.code)) throw e;
  };
  for (const r of plan.deleteRoutes) await host.deleteRoute({ dst: r.dst, gateway: r.gateway, dev: index }).catch(gone);
  for (const ip of plan.deleteNeighbours) await host.deleteNeighbour(index, ip).catch(gone);
  for (const e of plan.deleteFdb) await host.deleteFdbEntry(index, e.mac, e.dst).catch(gone);
  for (const e of plan.setFdb) await host.setFdbEntry(index, e.mac, e.dst);
  for (const n of plan.setNeighbours) await host.setNeighbour(index, n.ip, n.mac);
  for (const r of plan.addRoutes) {
    await host.addRoute({ dst: r.dst, gateway: r.gateway, dev: index, onlink: true }).catch((e: unknown) => {
      if (!isSystemError(e, 'EEXIST')) throw e;
    });
  }
}
