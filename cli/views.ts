import type { RateLimit } from '../network/shaping/limits.js';
import { limitDetails } from '../network/topology.js';
import type { EndpointView, LimitView, NameView, NetworkView, SandboxView } from '../network/views.js';
import { fields, table } from './output.js';

// The human forms of the views that `--json` prints (network/views.ts).

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

/** ' (from node n2)' for a name another host published, nothing for this host's. */
const fromText = (r: NameView) => (r.imported ? ` (from ${r.node ? `node ${r.node}` : 'another host'})` : '');

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
    ...(n.dns?.records ?? []).map((r): [string, string] => [
      'name',
      `${r.names.join(' ')}: ${r.addresses.join(' ')}${fromText(r)}`,
    ]),
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
