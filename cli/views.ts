import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../network/model.js';
import type { NameRecord } from '../network/names/model.js';
import type { RateLimit } from '../network/shaping/limits.js';
import { limitDetails, sandboxEndpoints } from '../network/topology.js';
import { fields, table } from './output.js';

/**
 * What `--json` prints, and the human forms of the same. These shapes are a
 * contract for scripts (docs/cli/): add fields, never rename or remove them.
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
  readonly records: readonly { readonly names: readonly string[]; readonly addresses: readonly string[] }[];
}

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
          records: names.map((r) => ({ names: r.names, addresses: r.addresses })),
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

const dash = (v: string | null | undefined) => (v ? v : '-');
const interfaceText = (e: EndpointView) =>
  `${e.ifname ?? '-'}${e.addresses.length > 0 ? ` ${e.addresses.join(' ')}` : ''}`;

/** ', ingress 20mbit, egress 1mbit', or nothing without limits. */
function limitsText(e: EndpointView): string {
  const limits = limitDetails({
    ...(e.bandwidth?.ingress ? { ingress: restLimit(e.bandwidth.ingress) } : {}),
    ...(e.bandwidth?.egress ? { egress: restLimit(e.bandwidth.egress) } : {}),
  });
  return limits.length > 0 ? `, ${limits.join(', ')}` : '';
}

const restLimit = (l: LimitView): RateLimit => ({ rate: l.rate, ...(l.burst !== null ? { burst: l.burst } : {}) });

export function networkTable(views: readonly NetworkView[]): string {
  return table(
    ['NAME', 'DRIVER', 'BRIDGE', 'SUBNETS', 'ENDPOINTS'],
    views.map((n) => [
      n.name,
      n.driver,
      dash(n.bridge),
      n.subnets.map((s) => s.subnet).join(',') || '-',
      String(n.endpoints.length),
    ]),
  );
}

export function networkText(n: NetworkView): string {
  return fields([
    ['name', n.name],
    ['id', n.id],
    ['driver', n.driver],
    ['bridge', dash(n.bridge)],
    ...(n.macvlan
      ? [['parent', n.macvlan.parent] as [string, string], ['mode', n.macvlan.mode] as [string, string]]
      : []),
    ...n.subnets.map((s): [string, string] => ['subnet', `${s.subnet} gateway ${s.gateway}`]),
    ...(n.overlay
      ? [
          ['overlay', `${n.overlay.subnet} vni ${n.overlay.vni}`] as [string, string],
          [
            'this host',
            n.overlay.block
              ? `${n.overlay.node} holds ${n.overlay.block} on ${n.overlay.vxlan}`
              : 'no block held here (is berth agent running?)',
          ] as [string, string],
        ]
      : []),
    ['mtu', n.mtu === 0 ? "the parent's" : String(n.mtu)],
    ['masquerade', String(n.masquerade)],
    ['isolate', String(n.isolate)],
    ['created', n.createdAt],
    ['dns', n.dns ? `on${n.dns.domain ? `, domain ${n.dns.domain}` : ''}` : 'off'],
    ...n.endpoints.map((e): [string, string] => [
      'endpoint',
      `${e.name} in sandbox ${dash(e.sandbox)}: ${interfaceText(e)}${e.hostVeth ? ` (host side ${e.hostVeth})` : ''}${limitsText(e)}`,
    ]),
    ...(n.dns?.records ?? []).map((r): [string, string] => ['name', `${r.names.join(' ')}: ${r.addresses.join(' ')}`]),
  ]);
}

export function sandboxTable(views: readonly SandboxView[]): string {
  return table(
    ['NAME', 'MODE', 'NETNS', 'INTERFACES'],
    views.map((s) => [
      s.name,
      s.shareWith ? `container:${s.shareWith}` : s.mode,
      dash(s.netns),
      s.endpoints.map((e) => `${e.network}:${interfaceText(e)}`).join(', ') || '-',
    ]),
  );
}

export function sandboxText(s: SandboxView): string {
  return fields([
    ['name', s.name],
    ['id', s.id],
    ['mode', s.mode],
    ['netns', s.netns ?? 'the host netns'],
    ...(s.shareWith ? [['shares', `the netns of sandbox ${s.shareWith}`] as [string, string]] : []),
    ['created', s.createdAt],
    ...s.endpoints.map((e): [string, string] => [
      'interface',
      `${interfaceText(e)} on network ${e.network}${e.mac ? ` mac ${e.mac}` : ''}${limitsText(e)}`,
    ]),
  ]);
}
