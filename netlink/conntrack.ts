import { type Family, formatIp } from '../base/address.js';
import { isSystemError } from '../base/binding.js';
import { type Attrs, type NlMsg, type NlWriter, readNfgenmsg } from './codec.js';
import {
  AF_UNSPEC,
  CTA_IP_V4_DST,
  CTA_IP_V4_SRC,
  CTA_IP_V6_DST,
  CTA_IP_V6_SRC,
  CTA_MARK,
  CTA_PROTO_DST_PORT,
  CTA_PROTO_ICMP_CODE,
  CTA_PROTO_ICMP_ID,
  CTA_PROTO_ICMP_TYPE,
  CTA_PROTO_ICMPV6_CODE,
  CTA_PROTO_ICMPV6_ID,
  CTA_PROTO_ICMPV6_TYPE,
  CTA_PROTO_NUM,
  CTA_PROTO_SRC_PORT,
  CTA_TUPLE_IP,
  CTA_TUPLE_ORIG,
  CTA_TUPLE_PROTO,
  CTA_TUPLE_REPLY,
  CTA_ZONE,
  IPCTNL_MSG_CT_DELETE,
  IPCTNL_MSG_CT_GET,
  IPCTNL_MSG_CT_NEW,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NETLINK_NETFILTER,
  NFGENMSG_LEN,
  NFNL_SUBSYS_CTNETLINK,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { afOf, familyOfAf, parseIp } from './ip.js';
import { NetlinkSocket, type NetlinkSocketOptions } from './socket.js';

/**
 * The kernel's connection tracking table of one netns, over ctnetlink
 * (NETLINK_NETFILTER, subsystem CTNETLINK): list entries, delete one, and
 * flush those matching a filter. berth flushes the entries of a published UDP
 * port when it maps or unmaps it, so that an old flow does not keep sending
 * datagrams to a container that no longer has the port.
 */

export const CT_MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
export const CT_MSG_GET = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
export const CT_MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;

/** The transport protocol of an entry: a name for the three berth publishes, else the IP protocol number. */
export type ConntrackProtocol = 'tcp' | 'udp' | 'sctp' | number;

const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };

/** One direction of a connection. */
export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  /** Present for protocols with ports (TCP, UDP, SCTP, DCCP, UDP-Lite, GRE keys). */
  readonly sport?: number;
  readonly dport?: number;
  /** ICMP and ICMPv6: what identifies the flow in place of ports. */
  readonly icmp?: { readonly id: number; readonly type: number; readonly code: number };
}

export interface ConntrackEntry {
  readonly family: Family;
  readonly protocol: ConntrackProtocol;
  /** As the first packet went. */
  readonly orig: ConntrackTuple;
  /** As answers come back: after NAT, its addresses and ports differ from orig's. */
  readonly reply: ConntrackTuple;
  readonly mark?: number;
  /** Absent in the default zone 0. */
  readonly zone?: number;
}

/** What names one entry for delete(); a listed ConntrackEntry is one. */
export interface ConntrackKey {
  readonly protocol: ConntrackProtocol;
  readonly orig: ConntrackTuple;
  readonly zone?: number;
}

/** Every field set must match; an empty filter matches every entry. */
export interface ConntrackFilter {
  readonly family?: Family;
  readonly protocol?: ConntrackProtocol;
  /** The original destination address: for a published port, the host address it was reached on. */
  readonly origDst?: string;
  /** The original destination port: for a published port, the host port. */
  readonly origDstPort?: number;
  /** The reply's source address: after DNAT, the container's address. */
  readonly replySrc?: string;
}

export function protocolNumber(protocol: ConntrackProtocol): number {
  if (typeof protocol === 'number') {
    if (Number.isInteger(protocol) && protocol >= 0 && protocol <= 255) return protocol;
  } else {
    const n = PROTOCOL_NUMBERS[protocol];
    if (n !== undefined) return n;
  }
  throw new InvalidArgumentError(
    `invalid protocol ${JSON.stringify(protocol)}: use 'tcp', 'udp', 'sctp' or an IP protocol number 0-255`,
  );
}

export function protocolName(n: number): ConntrackProtocol {
  if (n === IPPROTO_TCP) return 'tcp';
  if (n === IPPROTO_UDP) return 'udp';
  if (n === IPPROTO_SCTP) return 'sctp';
  return n;
}

function checkUint(value: number | undefined, max: number, what: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > max)) {
    throw new InvalidArgumentError(`invalid ${what} ${value}: must be a whole number from 0 to ${max}`);
  }
}

function checkFamily(family: Family | undefined): void {
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new InvalidArgumentError(`invalid address family ${family}: use 4 or 6`);
  }
}

/** An address as formatIp prints it, so that filters compare texts the kernel's bytes turn into. */
function canonicalIp(text: string, what: string): string {
  return formatIp(parseIp(text, what).bytes);
}

function hostPort(addr: string, port: number | undefined): string {
  if (port === undefined) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** "udp 10.0.0.1:5000 -> 10.0.0.2:53", for error messages. */
export function describeKey(key: ConntrackKey): string {
  const { protocol, orig } = key;
  const zone = key.zone ? ` zone ${key.zone}` : '';
  return `${protocol} ${hostPort(orig.src, orig.sport)} -> ${hostPort(orig.dst, orig.dport)}${zone}`;
}

// Requests

/** A dump of the table; the kernel keeps to one family when given one. */
export function writeListConntrack(w: NlWriter, family?: Family): void {
  checkFamily(family);
  w.nfgenmsg({ family: family === undefined ? AF_UNSPEC : afOf(family) });
}

/** IPCTNL_MSG_CT_DELETE's body: the entry's original tuple, and its zone when not the default one. */
export function writeDeleteConntrack(w: NlWriter, key: ConntrackKey): void {
  const proto = protocolNumber(key.protocol);
  const { orig } = key;
  const src = parseIp(orig.src, 'source address');
  const dst = parseIp(orig.dst, 'destination address');
  if (src.family !== dst.family) {
    throw new InvalidArgumentError(`conntrack tuple ${orig.src} -> ${orig.dst} mixes IPv4 and IPv6`);
  }
  checkUint(orig.sport, 0xffff, 'source port');
  checkUint(orig.dport, 0xffff, 'destination port');
  if (orig.icmp) {
    checkUint(orig.icmp.id, 0xffff, 'ICMP id');
    checkUint(orig.icmp.type, 0xff, 'ICMP type');
    checkUint(orig.icmp.code, 0xff, 'ICMP code');
  }
  checkUint(key.zone, 0xffff, 'conntrack zone');

  w.nfgenmsg({ family: afOf(src.family) });
  const tuple = w.beginNest(CTA_TUPLE_ORIG, true);
  const ip = w.beginNest(CTA_TUPLE_IP, true);
  w.bytes(src.family === 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, src.bytes);
  w.bytes(src.family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, dst.bytes);
  w.endNest(ip);
  const l4 = w.beginNest(CTA_TUPLE_PROTO, true);
  w.u8(CTA_PROTO_NUM, proto);
  if (orig.sport !== undefined) w.u16be(CTA_PROTO_SRC_PORT, orig.sport);
  if (orig.dport !== undefined) w.u16be(CTA_PROTO_DST_PORT, orig.dport);
  if (orig.icmp) {
    const v6 = proto === IPPROTO_ICMPV6;
    w.u16be(v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, orig.icmp.id);
    w.u8(v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, orig.icmp.type);
    w.u8(v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, orig.icmp.code);
  }
  w.endNest(l4);
  w.endNest(tuple);
  if (key.zone) w.u16be(CTA_ZONE, key.zone);
}

// Replies

function parseTuple(attrs: Attrs): { proto: number; tuple: ConntrackTuple } | undefined {
  const ip = attrs.nested(CTA_TUPLE_IP);
  const l4 = attrs.nested(CTA_TUPLE_PROTO);
  const proto = l4?.u8(CTA_PROTO_NUM);
  if (!ip || !l4 || proto === undefined) return undefined;
  const src = ip.raw(CTA_IP_V4_SRC) ?? ip.raw(CTA_IP_V6_SRC);
  const dst = ip.raw(CTA_IP_V4_DST) ?? ip.raw(CTA_IP_V6_DST);
  if (!src || !dst) return undefined;
  const sport = l4.u16be(CTA_PROTO_SRC_PORT);
  const dport = l4.u16be(CTA_PROTO_DST_PORT);
  const v6 = proto === IPPROTO_ICMPV6;
  const icmpId = proto === IPPROTO_ICMP || v6 ? l4.u16be(v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID) : undefined;
  const tuple: ConntrackTuple = {
    src: formatIp(src),
    dst: formatIp(dst),
    ...(sport !== undefined ? { sport } : {}),
    ...(dport !== undefined ? { dport } : {}),
    ...(icmpId !== undefined
      ? {
          icmp: {
            id: icmpId,
            type: l4.u8(v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE) ?? 0,
            code: l4.u8(v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE) ?? 0,
          },
        }
      : {}),
  };
  return { proto, tuple };
}

/** One entry of a dump; undefined for a message that is not one (or of a family berth does not speak). */
export function parseConntrack(msg: NlMsg): ConntrackEntry | undefined {
  if (msg.type !== CT_MSG_NEW) return undefined;
  const family = familyOfAf(readNfgenmsg(msg).family);
  if (!family) return undefined;
  const attrs = msg.attrs(NFGENMSG_LEN);
  const origAttrs = attrs.nested(CTA_TUPLE_ORIG);
  const replyAttrs = attrs.nested(CTA_TUPLE_REPLY);
  const orig = origAttrs && parseTuple(origAttrs);
  const reply = replyAttrs && parseTuple(replyAttrs);
  if (!orig || !reply) return undefined;
  const mark = attrs.u32be(CTA_MARK);
  const zone = attrs.u16be(CTA_ZONE);
  return {
    family,
    protocol: protocolName(orig.proto),
    orig: orig.tuple,
    reply: reply.tuple,
    ...(mark !== undefined ? { mark } : {}),
    ...(zone ? { zone } : {}),
  };
}

/** Checks a filter once and returns the test it stands for. */
export function conntrackMatcher(filter: ConntrackFilter): (entry: ConntrackEntry) => boolean {
  checkFamily(filter.family);
  checkUint(filter.origDstPort, 0xffff, 'destination port');
  const proto = filter.protocol === undefined ? undefined : protocolNumber(filter.protocol);
  const origDst = filter.origDst === undefined ? undefined : canonicalIp(filter.origDst, 'destination address');
  const replySrc = filter.replySrc === undefined ? undefined : canonicalIp(filter.replySrc, 'reply source address');
  return (e) =>
    (filter.family === undefined || e.family === filter.family) &&
    (proto === undefined || protocolNumber(e.protocol) === proto) &&
    (origDst === undefined || e.orig.dst === origDst) &&
    (filter.origDstPort === undefined || e.orig.dport === filter.origDstPort) &&
    (replySrc === undefined || e.reply.src === replySrc);
}

/**
 * The conntrack table of one netns, over a NETLINK_NETFILTER socket opened
 * inside it once. Kernel failures are NetlinkErrors; bad arguments throw
 * InvalidArgumentError before anything is sent. Conntrack only tracks in a
 * netns where something uses it (a NAT or `ct` rule); elsewhere the table is
 * empty.
 */
export class ConntrackHandle {
  /** Over any NetlinkSocket of protocol NETLINK_NETFILTER; one over a FakeKernel for unit tests. */
  constructor(readonly socket: NetlinkSocket) {}

  /** netnsPath: '' or absent for the netns the process is in. */
  static open(netnsPath = '', options: NetlinkSocketOptions = {}): ConntrackHandle {
    return new ConntrackHandle(NetlinkSocket.open(netnsPath, options, NETLINK_NETFILTER));
  }

  get netnsPath(): string {
    return this.socket.netnsPath;
  }

  close(): void {
    this.socket.close();
  }

  /** The entries matching filter (all of them by default). */
  async list(filter: ConntrackFilter = {}): Promise<ConntrackEntry[]> {
    const matches = conntrackMatcher(filter);
    return this.socket.dump(
      CT_MSG_GET,
      (w) => writeListConntrack(w, filter.family),
      (msg) => {
        const entry = parseConntrack(msg);
        return entry && matches(entry) ? entry : undefined;
      },
      'list conntrack entries',
    );
  }

  /** Deletes the entry with this original tuple; fails with ENOENT when there is none. */
  async delete(key: ConntrackKey): Promise<void> {
    this.socket.request(
      CT_MSG_DELETE,
      0,
      (w) => writeDeleteConntrack(w, key),
      `delete conntrack entry ${describeKey(key)}`,
    );
  }

  /**
   * Deletes every entry matching filter (every entry, with an empty one) and
   * returns how many it removed. An entry that expires between the dump and
   * its delete is not counted; a flow whose first packet comes after the dump
   * is left alone.
   */
  async flush(filter: ConntrackFilter = {}): Promise<number> {
    let removed = 0;
    for (const entry of await this.list(filter)) {
      try {
        await this.delete(entry);
        removed += 1;
      } catch (e) {
        if (!isSystemError(e, 'ENOENT')) throw e;
      }
    }
    return removed;
  }
}
