import { closeSync, openSync } from 'node:fs';
import type { Family } from '../base/address.js';
import { binding, isSystemError } from '../base/binding.js';
import { type Address, type AddressOptions, parseAddress, writeAddress, writeListAddresses } from './addresses.js';
import type { NlWriter } from './codec.js';
import {
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELQDISC,
  RTM_DELROUTE,
  RTM_DELTFILTER,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETQDISC,
  RTM_GETROUTE,
  RTM_GETTFILTER,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWQDISC,
  RTM_NEWROUTE,
  RTM_NEWTFILTER,
  RTM_SETLINK,
} from './constants.js';
import { InvalidArgumentError, NetlinkError } from './errors.js';
import { parseCidr, parseIp, parseMac } from './ip.js';
import {
  type BridgePortOptions,
  type Link,
  type LinkChange,
  type LinkOptions,
  type LinkRef,
  parseLink,
  writeBridgePort,
  writeCreateBridge,
  writeCreateIfb,
  writeCreateMacvlan,
  writeCreateVeth,
  writeCreateVxlan,
  writeDeleteLink,
  writeGetLink,
  writeListLinks,
  writeSetLink,
} from './links.js';
import { checkMacvlanMode, type MacvlanMode } from './macvlan.js';
import { validateIfIndex } from './names.js';
import {
  type FdbEntry,
  type Neighbour,
  type NudState,
  nudStateBits,
  parseFdbEntry,
  parseNeighbour,
  writeFdbEntry,
  writeListFdb,
  writeListNeighbours,
  writeNeighbour,
} from './neighbours.js';
import {
  parseRoute,
  type Route,
  type RouteFilter,
  type RouteSpec,
  routeRequest,
  writeListRoutes,
  writeRoute,
} from './routes.js';
import { NetlinkSocket, type NetlinkSocketOptions } from './socket.js';
import { forwardingKey, interfaceSysctlKey, sysctlPath } from './sysctl.js';
import {
  describeQdisc,
  type Filter,
  type FilterSpec,
  filterRequest,
  filterSlot,
  parseFilter,
  parseFilterParent,
  parseQdisc,
  parseQdiscParent,
  type Qdisc,
  type QdiscSpec,
  qdiscRequest,
  writeDeleteFilters,
  writeDeleteQdisc,
  writeFilter,
  writeListFilters,
  writeListQdiscs,
  writeQdisc,
} from './tc.js';
import { checkVxlanData, type VxlanData } from './vxlan.js';

const ENODEV = 19;

/** What a bridge or an IFB link may be created with. */
export interface CreateLinkOptions {
  mtu?: number;
  mac?: string;
}

export interface CreateVethOptions {
  /** Create the peer straight inside this netns (a path like /run/netns/x or /proc/<pid>/ns/net). */
  peerNetnsPath?: string;
  /** Both ends get it. */
  mtu?: number;
  mac?: string;
  peerMac?: string;
}

export interface CreateVxlanOptions {
  /** 0 to 16777215. */
  vni: number;
  /** The source address on the underlay. */
  local?: string;
  /** The underlay link; the kernel binds the tunnel to it (IFLA_VXLAN_LINK). */
  underlay?: LinkRef;
  /** The UDP port, 4789 (IANA) unless given. */
  port?: number;
  /** Learn remote MACs from arriving packets; off unless asked, since the FDB is programmed. */
  learning?: boolean;
  /** The outer packets' TTL, up to 255; absent or 0 takes the route's hop limit. */
  ttl?: number;
  mtu?: number;
  mac?: string;
}

export interface CreateMacvlanOptions {
  /** 'bridge' unless given. */
  mode?: MacvlanMode;
  /** Create the macvlan straight inside this netns (a path like /run/netns/x); the parent stays here. */
  netnsPath?: string;
  mtu?: number;
  mac?: string;
}

function describe(ref: LinkRef): string {
  return typeof ref === 'number' ? `ifindex ${ref}` : `'${ref}'`;
}

function describeRoute(spec: RouteSpec): string {
  let text = spec.dst;
  if (spec.gateway !== undefined) text += ` via ${spec.gateway}`;
  if (spec.dev !== undefined) text += ` dev ${describe(spec.dev)}`;
  if (spec.table !== undefined) text += ` table ${spec.table}`;
  if (spec.onlink) text += ' onlink';
  return text;
}

function checkFamily(family: Family | undefined): void {
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new InvalidArgumentError(`invalid address family ${family}: use 4 or 6`);
  }
}

/** The MTU and parsed MAC of a create request, leaving out what is not given. */
function linkOptions(opts: { mtu?: number; mac?: string }): LinkOptions {
  return {
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    ...(opts.mac !== undefined ? { mac: parseMac(opts.mac) } : {}),
  };
}

/** Opens a netns file for the length of fn, for the IFLA_NET_NS_FD the kernel resolves while it handles the request. */
function withNetnsFd<T>(netnsPath: string, fn: (fd: number) => T): T {
  const fd = openSync(netnsPath, 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** withNetnsFd for a request that completes later: the file stays open until it has. */
async function withNetnsFdAsync<T>(netnsPath: string, fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync(netnsPath, 'r');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The kernel's network objects of one netns: links, addresses, routes,
 * sysctls. One netlink socket, opened inside the netns once; the calling thread
 * never changes netns. Lookups (getLink) answer null for what is absent; every
 * other method that names a link fails with code ENODEV when it is absent.
 * Kernel failures are NetlinkErrors (code, errno, syscall 'netlink', the
 * kernel's own text); bad arguments throw InvalidArgumentError before anything
 * is sent.
 */
export class NetlinkHandle {
  /** Over any NetlinkSocket; a socket over a FakeKernel gives a handle for unit tests. */
  constructor(
    /** For requests the handle has no method for; it is bound to the same netns. */
    readonly socket: NetlinkSocket,
  ) {}

  /** netnsPath: '' or absent for the netns the process is in. */
  static open(netnsPath = '', options: NetlinkSocketOptions = {}): NetlinkHandle {
    return new NetlinkHandle(NetlinkSocket.open(netnsPath, options));
  }

  get netnsPath(): string {
    return this.socket.netnsPath;
  }

  close(): void {
    this.socket.close();
  }

  // Links

  async getLink(ref: LinkRef): Promise<Link | null> {
    return this.lookupLink(ref);
  }

  async listLinks(): Promise<Link[]> {
    return this.socket.dump(RTM_GETLINK, (w) => writeListLinks(w), parseLink, 'list links');
  }

  async createBridge(name: string, opts: CreateLinkOptions = {}): Promise<void> {
    const link = linkOptions(opts);
    this.createLink((w) => writeCreateBridge(w, name, link), `create bridge '${name}'`);
  }

  async createVeth(name: string, peerName: string, opts: CreateVethOptions = {}): Promise<void> {
    const link = linkOptions(opts);
    const peerMac = opts.peerMac === undefined ? {} : { peerMac: parseMac(opts.peerMac) };
    const where = opts.peerNetnsPath ? ` in ${opts.peerNetnsPath}` : '';
    const what = `create veth '${name}' with peer '${peerName}'${where}`;
    const send = (peerNetnsFd: number | undefined) =>
      this.createLink(
        (w) =>
          writeCreateVeth(w, name, peerName, {
            ...link,
            ...peerMac,
            ...(peerNetnsFd !== undefined ? { peerNetnsFd } : {}),
          }),
        what,
      );
    if (opts.peerNetnsPath) withNetnsFd(opts.peerNetnsPath, send);
    else send(undefined);
  }

  /** A VXLAN link in this handle's netns; fails with ENODEV, naming it, when the underlay is not there. */
  async createVxlan(name: string, opts: CreateVxlanOptions): Promise<void> {
    const what = `create vxlan '${name}' (vni ${opts.vni})`;
    const data: VxlanData = {
      vni: opts.vni,
      ...(opts.local !== undefined ? { local: parseIp(opts.local, 'VXLAN local address') } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.learning !== undefined ? { learning: opts.learning } : {}),
      ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
    };
    checkVxlanData(data); // before the underlay lookup, so a bad VNI reaches the kernel in no form
    const link = linkOptions(opts);
    const underlay = opts.underlay === undefined ? {} : { underlay: this.indexOf(opts.underlay, what) };
    this.createLink((w) => writeCreateVxlan(w, name, { ...data, ...underlay }, link), what);
  }

  /**
   * A macvlan on `parent` (a link of this handle's netns), created straight in
   * opts.netnsPath when given. Fails with ENODEV, naming it, when the parent is not there.
   */
  async createMacvlan(name: string, parent: LinkRef, opts: CreateMacvlanOptions = {}): Promise<void> {
    const mode = checkMacvlanMode(opts.mode ?? 'bridge');
    const link = linkOptions(opts);
    const where = opts.netnsPath ? ` in ${opts.netnsPath}` : '';
    const what = `create macvlan '${name}' (mode ${mode}) on ${describe(parent)}${where}`;
    const index = this.indexOf(parent, what);
    const send = (netnsFd: number | undefined) =>
      this.createLink(
        (w) => writeCreateMacvlan(w, name, index, mode, { ...link, ...(netnsFd !== undefined ? { netnsFd } : {}) }),
        what,
      );
    if (opts.netnsPath) withNetnsFd(opts.netnsPath, send);
    else send(undefined);
  }

  async createIfb(name: string, opts: CreateLinkOptions = {}): Promise<void> {
    const link = linkOptions(opts);
    this.createLink((w) => writeCreateIfb(w, name, link), `create ifb '${name}'`);
  }

  async setLinkUp(ref: LinkRef): Promise<void> {
    this.setLink(ref, { up: true }, `set ${describe(ref)} up`);
  }

  async setLinkDown(ref: LinkRef): Promise<void> {
    this.setLink(ref, { up: false }, `set ${describe(ref)} down`);
  }

  async setMtu(ref: LinkRef, mtu: number): Promise<void> {
    this.setLink(ref, { mtu }, `set mtu ${mtu} on ${describe(ref)}`);
  }

  async setMac(ref: LinkRef, mac: string): Promise<void> {
    this.setLink(ref, { mac: parseMac(mac) }, `set mac ${mac} on ${describe(ref)}`);
  }

  /** Sets the link's alias (IFLA_IFALIAS, at most 255 bytes), as `ip link set ... alias` does. */
  async setAlias(ref: LinkRef, alias: string): Promise<void> {
    this.setLink(ref, { alias }, `set alias on ${describe(ref)}`);
  }

  async setPromisc(ref: LinkRef, on: boolean): Promise<void> {
    this.setLink(ref, { promisc: on }, `set promisc ${on ? 'on' : 'off'} on ${describe(ref)}`);
  }

  async setMaster(ref: LinkRef, bridge: LinkRef): Promise<void> {
    const what = `attach ${describe(ref)} to ${describe(bridge)}`;
    this.setLink(ref, { master: this.indexOf(bridge, what) }, what);
  }

  async setNoMaster(ref: LinkRef): Promise<void> {
    this.setLink(ref, { master: 0 }, `release ${describe(ref)} from its master`);
  }

  async renameLink(ref: LinkRef, newName: string): Promise<void> {
    const what = `rename ${describe(ref)} to '${newName}'`;
    this.setLink(this.indexOf(ref, what), { name: newName }, what);
  }

  /** Off the thread, as deleteLink: the link leaves this netns as it would be deleted. */
  async moveLinkToNetns(ref: LinkRef, netnsPath: string): Promise<void> {
    const what = `move ${describe(ref)} to ${netnsPath}`;
    await withNetnsFdAsync(netnsPath, (netnsFd) =>
      this.socket.requestAsync(RTM_SETLINK, 0, (w) => writeSetLink(w, ref, { netnsFd }), what),
    );
  }

  async setBridgePort(ref: LinkRef, opts: BridgePortOptions): Promise<void> {
    if (opts.hairpin === undefined && opts.isolated === undefined && opts.learning === undefined) return;
    const what = `set bridge port options on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_SETLINK, 0, (w) => writeBridgePort(w, index, opts), what);
  }

  /** Off the thread: the kernel answers once the link is unregistered, after an RCU grace period (15-30 ms). */
  async deleteLink(ref: LinkRef): Promise<void> {
    await this.socket.requestAsync(RTM_DELLINK, 0, (w) => writeDeleteLink(w, ref), `delete link ${describe(ref)}`);
  }

  // Addresses

  /** Fails with EEXIST when the link already has the address. */
  async addAddress(ref: LinkRef, cidr: string, opts: AddressOptions = {}): Promise<void> {
    const prefix = parseCidr(cidr, 'address');
    const what = `add address ${cidr} to ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(
      RTM_NEWADDR,
      NLM_F_CREATE | NLM_F_EXCL,
      (w) => writeAddress(w, index, prefix, opts, false),
      what,
    );
  }

  /** Fails with EADDRNOTAVAIL when the link does not have the address. */
  async deleteAddress(ref: LinkRef, cidr: string): Promise<void> {
    const prefix = parseCidr(cidr, 'address');
    const what = `delete address ${cidr} from ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_DELADDR, 0, (w) => writeAddress(w, index, prefix, {}, true), what);
  }

  /** The addresses of one link, or of all links; of one family, or both. */
  async listAddresses(ref?: LinkRef, family?: Family): Promise<Address[]> {
    checkFamily(family);
    const what = ref === undefined ? 'list addresses' : `list addresses of ${describe(ref)}`;
    const index = ref === undefined ? 0 : this.indexOf(ref, what);
    // The kernel filters too; checking again keeps the answer right on a kernel without strict checking.
    return this.socket.dump(
      RTM_GETADDR,
      (w) => writeListAddresses(w, index, family),
      (msg) => {
        const a = parseAddress(msg);
        if (!a || (index && a.index !== index) || (family && a.family !== family)) return undefined;
        return a;
      },
      what,
    );
  }

  // Routes

  /** Fails with EEXIST when the table has the route already. */
  async addRoute(spec: RouteSpec): Promise<void> {
    const what = `add route ${describeRoute(spec)}`;
    const oif = spec.dev === undefined ? undefined : this.indexOf(spec.dev, what);
    const req = routeRequest(spec, oif);
    this.socket.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, (w) => writeRoute(w, req, false), what);
  }

  /** Fails with ESRCH when no route matches. */
  async deleteRoute(spec: RouteSpec): Promise<void> {
    const what = `delete route ${describeRoute(spec)}`;
    const oif = spec.dev === undefined ? undefined : this.indexOf(spec.dev, what);
    const req = routeRequest(spec, oif);
    this.socket.request(RTM_DELROUTE, 0, (w) => writeRoute(w, req, true), what);
  }

  /** Routes of the main table by default; `table: 0` for every table. */
  async listRoutes(filter: RouteFilter = {}): Promise<Route[]> {
    checkFamily(filter.family);
    try {
      return this.socket.dump(
        RTM_GETROUTE,
        (w) => writeListRoutes(w, filter),
        (msg) => parseRoute(msg, filter),
        'list routes',
      );
    } catch (e) {
      // A table nobody has put a route in does not exist yet, and the kernel says ENOENT.
      if (filter.table && isSystemError(e, 'ENOENT')) return [];
      throw e;
    }
  }

  // Neighbours and FDB entries

  /** Adds the neighbour, or replaces the link's entry for ip (as `ip neigh replace`). State 'permanent' unless given. */
  async setNeighbour(ref: LinkRef, ip: string, mac: string, opts: { state?: NudState } = {}): Promise<void> {
    const addr = parseIp(ip, 'neighbour address');
    const entry = { mac: parseMac(mac), state: nudStateBits(opts.state ?? 'permanent') };
    const what = `set neighbour ${ip} lladdr ${mac} on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, (w) => writeNeighbour(w, index, addr, entry), what);
  }

  /** Fails with ENOENT when the link has no entry for ip. */
  async deleteNeighbour(ref: LinkRef, ip: string): Promise<void> {
    const addr = parseIp(ip, 'neighbour address');
    const what = `delete neighbour ${ip} on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_DELNEIGH, 0, (w) => writeNeighbour(w, index, addr), what);
  }

  /** The IPv4 and IPv6 neighbours of one link, or of all links; of one family, or both. */
  async listNeighbours(ref?: LinkRef, family?: Family): Promise<Neighbour[]> {
    checkFamily(family);
    const what = ref === undefined ? 'list neighbours' : `list neighbours of ${describe(ref)}`;
    const index = ref === undefined ? 0 : this.indexOf(ref, what);
    return this.socket.dump(
      RTM_GETNEIGH,
      (w) => writeListNeighbours(w, index, family),
      (msg) => {
        const n = parseNeighbour(msg);
        if (!n || (index && n.index !== index) || (family && n.family !== family)) return undefined;
        return n;
      },
      what,
    );
  }

  /**
   * Sends frames for mac to the VTEP at dst: an entry of the device's own FDB
   * (NTF_SELF, permanent), added or replacing the one mac has (as `bridge fdb replace`).
   */
  async setFdbEntry(ref: LinkRef, mac: string, dst: string): Promise<void> {
    const lladdr = parseMac(mac);
    const remote = parseIp(dst, 'FDB destination');
    const what = `set fdb entry ${mac} dst ${dst} on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(
      RTM_NEWNEIGH,
      NLM_F_CREATE | NLM_F_REPLACE,
      (w) => writeFdbEntry(w, index, lladdr, remote, false),
      what,
    );
  }

  /** Removes mac's remote dst, or without dst all of mac's entry; fails with ENOENT when there is none. */
  async deleteFdbEntry(ref: LinkRef, mac: string, dst?: string): Promise<void> {
    const lladdr = parseMac(mac);
    const remote = dst === undefined ? undefined : parseIp(dst, 'FDB destination');
    const what = `delete fdb entry ${mac}${dst === undefined ? '' : ` dst ${dst}`} on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_DELNEIGH, 0, (w) => writeFdbEntry(w, index, lladdr, remote, true), what);
  }

  /** The entries that name this device: a VXLAN device's own FDB (a bridge's entries name its ports). */
  async listFdbEntries(ref: LinkRef): Promise<FdbEntry[]> {
    const what = `list fdb entries of ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    return this.socket.dump(
      RTM_GETNEIGH,
      (w) => writeListFdb(w, index),
      (msg) => {
        const entry = parseFdbEntry(msg);
        return entry && entry.index === index ? entry : undefined;
      },
      what,
    );
  }

  // Traffic control

  /** Fails with EEXIST when the place is taken by a qdisc of berth's or a user's (not the kernel's default). */
  async addQdisc(ref: LinkRef, spec: QdiscSpec): Promise<void> {
    this.putQdisc(ref, spec, NLM_F_CREATE | NLM_F_EXCL, 'add');
  }

  /** Puts the qdisc in its place, whatever was there; a TBF of the same handle takes the new numbers in place. */
  async replaceQdisc(ref: LinkRef, spec: QdiscSpec): Promise<void> {
    this.putQdisc(ref, spec, NLM_F_CREATE | NLM_F_REPLACE, 'replace');
  }

  /**
   * Deletes the qdisc at `parent`: 'root', 'ingress' (the ingress or clsact
   * qdisc) or a class. Fails with ENOENT when only the kernel's default is there.
   */
  async deleteQdisc(ref: LinkRef, parent: string): Promise<void> {
    const slot = parseQdiscParent(parent);
    const what = `delete the ${parent} qdisc of ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_DELQDISC, 0, (w) => writeDeleteQdisc(w, index, slot), what);
  }

  /** The qdiscs of one link, or of all links, the kernel's defaults included. */
  async listQdiscs(ref?: LinkRef): Promise<Qdisc[]> {
    const what = ref === undefined ? 'list qdiscs' : `list qdiscs of ${describe(ref)}`;
    const index = ref === undefined ? undefined : this.indexOf(ref, what);
    return this.socket.dump(
      RTM_GETQDISC,
      (w) => writeListQdiscs(w),
      (msg) => parseQdisc(msg, index),
      what,
    );
  }

  /** Fails with EEXIST when the priority is taken by a classifier of another kind or protocol. */
  async addFilter(ref: LinkRef, spec: FilterSpec): Promise<void> {
    const req = filterRequest(spec);
    const target = spec.redirectTo === undefined ? '' : ` redirecting to ${describe(spec.redirectTo)}`;
    const what = `add ${spec.kind} filter on ${spec.parent} of ${describe(ref)}${target}`;
    const index = this.indexOf(ref, what);
    const redirect = spec.redirectTo === undefined ? undefined : this.indexOf(spec.redirectTo, what);
    this.socket.request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, (w) => writeFilter(w, index, req, redirect), what);
  }

  /** The filters of one priority on `parent`, or all of them. ENOENT when there are none to delete. */
  async deleteFilters(ref: LinkRef, parent: string, priority?: number): Promise<void> {
    const slot = filterSlot(parent, priority);
    const which = priority === undefined ? 'the filters' : `the filters of priority ${priority}`;
    const what = `delete ${which} on ${parent} of ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_DELTFILTER, 0, (w) => writeDeleteFilters(w, index, slot), what);
  }

  /** The rules on `parent` ('ingress', 'egress' or a qdisc's 'major:') of a link. */
  async listFilters(ref: LinkRef, parent: string): Promise<Filter[]> {
    const slot = parseFilterParent(parent);
    const what = `list filters on ${parent} of ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    return this.socket.dump(RTM_GETTFILTER, (w) => writeListFilters(w, index, slot), parseFilter, what);
  }

  // Sysctls (files under /proc/sys, opened inside this handle's netns)

  async setSysctl(key: string, value: string): Promise<void> {
    binding().writeFileInNetns(this.netnsPath, sysctlPath(key), value);
  }

  /** The value without its trailing newline. */
  async getSysctl(key: string): Promise<string> {
    return binding().readFileInNetns(this.netnsPath, sysctlPath(key)).trimEnd();
  }

  async enableForwarding(family: Family): Promise<void> {
    await this.setSysctl(forwardingKey(family), '1');
  }

  /** net/ipv{4,6}/conf/<ifname>/<setting>; ifname may also be 'all' or 'default'. */
  async setInterfaceSysctl(family: Family, ifname: string, setting: string, value: string): Promise<void> {
    await this.setSysctl(interfaceSysctlKey(family, ifname, setting), value);
  }

  async getInterfaceSysctl(family: Family, ifname: string, setting: string): Promise<string> {
    return this.getSysctl(interfaceSysctlKey(family, ifname, setting));
  }

  private lookupLink(ref: LinkRef): Link | null {
    try {
      return this.socket.get(RTM_GETLINK, (w) => writeGetLink(w, ref), parseLink, `get link ${describe(ref)}`) ?? null;
    } catch (e) {
      if (isSystemError(e, 'ENODEV')) return null;
      throw e;
    }
  }

  /** A link's index, for requests that take only an index; ENODEV, in the words of `what`, when absent. */
  private indexOf(ref: LinkRef, what: string): number {
    if (typeof ref === 'number') return validateIfIndex(ref);
    const link = this.lookupLink(ref);
    if (!link) throw new NetlinkError(ENODEV, `${what}: no link named '${ref}'`);
    return link.index;
  }

  /** RTM_NEWLINK, exclusive: a link of that name is EEXIST, never taken over. */
  private createLink(body: (w: NlWriter) => void, what: string): void {
    this.socket.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, what);
  }

  private putQdisc(ref: LinkRef, spec: QdiscSpec, flags: number, verb: string): void {
    const req = qdiscRequest(spec);
    const what = `${verb} ${describeQdisc(spec)} on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_NEWQDISC, flags, (w) => writeQdisc(w, index, req), what);
  }

  private setLink(ref: LinkRef, change: LinkChange, what: string): void {
    this.socket.request(RTM_SETLINK, 0, (w) => writeSetLink(w, ref, change), what);
  }
}
