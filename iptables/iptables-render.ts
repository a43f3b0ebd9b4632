import { type Family, familyOf } from '../base/address.js';
import { LOOPBACK4, MULTICAST, type NormalizedRules, type Owner, ownerTag } from './model.js';

/**
 * berth's iptables rules, for hosts that must stay on iptables. berth's rules
 * live in its own chains, jumped to once from the builtin ones. Static chains
 * hold fixed rules and are rebuilt by every batch (`:CHAIN - [0:0]` creates or
 * flushes them); dynamic chains hold one tagged rule group per owner
 * (`-m comment --comment "berth <kind> <id>"`) and are never flushed: an owner's
 * rules are found by their tag in `iptables-save` and deleted line by line.
 *
 * Lines are written exactly as iptables-save prints them, so what was applied
 * can be compared with what the kernel holds, text for text.
 *
 * Chain names are a contract: never rename them.
 */

export type IptablesTable = 'filter' | 'nat' | 'raw';

export const CHAINS = {
  forward: 'BERTH-FORWARD',
  isolation1: 'BERTH-ISOLATION-1',
  isolation2: 'BERTH-ISOLATION-2',
  networks: 'BERTH-NETWORKS',
  postrouting: 'BERTH-POSTROUTING',
  hairpin: 'BERTH-HAIRPIN',
  masquerade: 'BERTH-MASQUERADE',
  dnat: 'BERTH-DNAT',
  guard: 'BERTH-GUARD',
} as const;

interface TableLayout {
  readonly table: IptablesTable;
  /** Rebuilt by every batch. */
  readonly staticChains: readonly { readonly name: string; readonly rules: readonly string[] }[];
  /** Hold owners' rules; created when missing, never flushed. */
  readonly dynamicChains: readonly string[];
  /** Rule specs (without `-A CHAIN`) that must appear exactly once at the top of builtin chains. */
  readonly jumps: readonly { readonly chain: string; readonly spec: string }[];
}

/** berth's chains and jumps for one family. */
export function iptablesLayout(family: Family): TableLayout[] {
  const layout: TableLayout[] = [
    {
      table: 'filter',
      staticChains: [{ name: CHAINS.forward, rules: [`-j ${CHAINS.isolation1}`, `-j ${CHAINS.networks}`] }],
      dynamicChains: [CHAINS.isolation1, CHAINS.isolation2, CHAINS.networks],
      jumps: [{ chain: 'FORWARD', spec: `-j ${CHAINS.forward}` }],
    },
    {
      table: 'nat',
      staticChains: [
        {
          name: CHAINS.postrouting,
          rules: [
            // 127.0.0.1:hostPort from the host: the loopback source cannot leave as is.
            ...(family === 4 ? [`-s ${LOOPBACK4} ! -o lo -m conntrack --ctstate DNAT -j MASQUERADE`] : []),
            `-j ${CHAINS.hairpin}`,
            `-j ${CHAINS.masquerade}`,
          ],
        },
      ],
      dynamicChains: [CHAINS.hairpin, CHAINS.masquerade, CHAINS.dnat],
      jumps: [
        { chain: 'PREROUTING', spec: `-m addrtype --dst-type LOCAL -j ${CHAINS.dnat}` },
        { chain: 'OUTPUT', spec: `-m addrtype --dst-type LOCAL -j ${CHAINS.dnat}` },
        { chain: 'POSTROUTING', spec: `-j ${CHAINS.postrouting}` },
      ],
    },
  ];
  if (family === 4) {
    // In raw, before conntrack and NAT: only the address a packet arrived with counts (CVE-2020-8558).
    layout.push({
      table: 'raw',
      staticChains: [{ name: CHAINS.guard, rules: [`-d ${LOOPBACK4} ! -i lo -j DROP`] }],
      dynamicChains: [],
      jumps: [{ chain: 'PREROUTING', spec: `-j ${CHAINS.guard}` }],
    });
  }
  return layout;
}

/** One rule of an owner: where it goes and its spec (without `-A CHAIN`). */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly spec: string;
  /** Inserted at the top instead of appended (host-address-specific DNAT before the wildcard ones). */
  readonly first?: boolean;
}

function hostCidr(addressOrCidr: string): string {
  if (addressOrCidr.includes('/')) return addressOrCidr;
  return `${addressOrCidr}/${familyOf(addressOrCidr) === 4 ? 32 : 128}`;
}

function destination(address: string, port: number): string {
  return familyOf(address) === 4 ? `${address}:${port}` : `[${address}]:${port}`;
}

/** Which families a bridge's rules go to: those of its subnets, or both when it has none. */
function bridgeFamilies(subnets: readonly string[]): Set<Family> {
  return subnets.length === 0 ? new Set<Family>([4, 6]) : new Set(subnets.map(familyOf));
}

/** The rules an owner's rules consist of, for one family, in iptables-save's own form. */
export function iptablesRules(family: Family, owner: Owner, rules: NormalizedRules): IptablesRule[] {
  const c = `-m comment --comment "${ownerTag(owner)}"`;
  const out: IptablesRule[] = [];
  for (const b of rules.bridges) {
    if (!bridgeFamilies(b.subnets).has(family)) continue;
    if (b.isolate) {
      out.push({
        table: 'filter',
        chain: CHAINS.isolation1,
        spec: `-i ${b.name} ! -o ${b.name} ${c} -j ${CHAINS.isolation2}`,
      });
      out.push({ table: 'filter', chain: CHAINS.isolation2, spec: `-o ${b.name} ${c} -j DROP` });
    }
    out.push({
      table: 'filter',
      chain: CHAINS.networks,
      spec: `-o ${b.name} -m conntrack --ctstate RELATED,ESTABLISHED ${c} -j ACCEPT`,
    });
    out.push({ table: 'filter', chain: CHAINS.networks, spec: `-i ${b.name} ${c} -j ACCEPT` });
    // Into a bridge only what a published port let in.
    out.push({
      table: 'filter',
      chain: CHAINS.networks,
      spec: `-o ${b.name} -m conntrack --ctstate DNAT ${c} -j ACCEPT`,
    });
    for (const s of b.subnets) {
      if (familyOf(s) !== family) continue;
      out.push({
        table: 'nat',
        chain: CHAINS.hairpin,
        spec: `-s ${s} -o ${b.name} -m conntrack --ctstate DNAT ${c} -j MASQUERADE`,
      });
    }
  }
  for (const m of rules.masquerade) {
    if (familyOf(m.source) !== family) continue;
    const s = `-s ${hostCidr(m.source)}`;
    out.push({ table: 'nat', chain: CHAINS.masquerade, spec: `${s} -d ${m.subnet} ${c} -j RETURN` });
    out.push({ table: 'nat', chain: CHAINS.masquerade, spec: `${s} -d ${MULTICAST[family]} ${c} -j RETURN` });
    out.push({ table: 'nat', chain: CHAINS.masquerade, spec: `${s} ${c} -j MASQUERADE` });
  }
  for (const p of rules.ports) {
    if (familyOf(p.containerIP) !== family) continue;
    const d = p.hostIP ? `-d ${hostCidr(p.hostIP)} ` : '';
    out.push({
      table: 'nat',
      chain: CHAINS.dnat,
      spec: `${d}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} ${c} -j DNAT --to-destination ${destination(p.containerIP, p.containerPort)}`,
      ...(p.hostIP ? { first: true } : {}),
    });
  }
  return out;
}

/** What `iptables-save` printed: per table, its chains and its rules as `-A CHAIN …` lines. */
export interface IptablesState {
  readonly tables: ReadonlyMap<string, { readonly chains: ReadonlySet<string>; readonly rules: readonly string[] }>;
}

export function parseIptablesSave(text: string): IptablesState {
  const tables = new Map<string, { chains: Set<string>; rules: string[] }>();
  let current: { chains: Set<string>; rules: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      current = tables.get(name) ?? { chains: new Set(), rules: [] };
      tables.set(name, current);
    } else if (line.startsWith(':') && current) {
      current.chains.add(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ') && current) {
      current.rules.push(line.trimEnd());
    }
  }
  return { tables };
}

export const EMPTY_IPTABLES_STATE: IptablesState = { tables: new Map() };

/** One owner going to `after` (null: removed). Its current rules are found in the state by tag. */
export interface IptablesChange {
  readonly owner: Owner;
  readonly after: NormalizedRules | null;
}

function ownerLines(state: IptablesState, table: string, owner: Owner): string[] {
  const tag = ` -m comment --comment "${ownerTag(owner)}" `;
  return (state.tables.get(table)?.rules ?? []).filter((l) => l.includes(tag));
}

/**
 * The text for `iptables-restore --noflush` (or ip6tables-restore): the base
 * (static chains rebuilt, dynamic chains created when missing, each jump from a
 * builtin chain made to exist exactly once), then every change: the owner's
 * rules now in the kernel deleted, its new rules added. One batch, one commit
 * per table.
 */
export function renderIptablesBatch(family: Family, state: IptablesState, changes: readonly IptablesChange[]): string {
  const out: string[] = [];
  for (const t of iptablesLayout(family)) {
    const have = state.tables.get(t.table);
    const lines: string[] = [`*${t.table}`];
    for (const c of t.staticChains) lines.push(`:${c.name} - [0:0]`);
    for (const c of t.dynamicChains) if (!have?.chains.has(c)) lines.push(`-N ${c}`);
    for (const c of t.staticChains) for (const r of c.rules) lines.push(`-A ${c.name} ${r}`);
    for (const j of t.jumps) {
      const line = `-A ${j.chain} ${j.spec}`;
      const count = have?.rules.filter((l) => l === line).length ?? 0;
      if (count === 0) lines.push(`-I ${j.chain} 1 ${j.spec}`);
      for (let i = 1; i < count; i++) lines.push(`-D ${j.chain} ${j.spec}`);
    }
    for (const ch of changes) {
      for (const l of ownerLines(state, t.table, ch.owner)) lines.push(`-D${l.slice(2)}`);
    }
    for (const ch of changes) {
      if (!ch.after) continue;
      for (const r of iptablesRules(family, ch.owner, ch.after)) {
        if (r.table !== t.table) continue;
        lines.push(r.first ? `-I ${r.chain} 1 ${r.spec}` : `-A ${r.chain} ${r.spec}`);
      }
    }
    lines.push('COMMIT');
    out.push(...lines);
  }
  return `${out.join('\n')}\n`;
}

/** What is missing in the kernel for the base and these rules, compared line for line with iptables-save. */
export function iptablesProblems(
  family: Family,
  state: IptablesState,
  owner: Owner | null,
  rules: NormalizedRules | null,
): string[] {
  const cmd = family === 4 ? 'iptables' : 'ip6tables';
  const problems: string[] = [];
  const missing = (table: string, line: string) => {
    if (!state.tables.get(table)?.rules.includes(line)) problems.push(`${cmd} -t ${table}: rule "${line}" is missing`);
  };
  for (const t of iptablesLayout(family)) {
    const have = state.tables.get(t.table);
    for (const c of [...t.staticChains.map((s) => s.name), ...t.dynamicChains]) {
      if (!have?.chains.has(c)) problems.push(`${cmd} -t ${t.table}: chain ${c} does not exist`);
    }
    for (const c of t.staticChains) for (const r of c.rules) missing(t.table, `-A ${c.name} ${r}`);
    for (const j of t.jumps) missing(t.table, `-A ${j.chain} ${j.spec}`);
  }
  if (owner && rules) for (const r of iptablesRules(family, owner, rules)) missing(r.table, `-A ${r.chain} ${r.spec}`);
  return problems;
}
