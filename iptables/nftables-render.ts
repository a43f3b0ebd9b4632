import { type Family, familyOf } from '../base/address.js';
import { type BridgeRule, LOOPBACK4, MULTICAST, type NormalizedRules, type Owner, ownerTag } from './model.js';

/**
 * berth's nftables ruleset: one table `inet berth` for both families, whose
 * chains are static and whose per-owner state lives only in set and map
 * elements. Adding a container or a port is adding elements, so a packet costs
 * a few set lookups whatever the number of containers or mappings, and removal
 * is deleting those elements, with no rule handles to track.
 *
 * The table, chain and set names are a contract: never rename them.
 */

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'berth';
const T = `${NFT_FAMILY} ${NFT_TABLE}`;

export type NftSetName =
  | 'bridges'
  | 'isolated'
  | 'intra'
  | 'hairpin4'
  | 'hairpin6'
  | 'masq4'
  | 'masq4_keep'
  | 'masqnet4'
  | 'masqnet4_keep'
  | 'masq6'
  | 'masq6_keep'
  | 'masqnet6'
  | 'masqnet6_keep'
  | 'ports4'
  | 'hostports4'
  | 'ports6'
  | 'hostports6';

export interface NftSetSpec {
  readonly name: NftSetName;
  /** The key's component types, in order. */
  readonly key: readonly string[];
  /** A map's value component types; absent for a set. */
  readonly value?: readonly string[];
  readonly interval: boolean;
  readonly why: string;
}

const addr = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

export const NFT_SETS: readonly NftSetSpec[] = [
  { name: 'bridges', key: ['ifname'], interval: false, why: 'berth bridges: forwarding from them is accepted' },
  { name: 'isolated', key: ['ifname'], interval: false, why: 'bridges whose traffic to each other is dropped' },
  { name: 'intra', key: ['ifname', 'ifname'], interval: false, why: 'bridge . itself: traffic within one bridge' },
  ...([4, 6] as const).flatMap((f): NftSetSpec[] => [
    {
      name: `hairpin${f}`,
      key: ['ifname', addr(f)],
      interval: true,
      why: 'bridge . its subnet: DNATed traffic from a subnet back into its own bridge is masqueraded',
    },
    { name: `masq${f}`, key: [addr(f)], interval: false, why: 'single addresses to masquerade' },
    {
      name: `masq${f}_keep`,
      key: [addr(f), addr(f)],
      interval: true,
      why: 'address . its subnet: destinations not masqueraded',
    },
    { name: `masqnet${f}`, key: [addr(f)], interval: true, why: 'whole subnets to masquerade' },
    {
      name: `masqnet${f}_keep`,
      key: [addr(f), addr(f)],
      interval: true,
      why: 'subnet . subnet: destinations not masqueraded',
    },
    {
      name: `ports${f}`,
      key: ['inet_proto', 'inet_service'],
      value: [addr(f), 'inet_service'],
      interval: false,
      why: 'protocol . host port -> container address . port, on every local address',
    },
    {
      name: `hostports${f}`,
      key: [addr(f), 'inet_proto', 'inet_service'],
      value: [addr(f), 'inet_service'],
      interval: false,
      why: 'host address . protocol . host port -> container address . port',
    },
  ]),
];

export interface NftChainSpec {
  readonly name: string;
  /** `type … hook … priority …; policy accept;` for a base chain; absent for a regular chain. */
  readonly hook?: { readonly type: 'filter' | 'nat'; readonly hook: string; readonly priority: string };
  readonly rules: readonly string[];
}

function masqueradeRules(f: Family): string[] {
  const ip = f === 4 ? 'ip' : 'ip6';
  const multicast = MULTICAST[f];
  return [
    `${ip} saddr @masq${f} ${ip} daddr != ${multicast} ${ip} saddr . ${ip} daddr != @masq${f}_keep masquerade`,
    `${ip} saddr @masqnet${f} ${ip} daddr != ${multicast} ${ip} saddr . ${ip} daddr != @masqnet${f}_keep masquerade`,
  ];
}

export const NFT_CHAINS: readonly NftChainSpec[] = [
  {
    name: 'forward',
    hook: { type: 'filter', hook: 'forward', priority: 'filter' },
    rules: [
      // Within one bridge first, so isolation below never cuts a network from itself.
      'iifname . oifname @intra accept',
      'iifname @isolated oifname @isolated drop',
      'oifname @bridges ct state established,related accept',
      'iifname @bridges accept',
      // Into a bridge only what a published port let in.
      'oifname @bridges ct status dnat accept',
    ],
  },
  {
    name: 'postrouting',
    hook: { type: 'nat', hook: 'postrouting', priority: 'srcnat' },
    rules: [
      'ct status dnat oifname . ip saddr @hairpin4 masquerade',
      'ct status dnat oifname . ip6 saddr @hairpin6 masquerade',
      // 127.0.0.1:hostPort from the host: the loopback source cannot leave as is.
      `oifname @bridges ip saddr ${LOOPBACK4} ct status dnat masquerade`,
      ...masqueradeRules(4),
      ...masqueradeRules(6),
    ],
  },
  {
    name: 'prerouting',
    hook: { type: 'nat', hook: 'prerouting', priority: 'dstnat' },
    rules: ['fib daddr type local jump publish'],
  },
  {
    // nft 1.0.6 refuses the name `dstnat` in the output hook; -100 is its value.
    name: 'output',
    hook: { type: 'nat', hook: 'output', priority: '-100' },
    rules: ['fib daddr type local jump publish'],
  },
  {
    // Before conntrack and NAT: only the address a packet arrived with counts (CVE-2020-8558).
    name: 'guard',
    hook: { type: 'filter', hook: 'prerouting', priority: 'raw' },
    rules: [`iifname != "lo" ip daddr ${LOOPBACK4} drop`],
  },
  {
    name: 'publish',
    rules: [
      // Host-address-specific mappings before the wildcard ones.
      'dnat ip to ip daddr . meta l4proto . th dport map @hostports4',
      'dnat ip to meta l4proto . th dport map @ports4',
      'dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostports6',
      'dnat ip6 to meta l4proto . th dport map @ports6',
    ],
  },
];

function setDeclaration(s: NftSetSpec): string {
  const kind = s.value ? 'map' : 'set';
  const type = s.value ? `${s.key.join(' . ')} : ${s.value.join(' . ')}` : s.key.join(' . ');
  const flags = s.interval ? ' flags interval;' : '';
  return `add ${kind} ${T} ${s.name} { type ${type};${flags} }`;
}

/** FNV-1a, 32 bits: tells one base text from another, cheaply (not a defence against anyone). */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Holds one element, the version of the base that laid the table down: a hash of the base's text. */
const BASE_VERSION_SET = 'base_version';

let base: { readonly lines: readonly string[]; readonly version: string } | undefined;

function theBase(): { readonly lines: readonly string[]; readonly version: string } {
  if (base) return base;
  const lines = [`add table ${T}`, `add set ${T} ${BASE_VERSION_SET} { type mark; size 1; }`];
  for (const s of NFT_SETS) lines.push(setDeclaration(s));
  for (const c of NFT_CHAINS) {
    lines.push(
      c.hook
        ? `add chain ${T} ${c.name} { type ${c.hook.type} hook ${c.hook.hook} priority ${c.hook.priority}; policy accept; }`
        : `add chain ${T} ${c.name}`,
    );
  }
  for (const c of NFT_CHAINS) lines.push(`flush chain ${T} ${c.name}`);
  for (const c of NFT_CHAINS) for (const r of c.rules) lines.push(`add rule ${T} ${c.name} ${r}`);
  const version = String(fnv1a32(lines.join('\n')));
  lines.push(`flush set ${T} ${BASE_VERSION_SET}`, `add element ${T} ${BASE_VERSION_SET} { ${version} }`);
  base = { lines, version };
  return base;
}

/** The number berth's base leaves in set base_version. */
export const nftBaseVersion = (): string => theBase().version;

/**
 * The static part, idempotent: `add` of an existing table, set or chain is a
 * no-op, and each chain is flushed and refilled in the same transaction, so
 * applying it twice, or after someone flushed the ruleset, leaves one copy.
 */
export function renderNftBase(): string[] {
  return [...theBase().lines];
}

/** One element of one set or map, in nft's own text, which is also what `check` compares with. */
export interface NftElement {
  readonly set: NftSetName;
  readonly key: string;
  readonly value?: string;
}

const q = (ifname: string) => `"${ifname}"`;

/** The elements an owner's rules consist of. */
export function nftElements(rules: NormalizedRules): NftElement[] {
  const out: NftElement[] = [];
  for (const b of rules.bridges) {
    out.push({ set: 'bridges', key: q(b.name) });
    out.push({ set: 'intra', key: `${q(b.name)} . ${q(b.name)}` });
    if (b.isolate) out.push({ set: 'isolated', key: q(b.name) });
    for (const s of b.subnets) out.push({ set: `hairpin${familyOf(s)}`, key: `${q(b.name)} . ${s}` });
  }
  for (const m of rules.masquerade) {
    const f = familyOf(m.source);
    const net = m.source.includes('/') ? 'masqnet' : 'masq';
    out.push({ set: `${net}${f}`, key: m.source });
    out.push({ set: `${net}${f}_keep`, key: `${m.source} . ${m.subnet}` });
  }
  for (const p of rules.ports) {
    const f = familyOf(p.containerIP);
    const value = `${p.containerIP} . ${p.containerPort}`;
    if (p.hostIP) out.push({ set: `hostports${f}`, key: `${p.hostIP} . ${p.protocol} . ${p.hostPort}`, value });
    else out.push({ set: `ports${f}`, key: `${p.protocol} . ${p.hostPort}`, value });
  }
  return out;
}

export const elementId = (e: NftElement) => `${e.set} ${e.key}${e.value !== undefined ? ` : ${e.value}` : ''}`;

function addLine(e: NftElement, comment: string): string {
  const c = ` comment ${JSON.stringify(comment)}`;
  return `add element ${T} ${e.set} { ${e.key}${c}${e.value !== undefined ? ` : ${e.value}` : ''} }`;
}

/**
 * Deleting an element that is not there fails the whole transaction, and nft
 * 1.0.6 has no `destroy`; adding it first (a no-op when present) makes the
 * delete succeed either way.
 */
function deleteLines(e: NftElement): string[] {
  return [
    `add element ${T} ${e.set} { ${e.key}${e.value !== undefined ? ` : ${e.value}` : ''} }`,
    `delete element ${T} ${e.set} { ${e.key} }`,
  ];
}

/** One owner going from `before` to `after` (null: nothing). */
export interface NftChange {
  readonly owner: Owner;
  readonly before: NormalizedRules | null;
  readonly after: NormalizedRules | null;
  /** Bridges other owners hold too: their elements stay. */
  readonly sharedBridges?: readonly BridgeRule[];
}

/**
 * The owner-specific lines of a change: elements that go, then elements that
 * come. Given what the kernel holds (`present`), only elements present are
 * deleted, by key, whatever their value; without it, deletes work blind.
 */
export function renderNftChange(change: NftChange, present?: NftTableState | null): string[] {
  const before = change.before ? nftElements(change.before) : [];
  const after = change.after ? nftElements(change.after) : [];
  const shared = nftElements({ bridges: change.sharedBridges ?? [], masquerade: [], ports: [] });
  const keep = new Set([...after, ...shared].map(elementId));
  const gone = new Set<string>();
  const lines: string[] = [];
  for (const e of before) {
    const id = elementId(e);
    if (keep.has(id) || gone.has(id)) continue;
    gone.add(id);
    if (present === undefined) lines.push(...deleteLines(e));
    else if (present?.sets.get(e.set)?.has(e.key)) lines.push(`delete element ${T} ${e.set} { ${e.key} }`);
  }
  const tag = ownerTag(change.owner);
  const added = new Set<string>();
  for (const e of after) {
    if (added.has(elementId(e))) continue;
    added.add(elementId(e));
    lines.push(addLine(e, tag));
  }
  return lines;
}

/**
 * The text for `nft -f -`: the base and every change, one atomic transaction.
 * `present` (what `nft -j list table` said; null: no table) switches deletes
 * from blind to exact, for when a blind batch was refused.
 */
export function renderNftTransaction(changes: readonly NftChange[], present?: NftTableState | null): string {
  return `${[...renderNftBase(), ...changes.flatMap((c) => renderNftChange(c, present))].join('\n')}\n`;
}

/**
 * The changes alone, for a table this berth's base laid down. Adding the base's
 * version element again is a no-op when it is there; the set holds one element
 * (size 1), so another version's element refuses it, and so does a missing
 * table or set: the whole transaction fails and the caller sends
 * renderNftTransaction. (A delete would check as well, but deleting an element
 * makes the kernel wait for an RCU grace period, about 15 ms, as re-sending the
 * base's rules does; adding elements is about 4 ms.)
 */
export function renderNftChangesOnBase(changes: readonly NftChange[]): string {
  const check = `add element ${T} ${BASE_VERSION_SET} { ${nftBaseVersion()} }`;
  return `${[check, ...changes.flatMap((c) => renderNftChange(c))].join('\n')}\n`;
}

/** What `nft -j list table inet berth` says, reduced to what berth compares. */
export interface NftTableState {
  readonly chains: ReadonlyMap<
    string,
    { readonly type?: string; readonly hook?: string; readonly prio?: number; readonly rules: number }
  >;
  /** Set or map name -> element key -> its value (undefined in a set). */
  readonly sets: ReadonlyMap<string, ReadonlyMap<string, string | undefined>>;
}

const PRIORITY: Readonly<Record<string, number>> = { raw: -300, dstnat: -100, filter: 0, srcnat: 100 };
const PROTO_NUMBERS: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function component(type: string, v: Json): string {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'prefix' in v) {
    const p = v.prefix as { addr: string; len: number };
    return `${p.addr}/${p.len}`;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'range' in v) {
    const [a, b] = v.range as Json[];
    return `${String(a)}-${String(b)}`;
  }
  if (type === 'ifname') return q(String(v));
  if (type === 'inet_proto' && typeof v === 'number') return PROTO_NUMBERS[v] ?? String(v);
  return String(v);
}

function unwrapElem(v: Json): Json {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'elem' in v) {
    return (v.elem as { val: Json }).val;
  }
  return v;
}

function valueText(types: readonly string[], v: Json): string {
  const inner = unwrapElem(v);
  if (inner !== null && typeof inner === 'object' && !Array.isArray(inner) && 'concat' in inner) {
    return (inner.concat as Json[]).map((c, i) => component(types[i] ?? '', c)).join(' . ');
  }
  return component(types[0] ?? '', inner);
}

/** Reads `nft -j list table inet berth`; throws on text that is not nft's JSON. */
export function parseNftTableJson(text: string): NftTableState {
  const doc = JSON.parse(text) as { nftables?: Record<string, Record<string, Json>>[] };
  if (!Array.isArray(doc.nftables)) throw new Error('not nft JSON output: no "nftables" array');
  const chains = new Map<string, { type?: string; hook?: string; prio?: number; rules: number }>();
  const sets = new Map<string, Map<string, string | undefined>>();
  for (const o of doc.nftables) {
    const chain = o.chain;
    if (chain) {
      chains.set(String(chain.name), {
        ...(chain.type !== undefined ? { type: String(chain.type) } : {}),
        ...(chain.hook !== undefined ? { hook: String(chain.hook) } : {}),
        ...(typeof chain.prio === 'number' ? { prio: chain.prio } : {}),
        rules: chains.get(String(chain.name))?.rules ?? 0,
      });
    }
    const rule = o.rule;
    if (rule) {
      const name = String(rule.chain);
      const c = chains.get(name) ?? { rules: 0 };
      chains.set(name, { ...c, rules: c.rules + 1 });
    }
    const set = o.set ?? o.map;
    if (set) {
      const keyTypes = Array.isArray(set.type) ? set.type.map(String) : [String(set.type)];
      const valueTypes = typeof set.map === 'string' ? set.map.split(' . ') : undefined;
      const name = String(set.name);
      const elements = new Map<string, string | undefined>();
      for (const e of (set.elem as Json[] | undefined) ?? []) {
        if (valueTypes && Array.isArray(e))
          elements.set(valueText(keyTypes, e[0] ?? null), valueText(valueTypes, e[1] ?? null));
        else elements.set(valueText(keyTypes, e), undefined);
      }
      sets.set(name, elements);
    }
  }
  return { chains, sets };
}

/** What is missing or different in the kernel for the base and for these rules; empty when all is there. */
export function nftProblems(state: NftTableState | null, rules: NormalizedRules | null): string[] {
  if (!state) return [`table ${T} does not exist`];
  const problems: string[] = [];
  for (const c of NFT_CHAINS) {
    const got = state.chains.get(c.name);
    if (!got) {
      problems.push(`chain ${T} ${c.name} does not exist`);
      continue;
    }
    if (c.hook) {
      const prio = PRIORITY[c.hook.priority] ?? Number(c.hook.priority);
      if (got.type !== c.hook.type || got.hook !== c.hook.hook || got.prio !== prio) {
        problems.push(
          `chain ${T} ${c.name} is ${got.type ?? 'regular'} hook ${got.hook ?? 'none'} priority ${got.prio ?? 'none'}, berth expects ${c.hook.type} hook ${c.hook.hook} priority ${prio}`,
        );
      }
    }
    if (got.rules !== c.rules.length) {
      problems.push(`chain ${T} ${c.name} has ${got.rules} rule(s), berth expects ${c.rules.length}`);
    }
  }
  for (const s of NFT_SETS) {
    if (!state.sets.has(s.name)) problems.push(`${s.value ? 'map' : 'set'} ${T} ${s.name} does not exist`);
  }
  const versions = [...(state.sets.get(BASE_VERSION_SET)?.keys() ?? [])];
  if (!versions.includes(nftBaseVersion())) {
    problems.push(
      `set ${T} ${BASE_VERSION_SET} holds ${versions.length > 0 ? versions.join(', ') : 'nothing'}, not this berth's base version ${nftBaseVersion()} (run \`berth firewall reload\`)`,
    );
  }
  for (const e of rules ? nftElements(rules) : []) {
    const have = state.sets.get(e.set);
    if (!have) continue;
    if (!have.has(e.key)) problems.push(`element ${elementId(e)} is missing from ${T}`);
    else if (have.get(e.key) !== e.value) {
      problems.push(`element ${e.set} ${e.key} maps to ${have.get(e.key)}, berth expects ${e.value}`);
    }
  }
  return problems;
}
