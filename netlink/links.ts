import { formatMac } from '../base/mac.js';
import { type Attrs, type NlMsg, type NlWriter, readIfinfomsg } from './codec.js';
import {
  AF_BRIDGE,
  AF_UNSPEC,
  ARPHRD_LOOPBACK,
  IFALIAS_MAX,
  IFF_PROMISC,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_BRPORT_ISOLATED,
  IFLA_BRPORT_LEARNING,
  IFLA_BRPORT_MODE,
  IFLA_EXT_MASK,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINK_NETNSID,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IFLA_PROTINFO,
  RTEXT_FILTER_SKIP_STATS,
  RTM_NEWLINK,
  VETH_INFO_PEER,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { type MacvlanInfo, type MacvlanMode, parseMacvlanData, writeMacvlanData } from './macvlan.js';
import { validateIfIndex, validateIfName } from './names.js';
import { parseVxlanData, type VxlanData, type VxlanInfo, vxlanUnderlay, writeVxlanData } from './vxlan.js';

/**
 * Link requests and replies, as pure functions over the codec: what goes into
 * an RTM_*LINK message and what comes out of one. The handle only sends them.
 */

/** A link by name or by ifindex. An index saves the kernel a name lookup and survives renames. */
export type LinkRef = string | number;

export type OperState = 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';
const OPER_STATES: readonly OperState[] = [
  'unknown',
  'notpresent',
  'down',
  'lowerlayerdown',
  'testing',
  'dormant',
  'up',
];

export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFLA_INFO_KIND ('veth', 'bridge', 'vxlan'...), 'loopback' for lo, 'device' for a link without a kind. */
  readonly type: string;
  readonly mtu: number;
  /** Absent for links without a hardware address. */
  readonly mac?: string;
  /** IFF_UP: administratively up. */
  readonly up: boolean;
  /** IFF_PROMISC as set by a user (not the count bridges add). */
  readonly promisc: boolean;
  /** ifi_flags (IFF_*). */
  readonly flags: number;
  readonly operState: OperState;
  /** The bridge (or other master) this link is enslaved to. */
  readonly masterIndex?: number;
  /** IFLA_LINK of a link that is not stacked on another (a veth's peer). In the netns named by peerNetnsId when that is set. */
  readonly peerIndex?: number;
  /**
   * The device a stacked link sits on: a macvlan's or VLAN's parent (IFLA_LINK),
   * a VXLAN's underlay (IFLA_VXLAN_LINK). In the netns named by peerNetnsId when that is set.
   */
  readonly parentIndex?: number;
  /** IFLA_LINK_NETNSID: this netns's id for the netns of peerIndex or parentIndex, when that is another one. */
  readonly peerNetnsId?: number;
  /** A macvlan's mode. */
  readonly macvlan?: MacvlanInfo;
  /** A VXLAN link's settings. */
  readonly vxlan?: VxlanInfo;
  /** IFLA_IFALIAS: a note a user or program left on the link (`ip link set ... alias`). */
  readonly alias?: string;
}

/** What any link may be created with. */
export interface LinkOptions {
  mtu?: number;
  mac?: Uint8Array;
}

export interface VethOptions extends LinkOptions {
  peerMac?: Uint8Array;
  /** An open fd of the netns the peer is created in (IFLA_NET_NS_FD). */
  peerNetnsFd?: number;
}

export interface MacvlanOptions extends LinkOptions {
  /** An open fd of the netns the macvlan is created in (IFLA_NET_NS_FD); its parent stays where it is. */
  netnsFd?: number;
}

/** What RTM_SETLINK changes on an existing link; unset fields stay as they are. */
export interface LinkChange {
  up?: boolean;
  promisc?: boolean;
  mtu?: number;
  mac?: Uint8Array;
  /** The master's ifindex; 0 releases the link from its master. */
  master?: number;
  /** A new name; the link must then be given by index. */
  name?: string;
  /** An open fd of the netns the link moves to. */
  netnsFd?: number;
  /** IFLA_IFALIAS. The kernel sets it on links that exist, not in the RTM_NEWLINK that creates one. */
  alias?: string;
}

export interface BridgePortOptions {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
}

function checkMtu(mtu: number | undefined): void {
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 0 || mtu > 0xffffffff)) {
    throw new InvalidArgumentError(`invalid MTU ${mtu}: must be a whole number of bytes`);
  }
}

/** The ifinfomsg and IFLA_IFNAME that name an existing link: by index, or by name with index 0. */
function writeRef(w: NlWriter, ref: LinkRef, flags = 0, change = 0, family = AF_UNSPEC): void {
  if (typeof ref === 'number') {
    validateIfIndex(ref);
    w.ifinfomsg({ family, index: ref, flags, change });
  } else {
    w.ifinfomsg({ family, index: 0, flags, change });
    w.str(IFLA_IFNAME, validateIfName(ref));
  }
}

/** RTM_GETLINK of one link; stats are skipped since nothing here reads them. */
export function writeGetLink(w: NlWriter, ref: LinkRef): void {
  writeRef(w, ref);
  w.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

/** RTM_GETLINK dump of every link. */
export function writeListLinks(w: NlWriter): void {
  w.ifinfomsg({ family: AF_UNSPEC });
  w.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

interface NewLinkAttrs extends LinkOptions {
  /** IFLA_LINK: the device a stacked link (a macvlan) sits on, looked up in the netns the request is sent in. */
  parent?: number;
  /** IFLA_NET_NS_FD: an open fd of the netns the link is created in. */
  netnsFd?: number;
}

/**
 * The ifinfomsg and attributes of a new link, then IFLA_LINKINFO with its kind;
 * `data` writes the kind's IFLA_INFO_DATA, when it has one.
 */
function writeNewLink(
  w: NlWriter,
  name: string,
  kind: string,
  attrs: NewLinkAttrs,
  data?: (w: NlWriter) => void,
): void {
  checkMtu(attrs.mtu);
  w.ifinfomsg({ family: AF_UNSPEC });
  w.str(IFLA_IFNAME, validateIfName(name));
  if (attrs.mtu !== undefined) w.u32(IFLA_MTU, attrs.mtu);
  if (attrs.mac) w.bytes(IFLA_ADDRESS, attrs.mac);
  if (attrs.parent !== undefined) w.u32(IFLA_LINK, validateIfIndex(attrs.parent));
  if (attrs.netnsFd !== undefined) w.u32(IFLA_NET_NS_FD, attrs.netnsFd);
  const info = w.beginNest(IFLA_LINKINFO);
  w.str(IFLA_INFO_KIND, kind);
  if (data) {
    const nest = w.beginNest(IFLA_INFO_DATA);
    data(w);
    w.endNest(nest);
  }
  w.endNest(info);
}

/** RTM_NEWLINK (create, exclusive) of a bridge. */
export function writeCreateBridge(w: NlWriter, name: string, opts: LinkOptions = {}): void {
  writeNewLink(w, name, 'bridge', opts);
}

/**
 * RTM_NEWLINK (create, exclusive) of a veth pair. The peer is described by its
 * own ifinfomsg and attributes inside VETH_INFO_PEER; with IFLA_NET_NS_FD there
 * the kernel creates it straight in that netns, so no name is ever taken twice.
 */
export function writeCreateVeth(w: NlWriter, name: string, peerName: string, opts: VethOptions = {}): void {
  const { peerMac, peerNetnsFd, ...own } = opts;
  writeNewLink(w, name, 'veth', own, (w) => {
    const peer = w.beginNest(VETH_INFO_PEER);
    w.ifinfomsg({ family: AF_UNSPEC });
    w.str(IFLA_IFNAME, validateIfName(peerName, 'peer interface name'));
    if (opts.mtu !== undefined) w.u32(IFLA_MTU, opts.mtu);
    if (peerMac) w.bytes(IFLA_ADDRESS, peerMac);
    if (peerNetnsFd !== undefined) w.u32(IFLA_NET_NS_FD, peerNetnsFd);
    w.endNest(peer);
  });
}

/** RTM_NEWLINK (create, exclusive) of a VXLAN link, in the netns the request is sent in. */
export function writeCreateVxlan(w: NlWriter, name: string, data: VxlanData, opts: LinkOptions = {}): void {
  writeNewLink(w, name, 'vxlan', opts, (w) => writeVxlanData(w, data));
}

/**
 * RTM_NEWLINK (create, exclusive) of a macvlan on `parent` (an ifindex in the
 * netns the request is sent in). With opts.netnsFd the kernel creates it straight
 * in that netns, as a veth's peer.
 */
export function writeCreateMacvlan(
  w: NlWriter,
  name: string,
  parent: number,
  mode: MacvlanMode,
  opts: MacvlanOptions = {},
): void {
  writeNewLink(w, name, 'macvlan', { ...opts, parent }, (w) => writeMacvlanData(w, mode));
}

/** RTM_NEWLINK (create, exclusive) of an IFB link, which hands what is redirected to it back to the stack. */
export function writeCreateIfb(w: NlWriter, name: string, opts: LinkOptions = {}): void {
  writeNewLink(w, name, 'ifb', opts);
}

/** RTM_SETLINK: the flags go in ifi_flags with their mask in ifi_change, the rest as attributes. */
export function writeSetLink(w: NlWriter, ref: LinkRef, change: LinkChange): void {
  checkMtu(change.mtu);
  let flags = 0;
  let mask = 0;
  if (change.up !== undefined) {
    mask |= IFF_UP;
    if (change.up) flags |= IFF_UP;
  }
  if (change.promisc !== undefined) {
    mask |= IFF_PROMISC;
    if (change.promisc) flags |= IFF_PROMISC;
  }
  if (change.name !== undefined && typeof ref !== 'number') {
    // With index 0 the kernel reads IFLA_IFNAME as the link to change, so a rename needs the index.
    throw new InvalidArgumentError(`renaming '${ref}' needs its ifindex, not its name`);
  }
  writeRef(w, ref, flags, mask);
  if (change.name !== undefined) w.str(IFLA_IFNAME, validateIfName(change.name, 'new interface name'));
  if (change.mtu !== undefined) w.u32(IFLA_MTU, change.mtu);
  if (change.mac) w.bytes(IFLA_ADDRESS, change.mac);
  if (change.master !== undefined) w.u32(IFLA_MASTER, change.master);
  if (change.netnsFd !== undefined) w.u32(IFLA_NET_NS_FD, change.netnsFd);
  if (change.alias !== undefined) w.str(IFLA_IFALIAS, checkAlias(change.alias));
}

function checkAlias(alias: string): string {
  if (Buffer.byteLength(alias) > IFALIAS_MAX || alias.includes('\0')) {
    throw new InvalidArgumentError(
      `invalid link alias ${JSON.stringify(alias.slice(0, 40))}...: at most ${IFALIAS_MAX} bytes, no NUL`,
    );
  }
  return alias;
}

/** RTM_DELLINK. */
export function writeDeleteLink(w: NlWriter, ref: LinkRef): void {
  writeRef(w, ref);
}

/**
 * RTM_SETLINK with family AF_BRIDGE: the bridge's own setlink, which reads the
 * port settings from IFLA_PROTINFO. It must carry NLA_F_NESTED: without it the
 * bridge takes the attribute for the old one-byte STP state. The bridge looks
 * the port up by ifindex only.
 */
export function writeBridgePort(w: NlWriter, index: number, opts: BridgePortOptions): void {
  validateIfIndex(index);
  w.ifinfomsg({ family: AF_BRIDGE, index });
  const info = w.beginNest(IFLA_PROTINFO, true);
  if (opts.hairpin !== undefined) w.u8(IFLA_BRPORT_MODE, opts.hairpin ? 1 : 0);
  if (opts.learning !== undefined) w.u8(IFLA_BRPORT_LEARNING, opts.learning ? 1 : 0);
  if (opts.isolated !== undefined) w.u8(IFLA_BRPORT_ISOLATED, opts.isolated ? 1 : 0);
  w.endNest(info);
}

/** Kinds whose IFLA_LINK names the device they sit on rather than a peer. */
const STACKED_KINDS: ReadonlySet<string> = new Set(['macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vlan']);

/** What a link's IFLA_LINKINFO says: its kind, and what its IFLA_INFO_DATA holds for the kinds read here. */
function linkInfo(attrs: Attrs, arphrd: number): Pick<Link, 'type' | 'parentIndex' | 'macvlan' | 'vxlan'> {
  const info = attrs.nested(IFLA_LINKINFO);
  const kind = info?.str(IFLA_INFO_KIND);
  if (!kind) return { type: arphrd === ARPHRD_LOOPBACK ? 'loopback' : 'device' };
  const data = info?.nested(IFLA_INFO_DATA);
  if (kind === 'macvlan' && data) return { type: kind, macvlan: parseMacvlanData(data) };
  if (kind === 'vxlan' && data) {
    const underlay = vxlanUnderlay(data);
    return { type: kind, vxlan: parseVxlanData(data), ...(underlay ? { parentIndex: underlay } : {}) };
  }
  return { type: kind };
}

/** A Link from an RTM_NEWLINK reply; undefined for other messages. */
export function parseLink(msg: NlMsg): Link | undefined {
  if (msg.type !== RTM_NEWLINK) return undefined;
  const ifi = readIfinfomsg(msg);
  const attrs = msg.attrs(IFINFOMSG_LEN);
  const mac = attrs.raw(IFLA_ADDRESS);
  const master = attrs.u32(IFLA_MASTER);
  const link = attrs.u32(IFLA_LINK);
  const netnsId = attrs.s32(IFLA_LINK_NETNSID);
  const alias = attrs.str(IFLA_IFALIAS);
  const info = linkInfo(attrs, ifi.type);
  const stacked = STACKED_KINDS.has(info.type);
  const parent = stacked ? link : info.parentIndex;
  return {
    index: ifi.index,
    name: attrs.str(IFLA_IFNAME) ?? '',
    type: info.type,
    mtu: attrs.u32(IFLA_MTU) ?? 0,
    ...(mac && mac.length > 0 ? { mac: formatMac(mac) } : {}),
    up: (ifi.flags & IFF_UP) !== 0,
    promisc: (ifi.flags & IFF_PROMISC) !== 0,
    flags: ifi.flags,
    operState: OPER_STATES[attrs.u8(IFLA_OPERSTATE) ?? 0] ?? 'unknown',
    ...(master ? { masterIndex: master } : {}),
    ...(link && !stacked ? { peerIndex: link } : {}),
    ...(parent ? { parentIndex: parent } : {}),
    ...(netnsId !== undefined && netnsId >= 0 ? { peerNetnsId: netnsId } : {}),
    ...(info.macvlan ? { macvlan: info.macvlan } : {}),
    ...(info.vxlan ? { vxlan: info.vxlan } : {}),
    ...(alias ? { alias } : {}),
  };
}
