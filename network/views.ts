import type { EndpointRecord, NetworkRecord, SandboxRecord } from './model.js';
import type { NameRecord } from './names/model.js';
import type { RateLimit } from './shaping/limits.js';
import { sandboxEndpoints } from './topology.js';

/**
 * Networks, sandboxes and endpoints as plain JSON: what `berth ... --json` prints and what the
 * daemon answers library calls with. These shapes are a contract for scripts (docs/cli/) and
 * the daemon's clients: add fields, never rename or remove them.
 */

export interface EndpointView {
  readonly network: string;
  readonly name: string;
  readonly id: string;
  readonly sandbox: string | null;
  readonly ifname: string | null;
  readonly addresses: readonly string[];
  readonly mac: string | null;
  readonly hostVeth: string | null;
  /** Its limits, rates in bits per second and bursts in bits (null: the default); null when unlimited. */
  readonly bandwidth: BandwidthView | null;
}

export interface BandwidthView {
  readonly ingress: LimitView | null;
  readonly egress: LimitView | null;
}

export interface LimitView {
  readonly rate: number;
  readonly burst: number | null;
}

const limitView = (l: RateLimit | undefined): LimitView | null => (l ? { rate: l.rate, burst: l.burst ?? null } : null);

export interface NetworkView {
  readonly name: string;
  readonly id: string;
  readonly driver: string;
  readonly bridge: string | null;
  readonly subnets: readonly { readonly subnet: string; readonly gateway: string }[];
  readonly mtu: number;
  readonly masquerade: boolean;
  readonly isolate: boolean;
  readonly createdAt: string;
  readonly endpoints: readonly EndpointView[];
  /** Names on the network: the domain and the records its name service answers; null when off. */
  readonly dns: DnsView | null;
  /** A macvlan network's parent device and mode; null for other drivers. */
  readonly macvlan: { readonly parent: string; readonly mode: string } | null;
  /** An overlay network's cluster side and this host's block of it (null: not an overlay network; block null: none held here). */
  readonly overlay: {
    readonly subnet: string;
    readonly vni: number;
    readonly vxlan: string | null;
    readonly node: string | null;
    readonly block: string | null;
  } | null;
}

export interface DnsView {
  readonly domain: string | null;
  readonly records: readonly NameView[];
}

export interface NameView {
  readonly names: readonly string[];
  readonly addresses: readonly string[];
  /** Another host's, imported from the cluster (an overlay network); false for this host's. */
  readonly imported: boolean;
  /** The node an imported record came from (null: this host's, or a record that does not say). */
  readonly node: string | null;
}

const nameView = (r: NameRecord, imported: boolean): NameView => ({
  names: r.names,
  addresses: r.addresses,
  imported,
  node: imported ? (r.node ?? null) : null,
});

export interface SandboxView {
  readonly name: string;
  readonly id: string;
  readonly mode: string;
  /** The netns path; null for host mode (the host's own). */
  readonly netns: string | null;
  readonly shareWith: string | null;
  readonly createdAt: string;
  /** Every interface berth put in its netns (for container mode, those of the sandbox it shares). */
  readonly endpoints: readonly EndpointView[];
}

export function endpointView(e: EndpointRecord): EndpointView {
  const j = e.join;
  return {
    network: e.network,
    name: e.name,
    id: e.id,
    sandbox: j?.sandbox ?? null,
    ifname: j?.ifname ?? null,
    addresses: j?.addresses ?? [],
    mac: j?.mac || null,
    hostVeth: j?.hostVeth || null,
    bandwidth: e.bandwidth ? { ingress: limitView(e.bandwidth.ingress), egress: limitView(e.bandwidth.egress) } : null,
  };
}

export function networkView(
  n: NetworkRecord,
  endpoints: readonly EndpointRecord[],
  names: readonly NameRecord[] = [],
  imported: readonly NameRecord[] = [],
): NetworkView {
  return {
    name: n.name,
    id: n.id,
    driver: n.driver,
    bridge: n.bridgeName || null,
    subnets: n.subnets.map((s) => ({ subnet: s.subnet, gateway: s.gateway })),
    mtu: n.mtu,
    masquerade: n.masquerade,
    isolate: n.isolate,
    createdAt: n.createdAt,
    endpoints: endpoints.filter((e) => e.network === n.name).map(endpointView),
    dns: n.dns
      ? {
          domain: n.dns.domain ?? null,
          records: [...names.map((r) => nameView(r, false)), ...imported.map((r) => nameView(r, true))],
        }
      : null,
    macvlan: n.macvlan ? { parent: n.macvlan.parent, mode: n.macvlan.mode } : null,
    overlay: n.overlay
      ? {
          subnet: n.overlay.subnet,
          vni: n.overlay.vni,
          vxlan: n.overlay.vxlan || null,
          node: n.overlay.host?.node ?? null,
          block: n.overlay.host?.block ?? null,
        }
      : null,
  };
}

export function sandboxView(s: SandboxRecord, endpoints: readonly EndpointRecord[]): SandboxView {
  return {
    name: s.name,
    id: s.id,
    mode: s.mode,
    netns: s.mode === 'host' ? null : s.netnsPath,
    shareWith: s.shareWith ?? null,
    createdAt: s.createdAt,
    endpoints: sandboxEndpoints(s, endpoints).map(endpointView),
  };
}
