import { vtepAddressOf } from './blocks.js';
import type { ClusterSnapshot } from './model.js';

/**
 * What one host's VXLAN device of a network must hold for every other host, as
 * flannel's VXLAN backend programs it, and the difference between that and what
 * the kernel holds. Pure: the agent reads both sides and applies the plan.
 */

/** Another host's block on one network: a route for it via its VTEP, the VTEP's MAC, and where that MAC lives. */
export interface Remote {
  readonly block: string;
  readonly node: string;
  /** The VTEP address in the block (the route's onlink gateway and the neighbour's IP). */
  readonly vtepIp: string;
  readonly vtepMac: string;
  /** The host's underlay address (the FDB entry's dst). */
  readonly underlay: string;
}

/** The entries of one VXLAN device as the kernel has them. */
export interface Programmed {
  /** Routes through the device that have a gateway: dst and gateway. */
  readonly routes: readonly { readonly dst: string; readonly gateway: string }[];
  readonly neighbours: readonly { readonly ip: string; readonly mac?: string }[];
  /** FDB entries with a remote dst. */
  readonly fdb: readonly { readonly mac: string; readonly dst: string }[];
}

export interface SyncPlan {
  readonly deleteRoutes: readonly { readonly dst: string; readonly gateway: string }[];
  readonly deleteNeighbours: readonly string[];
  readonly deleteFdb: readonly { readonly mac: string; readonly dst: string }[];
  readonly setFdb: readonly { readonly mac: string; readonly dst: string }[];
  readonly setNeighbours: readonly { readonly ip: string; readonly mac: string }[];
  readonly addRoutes: readonly { readonly dst: string; readonly gateway: string }[];
}

/** The other hosts' blocks of a network, as this node must program them. */
export function remotesOf(snapshot: ClusterSnapshot, network: string, node: string): Remote[] {
  return snapshot.blocks
    .filter((b) => b.network === network && b.node !== node)
    .map((b) => ({
      block: b.block,
      node: b.node,
      vtepIp: vtepAddressOf(b.block),
      vtepMac: b.vtepMac.toLowerCase(),
      underlay: b.address,
    }))
    .sort((a, b) => a.block.localeCompare(b.block));
}

/**
 * The changes that make the device hold exactly the remotes' entries: what is
 * wrong or no one's goes, what is missing comes. An applied plan plans nothing.
 */
export function planSync(remotes: readonly Remote[], present: Programmed): SyncPlan {
  const routeKey = (r: { dst: string; gateway: string }) => `${r.dst} via ${r.gateway}`;
  const fdbKey = (e: { mac: string; dst: string }) => `${e.mac.toLowerCase()} dst ${e.dst}`;
  const wantedRoutes = new Map(remotes.map((r) => [routeKey({ dst: r.block, gateway: r.vtepIp }), r]));
  const wantedNeighbours = new Map(remotes.map((r) => [r.vtepIp, r.vtepMac]));
  const wantedFdb = new Map(remotes.map((r) => [fdbKey({ mac: r.vtepMac, dst: r.underlay }), r]));

  const presentRoutes = new Set(present.routes.map(routeKey));
  const presentNeighbours = new Map(present.neighbours.map((n) => [n.ip, n.mac?.toLowerCase()]));
  const presentFdb = new Set(present.fdb.map(fdbKey));
  // A MAC has one FDB entry per dst; one whose host moved must lose the old dst.
  return {
    deleteRoutes: present.routes.filter((r) => !wantedRoutes.has(routeKey(r))),
    deleteNeighbours: present.neighbours.filter((n) => !wantedNeighbours.has(n.ip)).map((n) => n.ip),
    deleteFdb: present.fdb.filter((e) => !wantedFdb.has(fdbKey(e))),
    setFdb: remotes
      .filter((r) => !presentFdb.has(fdbKey({ mac: r.vtepMac, dst: r.underlay })))
      .map((r) => ({ mac: r.vtepMac, dst: r.underlay })),
    setNeighbours: remotes
      .filter((r) => presentNeighbours.get(r.vtepIp) !== r.vtepMac)
      .map((r) => ({ ip: r.vtepIp, mac: r.vtepMac })),
    addRoutes: remotes
      .filter((r) => !presentRoutes.has(routeKey({ dst: r.block, gateway: r.vtepIp })))
      .map((r) => ({ dst: r.block, gateway: r.vtepIp })),
  };
}

/** Whether the plan changes nothing. */
export function isEmptyPlan(plan: SyncPlan): boolean {
  return Object.values(plan).every((list) => (list as readonly unknown[]).length === 0);
}
