import type { NodeKind, Topology, TopologyEdge, TopologyNode } from '../network/topology.js';

/** How each kind of node looks in Graphviz. */
const SHAPES: Readonly<Record<NodeKind, string>> = {
  host: 'house',
  network: 'box, style="rounded,bold"',
  bridge: 'box',
  sandbox: 'box3d',
  endpoint: 'ellipse',
  container: 'component',
};

const EDGE_STYLES: Readonly<Record<TopologyEdge['kind'], string>> = {
  bridge: 'style=bold',
  attached: '',
  joined: '',
  shares: 'style=dashed',
};

/** A DOT double-quoted string: backslash and quote escaped, line breaks as \n. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/** The topology as a Graphviz graph, for `dot -Tsvg` or any DOT viewer. */
export function toDot(t: Topology): string {
  const lines = ['graph berth {', '  graph [rankdir=LR, fontname="sans-serif"];', '  node [fontname="sans-serif"];'];
  lines.push('  edge [fontname="sans-serif", fontsize=10];');
  for (const n of t.nodes) {
    const label = [`${n.kind} ${n.name}`, ...n.details].join('\n');
    lines.push(`  ${dotString(n.id)} [shape=${SHAPES[n.kind]}, label=${dotString(label)}];`);
  }
  for (const e of t.edges) {
    const attrs = [EDGE_STYLES[e.kind], e.label ? `label=${dotString(e.label)}` : ''].filter(Boolean).join(', ');
    lines.push(`  ${dotString(e.from)} -- ${dotString(e.to)}${attrs ? ` [${attrs}]` : ''};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

const describe = (n: TopologyNode) => `${n.name}${n.details.length > 0 ? ` (${n.details.join(', ')})` : ''}`;

/** The topology as an indented outline: each network with its endpoints and their sandboxes, then the sandboxes. */
export function toTree(t: Topology): string {
  const byId = new Map(t.nodes.map((n) => [n.id, n]));
  const from = (id: string, kind: TopologyEdge['kind']) => t.edges.filter((e) => e.from === id && e.kind === kind);
  const to = (id: string, kind: TopologyEdge['kind']) => t.edges.filter((e) => e.to === id && e.kind === kind);
  const lines: string[] = [];
  for (const net of t.nodes.filter((n) => n.kind === 'network')) {
    const bridge = from(net.id, 'bridge')[0];
    lines.push(`network ${describe(net)}${bridge ? ` on bridge ${byId.get(bridge.to)?.name}` : ''}`);
    const attachedTo = bridge ? bridge.to : net.id;
    for (const a of to(attachedTo, 'attached')) {
      const ep = byId.get(a.from);
      if (!ep) continue;
      const joined = from(ep.id, 'joined')[0];
      const into = joined ? byId.get(joined.to) : undefined;
      const where = into ? ` in ${into.kind} ${into.name}` : '';
      lines.push(`  endpoint ${describe(ep)}${where}${a.label ? ` via ${a.label}` : ''}`);
    }
  }
  for (const sb of t.nodes.filter((n) => n.kind === 'sandbox')) {
    const shares = from(sb.id, 'shares')[0];
    const target = shares ? byId.get(shares.to) : undefined;
    lines.push(`sandbox ${describe(sb)}${target?.kind === 'sandbox' ? ` sharing the netns of ${target.name}` : ''}`);
  }
  for (const c of t.nodes.filter((n) => n.kind === 'container'))
    lines.push(`container ${describe(c)} (attached through CNI)`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'no networks and no sandboxes\n';
}
