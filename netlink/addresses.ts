import { broadcastOf, type Family, formatIp, type IpPrefix } from '../base/address.js';
import { type NlMsg, type NlWriter, readIfaddrmsg } from './codec.js';
import {
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFADDRMSG_LEN,
  RT_SCOPE_HOST,
  RT_SCOPE_UNIVERSE,
  RTM_NEWADDR,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { afOf, familyOfAf, parseIp } from './ip.js';
import { type Scope, scopeName } from './scopes.js';

/** Address requests and replies (RTM_*ADDR), as pure functions over the codec. */

export interface AddressOptions {
  /** The remote end of a point-to-point link (IFA_ADDRESS), when it is not the local address. */
  peer?: string;
  /** IPv4 only: true for the subnet's broadcast address, or the address to use. */
  broadcast?: boolean | string;
  /** IPv6: skip duplicate address detection, so the address is usable at once (IFA_F_NODAD). Ignored for IPv4. */
  noDad?: boolean;
}

export interface Address {
  readonly index: number;
  /** The local address with its prefix length: '10.0.0.2/24'. */
  readonly cidr: string;
  readonly family: Family;
  readonly scope: Scope;
  /** IFA_F_* (IFA_FLAGS when the kernel sent it, which holds all 32 bits). */
  readonly flags: number;
  readonly peer?: string;
  readonly broadcast?: string;
  readonly label?: string;
}

/**
 * RTM_NEWADDR / RTM_DELADDR. As iproute2 does, IFA_LOCAL is the address and
 * IFA_ADDRESS the peer, or the address again when there is none; the kernel
 * then reads them the same way for IPv4 and IPv6.
 */
export function writeAddress(
  w: NlWriter,
  index: number,
  prefix: IpPrefix,
  opts: AddressOptions,
  forDelete: boolean,
): void {
  const peer = opts.peer === undefined ? undefined : parseIp(opts.peer, 'peer address');
  if (peer && peer.family !== prefix.family) {
    throw new InvalidArgumentError(
      `peer address '${opts.peer}' is IPv${peer.family}, the address is IPv${prefix.family}`,
    );
  }
  if (opts.broadcast !== undefined && opts.broadcast !== false && prefix.family !== 4) {
    throw new InvalidArgumentError(`a broadcast address exists only for IPv4, not for IPv${prefix.family}`);
  }
  // DAD is IPv6's; callers may pass noDad for every address of an endpoint, so IPv4 ignores it.
  const flags = !forDelete && opts.noDad && prefix.family === 6 ? IFA_F_NODAD : 0;
  // 127.0.0.0/8 is host scope, as iproute2 sets it; the kernel picks IPv6 scopes itself.
  const scope = prefix.family === 4 && prefix.bytes[0] === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  w.ifaddrmsg({ family: afOf(prefix.family), prefixlen: prefix.prefixLen, flags, scope, index });
  w.bytes(IFA_LOCAL, prefix.bytes);
  w.bytes(IFA_ADDRESS, peer ? peer.bytes : prefix.bytes);
  if (!forDelete && opts.broadcast) {
    const brd = opts.broadcast === true ? broadcastOf(prefix) : parseIp(opts.broadcast, 'broadcast address').bytes;
    if (brd.length !== 4) throw new InvalidArgumentError(`broadcast address '${opts.broadcast}' is not IPv4`);
    w.bytes(IFA_BROADCAST, brd);
  }
}

/** RTM_GETADDR dump; with strict checking on, the kernel itself filters by ifindex and family. */
export function writeListAddresses(w: NlWriter, index = 0, family?: Family): void {
  w.ifaddrmsg({ family: family ? afOf(family) : AF_UNSPEC, prefixlen: 0, index });
}

/** An Address from an RTM_NEWADDR reply; undefined for other messages and families. */
export function parseAddress(msg: NlMsg): Address | undefined {
  if (msg.type !== RTM_NEWADDR) return undefined;
  const ifa = readIfaddrmsg(msg);
  const family = familyOfAf(ifa.family);
  if (!family) return undefined;
  const attrs = msg.attrs(IFADDRMSG_LEN);
  const local = attrs.raw(IFA_LOCAL);
  const address = attrs.raw(IFA_ADDRESS);
  const mine = local ?? address;
  if (!mine) return undefined;
  const peer = local && address && !local.equals(address) ? formatIp(address) : undefined;
  const broadcast = attrs.raw(IFA_BROADCAST);
  const label = attrs.str(IFA_LABEL);
  return {
    index: ifa.index,
    cidr: `${formatIp(mine)}/${ifa.prefixlen}`,
    family,
    scope: scopeName(ifa.scope),
    flags: attrs.u32(IFA_FLAGS) ?? ifa.flags,
    ...(peer ? { peer } : {}),
    ...(broadcast ? { broadcast: formatIp(broadcast) } : {}),
    ...(label ? { label } : {}),
  };
}
