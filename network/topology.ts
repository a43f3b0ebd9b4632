import type { EndpointRecord, NetworkRecord, SandboxRecord } from './model.js';
import { type Bandwidth, DIRECTIONS, formatLimit } from './shaping/limits.js';

/**
 * berth's state as a graph: networks, their bridges, sandboxes, the endpoints
 * joining them, the netns sharing of container mode, and the containers that a
 * runtime attached through berth's CNI plugins. Pure: built from the
 * records, so what is drawn is what berth believes (`berth doctor` compares
 * that belief with the kernel).
 */

/** A network drawn with its bridge: a bridge network, or an overlay network's bridge on this host. */
const hasBridge = (n: NetworkRecord) => n.driver === 'bridge' || n.driver === 'overlay';

export type NodeKind = 'host' | 'network' | 'bridge' | 'sandbox' | 'endpoint' | 'container';

export interface TopologyNode {
  /** Unique in the graph: `<kind>:<name>`. */
  readonly id: string;
  readonly kind: NodeKind;
  readonly name: string;
  /** Facts worth showing beside the name: driver, subnets, netns, addresses. */
  readonly details: readonly string[];
}

export type EdgeKind =
  /** A bridge network and its Linux bridge. */
  | 'bridge'
  /** An endpoint on its network (through the bridge for the bridge driver). */
  | 'attached'
  /** An endpoint's interface inside a sandbox (or a CNI container). */
  | 'joined'
  /** A container-mode sandbox and the one whose netns it shares; a host-mode sandbox and the host. */
  | 'shares';

export interface TopologyEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  /** e.g. the host-side veth of an endpoint. */
  readonly label?: string;
}

export interface Topology {
  readonly nodes: readonly TopologyNode[];
  readonly edges: readonly TopologyEdge[];
}

export interface TopologyInput {
  readonly networks: readonly NetworkRecord[];
  readonly sandboxes: readonly SandboxRecord[];
  readonly endpoints: readonly EndpointRecord[];
}

export const nodeId = (kind: NodeKind, name: string) => `${kind}:${name}`;
const HOST = nodeId('host', 'host');

/** The graph of the records; an endpoint whose sandbox or network has no record still shows, without that edge. */
export function buildTopology(input: TopologyInput): Topology {
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  const sorted = <T extends { readonly name: string }>(xs: readonly T[]) =>
    [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const hostModes = input.sandboxes.some((s) => s.mode === 'host') || input.networks.some((n) => n.driver === 'host');
  if (hostModes) nodes.push({ id: HOST, kind: 'host', name: 'host', details: ['the host netns'] });

  const networks = new Map(input.networks.map((n) => [n.name, n]));
  for (const n of sorted(input.networks)) {
    const subnets = n.subnets.map((s) => `${s.subnet} via ${s.gateway}`);
    nodes.push({ id: nodeId('network', n.name), kind: 'network', name: n.name, details: [n.driver, ...subnets] });
    if (hasBridge(n)) {
      nodes.push({
        id: nodeId('bridge', n.bridgeName),
        kind: 'bridge',
        name: n.bridgeName,
        details: [`mtu ${n.mtu}`, ...n.subnets.map((s) => `${s.gateway}/${s.prefixLength}`)],
      });
      edges.push({ from: nodeId('network', n.name), to: nodeId('bridge', n.bridgeName), kind: 'bridge' });
    } else if (n.driver === 'host') {
      edges.push({ from: nodeId('network', n.name), to: HOST, kind: 'attached' });
    }
  }

  const sandboxes = sorted(input.sandboxes);
  const byNetns = new Map<string, SandboxRecord>();
  for (const s of sandboxes) {
    const details = [s.mode, ...(s.mode === 'host' ? [] : [s.netnsPath])];
    nodes.push({ id: nodeId('sandbox', s.name), kind: 'sandbox', name: s.name, details });
    if (s.mode === 'host') edges.push({ from: nodeId('sandbox', s.name), to: HOST, kind: 'shares' });
    if (s.mode === 'container' && s.shareWith) {
      edges.push({ from: nodeId('sandbox', s.name), to: nodeId('sandbox', s.shareWith), kind: 'shares' });
    }
    if (s.mode !== 'host' && !byNetns.has(s.netnsPath)) byNetns.set(s.netnsPath, s);
  }
  const sandboxNames = new Set(sandboxes.map((s) => s.name));

  addCniNetworks(input, nodes, edges);

  const endpoints = [...input.endpoints].sort((a, b) => (`${a.network}.${a.name}` < `${b.network}.${b.name}` ? -1 : 1));
  for (const e of endpoints) {
    const id = nodeId('endpoint', `${e.network}.${e.name}`);
    const j = e.join;
    const details = [
      ...(j ? [j.ifname, ...j.addresses, ...(j.mac ? [j.mac] : [])] : ['not joined']),
      ...limitDetails(e.bandwidth),
    ];
    nodes.push({ id, kind: 'endpoint', name: e.name, details });
    const net = networks.get(e.network);
    const via = j?.hostVeth ? { label: j.hostVeth } : {};
    if (e.cni) {
      const to = e.cni.bridge ? nodeId('bridge', e.cni.bridge) : nodeId('network', e.network);
      edges.push({ from: id, to, kind: 'attached', ...via });
      if (j) edges.push({ from: id, to: nodeId('container', e.cni.containerId), kind: 'joined', label: j.ifname });
    } else if (net) {
      const to = hasBridge(net) ? nodeId('bridge', net.bridgeName) : nodeId('network', net.name);
      edges.push({ from: id, to, kind: 'attached', ...via });
    }
    if (j && !e.cni) {
      // The sandbox named in the join may be gone while a container-mode one still holds the netns.
      const holder = sandboxNames.has(j.sandbox) ? j.sandbox : byNetns.get(j.netnsPath)?.name;
      if (holder) edges.push({ from: id, to: nodeId('sandbox', holder), kind: 'joined', label: j.ifname });
    }
  }
  return { nodes, edges };
}

/**
 * The CNI networks, bridges and containers of the attachments made through berth's plugins: a
 * CNI network has no network record, so its attachments' records name them. A berth network of
 * the same name keeps its node.
 */
function addCniNetworks(input: TopologyInput, nodes: TopologyNode[], edges: TopologyEdge[]): void {
  const seen = new Set(nodes.map((n) => n.id));
  const add = (node: TopologyNode) => {
    if (seen.has(node.id)) return false;
    seen.add(node.id);
    nodes.push(node);
    return true;
  };
  const attachments = input.endpoints.filter((e) => e.cni);
  for (const e of [...attachments].sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : 0))) {
    const cni = e.cni!;
    const network = nodeId('network', e.network);
    add({ id: network, kind: 'network', name: e.network, details: [cni.driver, 'cni'] });
    if (cni.bridge && add({ id: nodeId('bridge', cni.bridge), kind: 'bridge', name: cni.bridge, details: [] })) {
      edges.push({ from: network, to: nodeId('bridge', cni.bridge), kind: 'bridge' });
    }
  }
  for (const e of [...attachments].sort((a, b) => (a.cni!.containerId < b.cni!.containerId ? -1 : 1))) {
    const id = e.cni!.containerId;
    add({ id: nodeId('container', id), kind: 'container', name: id, details: e.join ? [e.join.netnsPath] : [] });
  }
}

/** An endpoint's bandwidth limits as details: 'ingress 20mbit', 'egress 1mbit burst 100kbit'. */
export function limitDetails(bandwidth: Bandwidth | undefined): string[] {
  return DIRECTIONS.flatMap((d) => {
    const limit = bandwidth?.[d];
    return limit ? [`${d} ${formatLimit(limit)}`] : [];
  });
}

/** The endpoints whose interface is in this sandbox's netns (for container mode, those of the sandbox it shares). */
export function sandboxEndpoints(s: SandboxRecord, endpoints: readonly EndpointRecord[]): EndpointRecord[] {
  return endpoints.filter((e) =>
    s.mode === 'host' ? e.join?.sandbox === s.name : e.join !== undefined && e.join.netnsPath === s.netnsPath,
  );
}
