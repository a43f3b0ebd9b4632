import { type Family, formatIp, type IpAddress } from '../base/address.js';
import { formatMac } from '../base/mac.js';
import { type NlMsg, type NlWriter, readNdmsg } from './codec.js';
import {
  AF_BRIDGE,
  AF_UNSPEC,
  NDA_DST,
  NDA_IFINDEX,
  NDA_LLADDR,
  NDMSG_LEN,
  NTF_SELF,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_NEWNEIGH,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { afOf, familyOfAf } from './ip.js';

/**
 * Neighbour entries (RTM_*NEIGH with an IPv4/IPv6 ndmsg: an IP address's link-layer
 * address on a link) and FDB entries (the same messages with AF_BRIDGE: a MAC
 * address's place, here the remote VTEP behind a VXLAN device), as pure
 * functions over the codec.
 */

/** ndm_state bits by name, as `ip neigh` prints them. */
export type NudState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent';

const NUD: Readonly<Record<NudState, number>> = {
  incomplete: NUD_INCOMPLETE,
  reachable: NUD_REACHABLE,
  stale: NUD_STALE,
  delay: NUD_DELAY,
  probe: NUD_PROBE,
  failed: NUD_FAILED,
  noarp: NUD_NOARP,
  permanent: NUD_PERMANENT,
};

const NUD_NAMES = Object.keys(NUD) as readonly NudState[];

export interface Neighbour {
  readonly index: number;
  readonly family: Family;
  readonly ip: string;
  /** Absent while the address is being resolved, or when it could not be. */
  readonly mac?: string;
  /** The bits of ndm_state by name; empty for NUD_NONE. */
  readonly state: readonly NudState[];
  /** NTF_* bits. */
  readonly flags: number;
}

export interface FdbEntry {
  /** The device whose FDB holds the entry. */
  readonly index: number;
  readonly mac: string;
  /** Where frames for mac go: a VXLAN device's remote VTEP. */
  readonly dst?: string;
  readonly state: readonly NudState[];
  /** NTF_* bits; NTF_SELF for an entry of the device's own FDB. */
  readonly flags: number;
}

export function nudStateBits(state: string): number {
  if (!Object.hasOwn(NUD, state)) {
    throw new InvalidArgumentError(`invalid neighbour state '${state}': use ${NUD_NAMES.join(', ')}`);
  }
  return NUD[state as NudState];
}

function nudStateNames(bits: number): NudState[] {
  return NUD_NAMES.filter((name) => bits & NUD[name]);
}

/**
 * RTM_NEWNEIGH / RTM_DELNEIGH of an IP neighbour, as `ip neigh replace|del` build
 * them. A delete needs only the link and the address.
 */
export function writeNeighbour(
  w: NlWriter,
  index: number,
  ip: IpAddress,
  entry?: { mac: Uint8Array; state: number },
): void {
  w.ndmsg({ family: afOf(ip.family), index, state: entry?.state ?? 0 });
  w.bytes(NDA_DST, ip.bytes);
  if (entry) w.bytes(NDA_LLADDR, entry.mac);
}

/** RTM_GETNEIGH dump. With strict checking the kernel takes the link as NDA_IFINDEX, never in the header. */
export function writeListNeighbours(w: NlWriter, index = 0, family?: Family): void {
  w.ndmsg({ family: family ? afOf(family) : AF_UNSPEC });
  if (index) w.u32(NDA_IFINDEX, index);
}

/**
 * RTM_NEWNEIGH / RTM_DELNEIGH of an FDB entry in the device's own FDB (NTF_SELF),
 * as a VXLAN device keeps it: frames for `mac` go to the VTEP at `dst`. A new
 * entry is permanent, since nothing would refresh it. A delete without dst
 * removes every remote of the MAC.
 */
export function writeFdbEntry(
  w: NlWriter,
  index: number,
  mac: Uint8Array,
  dst: IpAddress | undefined,
  forDelete: boolean,
) {
  w.ndmsg({ family: AF_BRIDGE, index, state: forDelete ? 0 : NUD_PERMANENT, flags: NTF_SELF });
  w.bytes(NDA_LLADDR, mac);
  if (dst) w.bytes(NDA_DST, dst.bytes);
}

/** RTM_GETNEIGH dump of one device's FDB: AF_BRIDGE, the device in ndm_ifindex, as `bridge fdb show dev` asks. */
export function writeListFdb(w: NlWriter, index: number): void {
  w.ndmsg({ family: AF_BRIDGE, index });
}

/** A Neighbour from an RTM_NEWNEIGH reply; undefined for other messages and families. */
export function parseNeighbour(msg: NlMsg): Neighbour | undefined {
  if (msg.type !== RTM_NEWNEIGH) return undefined;
  const ndm = readNdmsg(msg);
  const family = familyOfAf(ndm.family);
  if (!family) return undefined;
  const attrs = msg.attrs(NDMSG_LEN);
  const dst = attrs.raw(NDA_DST);
  if (!dst) return undefined;
  const mac = attrs.raw(NDA_LLADDR);
  return {
    index: ndm.index,
    family,
    ip: formatIp(dst),
    ...(mac && mac.length > 0 ? { mac: formatMac(mac) } : {}),
    state: nudStateNames(ndm.state),
    flags: ndm.flags,
  };
}

/** An FdbEntry from an AF_BRIDGE RTM_NEWNEIGH reply; undefined for other messages and families. */
export function parseFdbEntry(msg: NlMsg): FdbEntry | undefined {
  if (msg.type !== RTM_NEWNEIGH) return undefined;
  const ndm = readNdmsg(msg);
  if (ndm.family !== AF_BRIDGE) return undefined;
  const attrs = msg.attrs(NDMSG_LEN);
  const mac = attrs.raw(NDA_LLADDR);
  if (!mac) return undefined;
  const dst = attrs.raw(NDA_DST);
  return {
    index: ndm.index,
    mac: formatMac(mac),
    ...(dst ? { dst: formatIp(dst) } : {}),
    state: nudStateNames(ndm.state),
    flags: ndm.flags,
  };
}
