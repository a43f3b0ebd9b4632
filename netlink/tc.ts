import {
  type Attrs,
  htons,
  type NlMsg,
  type NlWriter,
  readS32,
  readTcmsg,
  readU32,
  writeS32,
  writeU32,
} from './codec.js';
import {
  ETH_P_ALL,
  ETH_P_IP,
  ETH_P_IPV6,
  PSCHED_TICK_NS,
  RTM_NEWQDISC,
  RTM_NEWTFILTER,
  TC_ACT_STOLEN,
  TC_H_INGRESS,
  TC_H_INGRESS_QDISC,
  TC_H_MIN_EGRESS,
  TC_H_MIN_INGRESS,
  TC_H_ROOT,
  TC_LINKLAYER_ETHERNET,
  TC_MIRRED_LEN,
  TC_RATESPEC_LEN,
  TC_TBF_QOPT_LEN,
  TC_U32_KEY_LEN,
  TC_U32_SEL_LEN,
  TC_U32_TERMINAL,
  TCA_ACT_KIND,
  TCA_ACT_OPTIONS,
  TCA_EGRESS_MIRROR,
  TCA_EGRESS_REDIR,
  TCA_INGRESS_MIRROR,
  TCA_INGRESS_REDIR,
  TCA_KIND,
  TCA_MIRRED_PARMS,
  TCA_OPTIONS,
  TCA_TBF_BURST,
  TCA_TBF_PARMS,
  TCA_TBF_RATE64,
  TCA_U32_ACT,
  TCA_U32_CLASSID,
  TCA_U32_SEL,
  TCMSG_LEN,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import type { LinkRef } from './links.js';

/**
 * Traffic control requests and replies (RTM_*QDISC, RTM_*TFILTER), as pure
 * functions over the codec: the TBF shaper with 64-bit rates, the ingress and
 * clsact qdiscs, and a u32 filter matching every packet with a mirred action
 * that redirects it to another link. Together they shape both directions of a
 * link the way the reference bandwidth plugin does: a TBF on the link shapes
 * what leaves it; what arrives is redirected from its ingress to an IFB link
 * and shaped by a TBF there.
 *
 * Handles are written as tc writes them, 'major:minor' in hex ('1:', '1:1',
 * 'ffff:fff1'); rates are bits per second and bursts bits, as in the CNI
 * bandwidth keys, and the kernel keeps both in bytes.
 */

export interface TbfSpec {
  readonly kind: 'tbf';
  /** Where it hangs: 'root' (the default) or a class 'major:minor'. */
  readonly parent?: string;
  /** 'major:'; without it the kernel picks one. */
  readonly handle?: string;
  /** Bits per second, at least 8; the kernel keeps bytes, so the rate is rounded down to a multiple of 8. */
  readonly rate: number;
  /** The bucket in bits: what may pass at line speed after a pause. Rounded down to bytes. */
  readonly burst: number;
  /** How long a packet may wait in the queue, in ms; the queue then holds rate × latency + burst (tc's `latency`). */
  readonly latencyMs?: number;
  /** The queue's length in bytes, instead of latencyMs (tc's `limit`). */
  readonly limit?: number;
}

/** The qdisc whose filters see what arrives on a link. */
export interface IngressSpec {
  readonly kind: 'ingress';
}

/** Like ingress, with a second hook for what leaves ('egress'). It takes the ingress qdisc's place. */
export interface ClsactSpec {
  readonly kind: 'clsact';
}

export type QdiscSpec = TbfSpec | IngressSpec | ClsactSpec;

/** Which packets a filter sees. */
export type FilterProtocol = 'all' | 'ip' | 'ipv6';

/** A u32 filter that matches every packet (one key, value 0 under mask 0, as `match u32 0 0`). */
export interface U32Spec {
  readonly kind: 'u32';
  /**
   * The hook: 'ingress' (the ingress qdisc, or clsact's ingress), 'egress'
   * (clsact's egress), or a qdisc or class 'major:minor'.
   */
  readonly parent: string;
  /** tc's pref, 1 to 65535, lower first; without it the kernel picks one. */
  readonly priority?: number;
  /** 'all' by default. */
  readonly protocol?: FilterProtocol;
  /** The class matched packets go to (tc's flowid), for a classful qdisc. */
  readonly classid?: string;
  /** Sends every matched packet out of this link (`action mirred egress redirect dev`). */
  readonly redirectTo?: LinkRef;
}

export type FilterSpec = U32Spec;

/** A TBF as the kernel holds it. */
export interface TbfState {
  /** Bits per second. */
  readonly rate: number;
  /** Bits. The kernel keeps the burst as a time at the rate, so this is within rate × 64 ns of what was set. */
  readonly burst: number;
  /** Bytes the queue holds. */
  readonly limit: number;
}

export interface Qdisc {
  /** The link's ifindex. */
  readonly index: number;
  readonly kind: string;
  /** 'major:' ('0:' for the kernel's default qdisc). */
  readonly handle: string;
  /** 'root', 'ingress' (where ingress and clsact hang), or the class 'major:minor'. */
  readonly parent: string;
  readonly tbf?: TbfState;
}

export interface MirredAction {
  readonly direction: 'egress' | 'ingress';
  /** Redirect (the packet goes only there) or mirror (a copy goes there). */
  readonly redirect: boolean;
  /** The link the packets go to. */
  readonly ifindex: number;
}

export interface FilterAction {
  /** 'mirred', 'gact', ... */
  readonly kind: string;
  readonly mirred?: MirredAction;
}

export interface Filter {
  /** The link's ifindex. */
  readonly index: number;
  readonly kind: string;
  /** As asked for: 'ingress', 'egress' or 'major:minor'. */
  readonly parent: string;
  readonly priority: number;
  readonly protocol: FilterProtocol | number;
  /** The filter's own handle; a u32 rule's is 'htid:hash:node' ('800::800'). */
  readonly handle: string;
  /** The class matched packets go to. */
  readonly classid?: string;
  /** u32: whether every key matches every packet (mask 0). */
  readonly matchesAll?: boolean;
  readonly actions: readonly FilterAction[];
}

/** TBF's numbers as the kernel takes them. */
export interface TbfParams {
  readonly rateBytes: number;
  readonly burstBytes: number;
  readonly limitBytes: number;
  /** The burst as the time it lasts at the rate, in psched ticks. */
  readonly bufferTicks: number;
}

const U32_MAX = 0xffffffff;
const NS_PER_SEC = 1_000_000_000n;

const PROTOCOLS: Readonly<Record<FilterProtocol, number>> = { all: ETH_P_ALL, ip: ETH_P_IP, ipv6: ETH_P_IPV6 };

const hex = (n: number): string => n.toString(16);

/** 'major:minor' or 'major:' in hex, as tc writes handles. */
export function parseTcHandle(text: string, what: string): number {
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{0,4})$/i.exec(text);
  if (!m) {
    throw new InvalidArgumentError(`invalid ${what} '${text}': expected 'major:minor' in hex, like '1:' or '1:10'`);
  }
  return (Number.parseInt(m[1]!, 16) * 0x10000 + (m[2] ? Number.parseInt(m[2], 16) : 0)) >>> 0;
}

export function formatTcHandle(handle: number): string {
  const minor = handle & 0xffff;
  return `${hex(handle >>> 16)}:${minor ? hex(minor) : ''}`;
}

/** A qdisc's parent: 'root', 'ingress' (the slot of ingress and clsact) or a class. */
export function parseQdiscParent(text: string): number {
  if (text === 'root') return TC_H_ROOT;
  if (text === 'ingress') return TC_H_INGRESS;
  return parseTcHandle(text, 'qdisc parent');
}

function formatQdiscParent(parent: number): string {
  if (parent === TC_H_ROOT) return 'root';
  if (parent === TC_H_INGRESS) return 'ingress';
  return formatTcHandle(parent);
}

const INGRESS_HOOK = (TC_H_INGRESS_QDISC | TC_H_MIN_INGRESS) >>> 0;
const EGRESS_HOOK = (TC_H_INGRESS_QDISC | TC_H_MIN_EGRESS) >>> 0;

/**
 * A filter's parent. 'ingress' is ffff:fff2, which the kernel takes for the
 * ingress qdisc as for clsact's ingress hook.
 */
export function parseFilterParent(text: string): number {
  if (text === 'ingress') return INGRESS_HOOK;
  if (text === 'egress') return EGRESS_HOOK;
  return parseTcHandle(text, 'filter parent');
}

function formatFilterParent(parent: number): string {
  if (parent === INGRESS_HOOK) return 'ingress';
  if (parent === EGRESS_HOOK) return 'egress';
  return formatTcHandle(parent);
}

function checkWhole(value: number, min: number, max: number, what: string, unit = ''): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const of = unit ? ` of ${unit}` : '';
    throw new InvalidArgumentError(`invalid ${what} ${value}: must be a whole number${of} from ${min} to ${max}`);
  }
}

/**
 * Checks a TBF and converts it to what the kernel takes. The queue's limit
 * follows from the latency as in the reference bandwidth plugin and tc:
 * rate × latency + burst. Everything is refused here, before the kernel,
 * when it does not fit the kernel's fields.
 */
export function tbfParams(spec: TbfSpec): TbfParams {
  checkWhole(spec.rate, 8, Number.MAX_SAFE_INTEGER, 'TBF rate', 'bits per second');
  checkWhole(spec.burst, 8, U32_MAX * 8, 'TBF burst', 'bits');
  const rateBytes = Math.floor(spec.rate / 8);
  const burstBytes = Math.floor(spec.burst / 8);
  const bufferTicks = (BigInt(burstBytes) * NS_PER_SEC) / (BigInt(rateBytes) * BigInt(PSCHED_TICK_NS));
  if (bufferTicks > BigInt(U32_MAX)) {
    throw new InvalidArgumentError(
      `invalid TBF burst ${spec.burst} bits: at ${spec.rate} bit/s it lasts ${Math.round(burstBytes / rateBytes)} s, the kernel holds at most ${Math.floor((U32_MAX * PSCHED_TICK_NS) / 1e9)} s`,
    );
  }
  if ((spec.latencyMs === undefined) === (spec.limit === undefined)) {
    throw new InvalidArgumentError('a TBF needs either latencyMs or limit (bytes), not both and not neither');
  }
  let limitBytes: number;
  if (spec.limit !== undefined) {
    checkWhole(spec.limit, 1, U32_MAX, 'TBF limit', 'bytes');
    limitBytes = spec.limit;
  } else {
    const latencyMs = spec.latencyMs as number;
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new InvalidArgumentError(
        `invalid TBF latency ${latencyMs} ms: must be a number of milliseconds, 0 or more`,
      );
    }
    limitBytes = Math.floor((rateBytes * latencyMs) / 1000) + burstBytes;
    if (limitBytes > U32_MAX) {
      throw new InvalidArgumentError(
        `invalid TBF latency ${latencyMs} ms: at ${spec.rate} bit/s the queue would hold ${limitBytes} bytes, the kernel at most ${U32_MAX}`,
      );
    }
  }
  return { rateBytes, burstBytes, limitBytes, bufferTicks: Number(bufferTicks) };
}

/** struct tc_tbf_qopt. No rate table goes with it: the link layer is given, and the kernel then needs none. */
function tbfQopt(p: TbfParams): Buffer {
  const b = Buffer.alloc(TC_TBF_QOPT_LEN);
  b[1] = TC_LINKLAYER_ETHERNET;
  writeU32(b, 8, Math.min(p.rateBytes, U32_MAX));
  // peakrate (bytes 12 to 23) stays zero: no peak rate.
  writeU32(b, 2 * TC_RATESPEC_LEN, p.limitBytes);
  writeU32(b, 2 * TC_RATESPEC_LEN + 4, p.bufferTicks);
  return b;
}

function writeTbfOptions(w: NlWriter, p: TbfParams): void {
  const options = w.beginNest(TCA_OPTIONS);
  w.bytes(TCA_TBF_PARMS, tbfQopt(p));
  // With the burst in bytes the kernel keeps it exactly, instead of deriving it from the buffer's ticks.
  w.u32(TCA_TBF_BURST, p.burstBytes);
  if (p.rateBytes > U32_MAX) w.u64(TCA_TBF_RATE64, p.rateBytes);
  w.endNest(options);
}

/** A QdiscSpec checked and converted, ready to be written. */
export interface QdiscRequest {
  readonly kind: QdiscSpec['kind'];
  readonly handle: number;
  readonly parent: number;
  readonly tbf?: TbfParams;
}

/** Checks a QdiscSpec; everything the kernel could not hold is refused here. */
export function qdiscRequest(spec: QdiscSpec): QdiscRequest {
  switch (spec.kind) {
    case 'tbf': {
      const tbf = tbfParams(spec);
      const handle = spec.handle === undefined ? 0 : parseTcHandle(spec.handle, 'qdisc handle');
      if (handle & 0xffff) {
        throw new InvalidArgumentError(`invalid qdisc handle '${spec.handle}': a qdisc's handle is 'major:'`);
      }
      return { kind: 'tbf', handle, parent: parseQdiscParent(spec.parent ?? 'root'), tbf };
    }
    case 'ingress':
    case 'clsact':
      return { kind: spec.kind, handle: TC_H_INGRESS_QDISC, parent: TC_H_INGRESS };
    default:
      throw new InvalidArgumentError(
        `unknown qdisc kind '${(spec as { kind: string }).kind}': use tbf, ingress or clsact`,
      );
  }
}

/** RTM_NEWQDISC; the flags (create, exclusive or replace) are the caller's. */
export function writeQdisc(w: NlWriter, index: number, req: QdiscRequest): void {
  w.tcmsg({ ifindex: index, handle: req.handle, parent: req.parent });
  w.str(TCA_KIND, req.kind);
  if (req.tbf) writeTbfOptions(w, req.tbf);
}

/**
 * RTM_DELQDISC of whatever qdisc is at `parent`. Handle 0 matches any; with a
 * handle the kernel would answer EINVAL, not ENOENT, where there is none.
 */
export function writeDeleteQdisc(w: NlWriter, index: number, parent: number): void {
  w.tcmsg({ ifindex: index, parent });
}

/** RTM_GETQDISC dump. The kernel sends every link's qdiscs whatever the ifindex; parseQdisc sorts them out. */
export function writeListQdiscs(w: NlWriter): void {
  w.tcmsg({ ifindex: 0 });
}

function readTbf(options: Attrs | undefined): TbfState | undefined {
  const parms = options?.raw(TCA_TBF_PARMS);
  if (!options || !parms || parms.length < TC_TBF_QOPT_LEN) return undefined;
  const rateBytes = options.u64(TCA_TBF_RATE64) ?? readU32(parms, 8);
  const bufferTicks = readU32(parms, 2 * TC_RATESPEC_LEN + 4);
  const burstNs = BigInt(bufferTicks) * BigInt(PSCHED_TICK_NS);
  const burstBytes = Number((BigInt(rateBytes) * burstNs + NS_PER_SEC / 2n) / NS_PER_SEC);
  return { rate: rateBytes * 8, burst: burstBytes * 8, limit: readU32(parms, 2 * TC_RATESPEC_LEN) };
}

/** A Qdisc from an RTM_NEWQDISC reply; undefined for other messages and, given `index`, other links. */
export function parseQdisc(msg: NlMsg, index?: number): Qdisc | undefined {
  if (msg.type !== RTM_NEWQDISC) return undefined;
  const tcm = readTcmsg(msg);
  if (index !== undefined && tcm.ifindex !== index) return undefined;
  const attrs = msg.attrs(TCMSG_LEN);
  const kind = attrs.str(TCA_KIND) ?? '';
  const tbf = kind === 'tbf' ? readTbf(attrs.nested(TCA_OPTIONS)) : undefined;
  return {
    index: tcm.ifindex,
    kind,
    handle: formatTcHandle(tcm.handle),
    parent: formatQdiscParent(tcm.parent),
    ...(tbf ? { tbf } : {}),
  };
}

/**
 * How a qdisc read back differs from a TBF spec, one phrase per difference;
 * empty when it matches. The burst may differ by what one 64 ns tick carries
 * at the rate, and a byte, since the kernel keeps it as a time.
 */
export function tbfDifferences(spec: TbfSpec, qdisc: Qdisc | undefined): string[] {
  const want = tbfParams(spec);
  if (!qdisc) return ['there is no qdisc'];
  if (!qdisc.tbf) return [`the qdisc is ${qdisc.kind}, not tbf`];
  const got = qdisc.tbf;
  const out: string[] = [];
  const parent = spec.parent ?? 'root';
  if (qdisc.parent !== parent) out.push(`parent is ${qdisc.parent}, not ${parent}`);
  if (spec.handle !== undefined && qdisc.handle !== formatTcHandle(parseTcHandle(spec.handle, 'qdisc handle'))) {
    out.push(`handle is ${qdisc.handle}, not ${spec.handle}`);
  }
  if (got.rate !== want.rateBytes * 8) out.push(`rate is ${got.rate} bit/s, not ${want.rateBytes * 8}`);
  const slack = Math.ceil((want.rateBytes * PSCHED_TICK_NS) / 1e9) + 1;
  if (Math.abs(got.burst / 8 - want.burstBytes) > slack) {
    out.push(`burst is ${got.burst} bits, not ${want.burstBytes * 8}`);
  }
  if (got.limit !== want.limitBytes) out.push(`limit is ${got.limit} bytes, not ${want.limitBytes}`);
  return out;
}

function filterInfo(priority: number, protocol: number): number {
  return priority * 0x10000 + htons(protocol);
}

/** A FilterSpec checked and converted, but for the link to redirect to, which the handle resolves. */
export interface FilterRequest {
  readonly parent: number;
  /** tcm_info: priority and protocol. */
  readonly info: number;
  readonly classid: number | undefined;
}

export function filterRequest(spec: FilterSpec): FilterRequest {
  if (spec.kind !== 'u32') {
    throw new InvalidArgumentError(`unknown filter kind '${(spec as { kind: string }).kind}': use u32`);
  }
  if (spec.priority !== undefined) checkWhole(spec.priority, 1, 0xffff, 'filter priority');
  const name = spec.protocol ?? 'all';
  const protocol = Object.hasOwn(PROTOCOLS, name) ? PROTOCOLS[name] : undefined;
  if (protocol === undefined) {
    throw new InvalidArgumentError(`invalid filter protocol '${spec.protocol}': use all, ip or ipv6`);
  }
  return {
    parent: parseFilterParent(spec.parent),
    info: filterInfo(spec.priority ?? 0, protocol),
    classid: spec.classid === undefined ? undefined : parseTcHandle(spec.classid, 'filter classid'),
  };
}

/** struct tc_u32_sel with one key that every packet matches: value 0 under mask 0 at offset 0. */
function matchAllSelector(): Buffer {
  const b = Buffer.alloc(TC_U32_SEL_LEN + TC_U32_KEY_LEN);
  b[0] = TC_U32_TERMINAL;
  b[2] = 1; // nkeys
  return b;
}

/** struct tc_mirred for an egress redirect: the packet is stolen from this path and sent out of ifindex. */
function mirredRedirect(ifindex: number): Buffer {
  const b = Buffer.alloc(TC_MIRRED_LEN);
  writeS32(b, 8, TC_ACT_STOLEN);
  writeS32(b, 20, TCA_EGRESS_REDIR);
  writeU32(b, 24, ifindex);
  return b;
}

/**
 * RTM_NEWTFILTER of a u32 filter matching every packet, as `tc filter add ...
 * u32 match u32 0 0 [flowid X] [action mirred egress redirect dev Y]` sends it;
 * `redirectIndex` is the resolved redirectTo.
 */
export function writeFilter(w: NlWriter, index: number, req: FilterRequest, redirectIndex?: number): void {
  w.tcmsg({ ifindex: index, parent: req.parent, info: req.info });
  w.str(TCA_KIND, 'u32');
  const options = w.beginNest(TCA_OPTIONS);
  if (req.classid !== undefined) w.u32(TCA_U32_CLASSID, req.classid);
  if (redirectIndex !== undefined) {
    const actions = w.beginNest(TCA_U32_ACT);
    const first = w.beginNest(1); // actions are numbered in the order they run
    w.str(TCA_ACT_KIND, 'mirred');
    const mirred = w.beginNest(TCA_ACT_OPTIONS, true);
    w.bytes(TCA_MIRRED_PARMS, mirredRedirect(redirectIndex));
    w.endNest(mirred);
    w.endNest(first);
    w.endNest(actions);
  }
  w.bytes(TCA_U32_SEL, matchAllSelector());
  w.endNest(options);
}

/** Which filters a delete takes: on `parent`, those of one priority (the classifier and all its rules) or all. */
export interface FilterSlot {
  readonly parent: number;
  readonly info: number;
}

export function filterSlot(parent: string, priority?: number): FilterSlot {
  if (priority !== undefined) checkWhole(priority, 1, 0xffff, 'filter priority');
  // Protocol 0 matches a classifier of any protocol.
  return { parent: parseFilterParent(parent), info: filterInfo(priority ?? 0, 0) };
}

/** RTM_DELTFILTER. */
export function writeDeleteFilters(w: NlWriter, index: number, slot: FilterSlot): void {
  w.tcmsg({ ifindex: index, parent: slot.parent, info: slot.info });
}

/** RTM_GETTFILTER dump of the filters on one parent of one link. */
export function writeListFilters(w: NlWriter, index: number, parent: number): void {
  w.tcmsg({ ifindex: index, parent });
}

const MIRRED: Readonly<Record<number, Omit<MirredAction, 'ifindex'>>> = {
  [TCA_EGRESS_REDIR]: { direction: 'egress', redirect: true },
  [TCA_EGRESS_MIRROR]: { direction: 'egress', redirect: false },
  [TCA_INGRESS_REDIR]: { direction: 'ingress', redirect: true },
  [TCA_INGRESS_MIRROR]: { direction: 'ingress', redirect: false },
};

function readActions(list: Attrs | undefined): FilterAction[] {
  const out: FilterAction[] = [];
  if (!list) return out;
  for (const entry of list) {
    const action = list.nested(entry.type);
    const kind = action?.str(TCA_ACT_KIND);
    if (!action || !kind) continue;
    const parms = kind === 'mirred' ? action.nested(TCA_ACT_OPTIONS)?.raw(TCA_MIRRED_PARMS) : undefined;
    const how = parms && parms.length >= TC_MIRRED_LEN ? MIRRED[readS32(parms, 20)] : undefined;
    out.push({ kind, ...(parms && how ? { mirred: { ...how, ifindex: readU32(parms, 24) } } : {}) });
  }
  return out;
}

/** u32 handles are htid:hash:node, each part left out when zero, as tc prints them. */
function formatU32Handle(handle: number): string {
  const part = (n: number) => (n ? hex(n) : '');
  return `${part(handle >>> 20)}:${part((handle >>> 12) & 0xff)}:${part(handle & 0xfff)}`;
}

function u32MatchesAll(sel: Buffer): boolean {
  const nkeys = sel[2] ?? 0;
  for (let i = 0; i < nkeys; i++) {
    const at = TC_U32_SEL_LEN + i * TC_U32_KEY_LEN;
    if (at + TC_U32_KEY_LEN > sel.length || sel.readUInt32BE(at) !== 0) return false;
  }
  return true;
}

function protocolName(protocol: number): FilterProtocol | number {
  for (const [name, number] of Object.entries(PROTOCOLS)) if (number === protocol) return name as FilterProtocol;
  return protocol;
}

/**
 * A Filter from an RTM_NEWTFILTER reply; undefined for other messages. A dump
 * also reports each classifier itself and, for u32, its hash tables: those
 * match nothing by themselves and are left out, so what remains are the rules.
 */
export function parseFilter(msg: NlMsg): Filter | undefined {
  if (msg.type !== RTM_NEWTFILTER) return undefined;
  const tcm = readTcmsg(msg);
  const attrs = msg.attrs(TCMSG_LEN);
  const kind = attrs.str(TCA_KIND) ?? '';
  const options = attrs.nested(TCA_OPTIONS);
  if (!options) return undefined;
  const sel = kind === 'u32' ? options.raw(TCA_U32_SEL) : undefined;
  if (kind === 'u32' && !sel) return undefined;
  const classid = kind === 'u32' ? options.u32(TCA_U32_CLASSID) : undefined;
  return {
    index: tcm.ifindex,
    kind,
    parent: formatFilterParent(tcm.parent),
    priority: tcm.info >>> 16,
    protocol: protocolName(htons(tcm.info & 0xffff)),
    handle: kind === 'u32' ? formatU32Handle(tcm.handle) : hex(tcm.handle),
    ...(classid !== undefined ? { classid: formatTcHandle(classid) } : {}),
    ...(sel ? { matchesAll: u32MatchesAll(sel) } : {}),
    actions: readActions(kind === 'u32' ? options.nested(TCA_U32_ACT) : undefined),
  };
}

/** Used in error messages. */
export function describeQdisc(spec: QdiscSpec): string {
  if (spec.kind !== 'tbf') return `${spec.kind} qdisc`;
  return `tbf qdisc (rate ${spec.rate} bit/s, burst ${spec.burst} bits)`;
}
