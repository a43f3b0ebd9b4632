import { closeSync, openSync } from 'node:fs';
import type { Family } from '../base/address.js';
import { binding, isSystemError } from '../base/binding.js';
import { type Address, type AddressOptions, parseAddress, writeAddress, writeListAddresses } from './addresses.js';
import {
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_SETLINK,
} from './constants.js';
import { InvalidArgumentError, NetlinkError } from './errors.js';
import { parseCidr, parseMac } from './ip.js';
import {
  type BridgePortOptions,
  type Link,
  type LinkChange,
  type LinkRef,
  parseLink,
  writeBridgePort,
  writeCreateBridge,
  writeCreateVeth,
  writeDeleteLink,
  writeGetLink,
  writeListLinks,
  writeSetLink,
} from './links.js';
import { validateIfIndex } from './names.js';
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

const ENODEV = 19;

export interface CreateBridgeOptions {
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

function describe(ref: LinkRef): string {
  return typeof ref === 'number' ? `ifindex ${ref}` : `'${ref}'`;
}

function describeRoute(spec: RouteSpec): string {
  let text = spec.dst;
  if (spec.gateway !== undefined) text += ` via ${spec.gateway}`;
  if (spec.dev !== undefined) text += ` dev ${describe(spec.dev)}`;
  if (spec.table !== undefined) text += ` table ${spec.table}`;
  return text;
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

  async createBridge(name: string, opts: CreateBridgeOptions = {}): Promise<void> {
    const mac = opts.mac === undefined ? undefined : parseMac(opts.mac);
    this.socket.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      (w) =>
        writeCreateBridge(w, name, { ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}), ...(mac ? { mac } : {}) }),
      `create bridge '${name}'`,
    );
  }

  async createVeth(name: string, peerName: string, opts: CreateVethOptions = {}): Promise<void> {
    const mac = opts.mac === undefined ? undefined : parseMac(opts.mac);
    const peerMac = opts.peerMac === undefined ? undefined : parseMac(opts.peerMac);
    const send = (peerNetnsFd: number | undefined) =>
      this.socket.request(
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        (w) =>
          writeCreateVeth(w, name, peerName, {
            ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
            ...(mac ? { mac } : {}),
            ...(peerMac ? { peerMac } : {}),
            ...(peerNetnsFd !== undefined ? { peerNetnsFd } : {}),
          }),
        `create veth '${name}' with peer '${peerName}'${opts.peerNetnsPath ? ` in ${opts.peerNetnsPath}` : ''}`,
      );
    if (opts.peerNetnsPath) withNetnsFd(opts.peerNetnsPath, send);
    else send(undefined);
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

  async moveLinkToNetns(ref: LinkRef, netnsPath: string): Promise<void> {
    withNetnsFd(netnsPath, (netnsFd) => this.setLink(ref, { netnsFd }, `move ${describe(ref)} to ${netnsPath}`));
  }

  async setBridgePort(ref: LinkRef, opts: BridgePortOptions): Promise<void> {
    if (opts.hairpin === undefined && opts.isolated === undefined && opts.learning === undefined) return;
    const what = `set bridge port options on ${describe(ref)}`;
    const index = this.indexOf(ref, what);
    this.socket.request(RTM_SETLINK, 0, (w) => writeBridgePort(w, index, opts), what);
  }

  async deleteLink(ref: LinkRef): Promise<void> {
    this.socket.request(RTM_DELLINK, 0, (w) => writeDeleteLink(w, ref), `delete link ${describe(ref)}`);
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
    if (family !== undefined && family !== 4 && family !== 6) {
      throw new InvalidArgumentError(`invalid address family ${family}: use 4 or 6`);
    }
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
    if (filter.family !== undefined && filter.family !== 4 && filter.family !== 6) {
      throw new InvalidArgumentError(`invalid address family ${filter.family}: use 4 or 6`);
    }
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

  private setLink(ref: LinkRef, change: LinkChange, what: string): void {
    this.socket.request(RTM_SETLINK, 0, (w) => writeSetLink(w, ref, change), what);
  }
}
