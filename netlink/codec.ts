import { endianness } from 'node:os';
import {
  IFADDRMSG_LEN,
  IFINFOMSG_LEN,
  NDMSG_LEN,
  NFGENMSG_LEN,
  NFNETLINK_V0,
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLMSGERR_LEN,
  RTMSG_LEN,
  TCMSG_LEN,
} from './constants.js';
import { NetlinkError } from './errors.js';

/**
 * The netlink wire format: nlmsghdr, rtattr trees (4-byte aligned, nestable),
 * the rtnetlink fixed headers (ifinfomsg, ifaddrmsg, rtmsg, ndmsg, tcmsg), nfnetlink's
 * nfgenmsg, and the kernel's replies (nlmsgerr with extended ACK, NLMSG_DONE).
 * Netlink speaks the host's byte order, except where a family says otherwise:
 * nfnetlink's integers (ports, marks, ids) are big-endian, hence the *be
 * accessors. Addresses inside attributes are plain byte strings.
 *
 * Encoding goes through one reusable NlWriter per socket, so a request costs no
 * allocation once the buffer has grown to fit; decoding reads the received
 * datagram in place through offsets.
 */

const LE = endianness() === 'LE';

export const align4 = (n: number): number => (n + 3) & ~3;

export interface IfInfoMsg {
  family: number;
  /** ARPHRD_* device type; 0 in requests. */
  type?: number;
  index?: number;
  flags?: number;
  /** The flags the request changes; without it the kernel changes none of them. */
  change?: number;
}

export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index: number;
}

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

/** struct ndmsg, the fixed header of a neighbour (or, with AF_BRIDGE, an FDB entry). */
export interface NdMsg {
  /** AF_INET / AF_INET6 for neighbours, AF_BRIDGE for FDB entries. */
  family: number;
  index?: number;
  /** NUD_* bits. */
  state?: number;
  /** NTF_* bits. */
  flags?: number;
  /** RTN_* type; the kernel fills it in. */
  type?: number;
}

/** struct tcmsg, the fixed header of qdisc, class and filter messages. */
export interface TcMsg {
  family?: number;
  /** The link; 0 in a dump of every link's qdiscs. */
  ifindex: number;
  handle?: number;
  parent?: number;
  /** Filters: the priority in the high 16 bits, the protocol in network order (htons) in the low 16. */
  info?: number;
}

/** struct nfgenmsg, the fixed header of every nfnetlink message (conntrack, nftables). */
export interface NfGenMsg {
  /** AF_INET, AF_INET6, or AF_UNSPEC for all families. */
  family: number;
  /** NFNETLINK_V0, the only version there is. */
  version?: number;
  /** Big-endian on the wire; a subsystem-defined id (a queue number, an nftables generation), 0 for conntrack. */
  resId?: number;
}

/** Builds one netlink message at a time into a buffer it reuses. */
export class NlWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 1024) {
    this.buf = Buffer.alloc(capacity);
  }

  /** Starts a message, dropping whatever the writer held. */
  begin(type: number, flags: number, seq: number, pid = 0): this {
    this.pos = 0;
    this.reserve(NLMSG_HDRLEN);
    this.w32(0, 0); // nlmsg_len, patched by finish()
    this.w16(4, type);
    this.w16(6, flags);
    this.w32(8, seq);
    this.w32(12, pid);
    this.pos = NLMSG_HDRLEN;
    return this;
  }

  /** Patches the length and returns the message: a view valid until the next begin(). */
  finish(): Buffer {
    this.w32(0, this.pos);
    return this.buf.subarray(0, this.pos);
  }

  ifinfomsg(h: IfInfoMsg): this {
    const p = this.reserve(IFINFOMSG_LEN);
    this.buf[p] = h.family;
    this.buf[p + 1] = 0;
    this.w16(p + 2, h.type ?? 0);
    this.w32s(p + 4, h.index ?? 0);
    this.w32(p + 8, h.flags ?? 0);
    this.w32(p + 12, h.change ?? 0);
    return this;
  }

  ifaddrmsg(h: IfAddrMsg): this {
    const p = this.reserve(IFADDRMSG_LEN);
    this.buf[p] = h.family;
    this.buf[p + 1] = h.prefixlen;
    this.buf[p + 2] = h.flags ?? 0;
    this.buf[p + 3] = h.scope ?? 0;
    this.w32(p + 4, h.index);
    return this;
  }

  rtmsg(h: RtMsg): this {
    const p = this.reserve(RTMSG_LEN);
    const b = this.buf;
    b[p] = h.family;
    b[p + 1] = h.dstLen ?? 0;
    b[p + 2] = h.srcLen ?? 0;
    b[p + 3] = h.tos ?? 0;
    b[p + 4] = h.table ?? 0;
    b[p + 5] = h.protocol ?? 0;
    b[p + 6] = h.scope ?? 0;
    b[p + 7] = h.type ?? 0;
    this.w32(p + 8, h.flags ?? 0);
    return this;
  }

  ndmsg(h: NdMsg): this {
    const p = this.reserve(NDMSG_LEN);
    this.buf.fill(0, p, p + 4); // family and the padding after it
    this.buf[p] = h.family;
    this.w32s(p + 4, h.index ?? 0);
    this.w16(p + 8, h.state ?? 0);
    this.buf[p + 10] = h.flags ?? 0;
    this.buf[p + 11] = h.type ?? 0;
    return this;
  }

  tcmsg(h: TcMsg): this {
    const p = this.reserve(TCMSG_LEN);
    this.buf[p] = h.family ?? 0;
    this.buf.fill(0, p + 1, p + 4);
    this.w32s(p + 4, h.ifindex);
    this.w32(p + 8, h.handle ?? 0);
    this.w32(p + 12, h.parent ?? 0);
    this.w32(p + 16, h.info ?? 0);
    return this;
  }

  nfgenmsg(h: NfGenMsg): this {
    const p = this.reserve(NFGENMSG_LEN);
    this.buf[p] = h.family;
    this.buf[p + 1] = h.version ?? NFNETLINK_V0;
    this.buf.writeUInt16BE(h.resId ?? 0, p + 2);
    return this;
  }

  /** Bytes as they are: a struct the helpers above do not cover. The caller keeps the alignment. */
  raw(data: Uint8Array): this {
    const p = this.reserve(data.length);
    this.buf.set(data, p);
    return this;
  }

  /** An attribute with no payload (a flag, or an empty nest). */
  flag(type: number): this {
    this.attrHeader(type, 0);
    return this;
  }

  u8(type: number, value: number): this {
    const p = this.attrHeader(type, 1);
    this.buf[p] = value;
    return this;
  }

  u16(type: number, value: number): this {
    this.w16(this.attrHeader(type, 2), value);
    return this;
  }

  u32(type: number, value: number): this {
    this.w32(this.attrHeader(type, 4), value);
    return this;
  }

  s32(type: number, value: number): this {
    this.w32s(this.attrHeader(type, 4), value);
    return this;
  }

  /** A u64 attribute; a number, so exact up to 2^53. */
  u64(type: number, value: number): this {
    const p = this.attrHeader(type, 8);
    writeU64(this.buf, p, value);
    return this;
  }

  /** A __be16 attribute (a port, a conntrack zone). */
  u16be(type: number, value: number): this {
    // attrHeader may grow the buffer: take this.buf only after it.
    const p = this.attrHeader(type, 2);
    this.buf.writeUInt16BE(value, p);
    return this;
  }

  /** A __be32 attribute (a conntrack mark, id, status). */
  u32be(type: number, value: number): this {
    const p = this.attrHeader(type, 4);
    this.buf.writeUInt32BE(value >>> 0, p);
    return this;
  }

  /** A NUL-terminated string, as the kernel's NLA_STRING/NLA_NUL_STRING policies want. */
  str(type: number, value: string): this {
    const n = Buffer.byteLength(value);
    const p = this.attrHeader(type, n + 1);
    this.buf.write(value, p, n, 'utf8');
    this.buf[p + n] = 0;
    return this;
  }

  bytes(type: number, value: Uint8Array): this {
    const p = this.attrHeader(type, value.length);
    this.buf.set(value, p);
    return this;
  }

  /** Opens a nested attribute; returns the token endNest() wants. */
  beginNest(type: number, nestedFlag = false): number {
    const start = this.pos;
    this.attrHeader(type | (nestedFlag ? NLA_F_NESTED : 0), 0);
    return start;
  }

  endNest(start: number): this {
    this.w16(start, this.pos - start);
    return this;
  }

  /** Writes an attribute header and its padding; returns where the payload goes. */
  private attrHeader(type: number, payloadLen: number): number {
    const len = NLA_HDRLEN + payloadLen;
    const p = this.reserve(align4(len));
    this.w16(p, len);
    this.w16(p + 2, type);
    // The buffer is reused, so the padding must be cleared, never left from an older message.
    this.buf.fill(0, p + len, p + align4(len));
    return p + NLA_HDRLEN;
  }

  /** Makes room for n more bytes at the end and returns where they start. */
  private reserve(n: number): number {
    const p = this.pos;
    if (p + n > this.buf.length) {
      const grown = Buffer.alloc(Math.max(this.buf.length * 2, p + n));
      this.buf.copy(grown, 0, 0, p);
      this.buf = grown;
    }
    this.pos = p + n;
    return p;
  }

  private w16(at: number, v: number): void {
    writeU16(this.buf, at, v);
  }

  private w32(at: number, v: number): void {
    writeU32(this.buf, at, v);
  }

  private w32s(at: number, v: number): void {
    writeS32(this.buf, at, v);
  }
}

// Host-order accessors, for the C structs some attributes carry (tc_tbf_qopt, tc_mirred).

export function writeU16(buf: Buffer, at: number, v: number): void {
  if (LE) buf.writeUInt16LE(v, at);
  else buf.writeUInt16BE(v, at);
}

export function writeU32(buf: Buffer, at: number, v: number): void {
  if (LE) buf.writeUInt32LE(v >>> 0, at);
  else buf.writeUInt32BE(v >>> 0, at);
}

export function writeS32(buf: Buffer, at: number, v: number): void {
  if (LE) buf.writeInt32LE(v, at);
  else buf.writeInt32BE(v, at);
}

export function writeU64(buf: Buffer, at: number, v: number): void {
  if (LE) buf.writeBigUInt64LE(BigInt(v), at);
  else buf.writeBigUInt64BE(BigInt(v), at);
}

/** A 16-bit value between host and network order (its own inverse), as tcm_info carries a filter's protocol. */
export function htons(v: number): number {
  return LE ? ((v & 0xff) << 8) | ((v >> 8) & 0xff) : v & 0xffff;
}

export function readU16(buf: Buffer, at: number): number {
  return LE ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
}

export function readU32(buf: Buffer, at: number): number {
  return LE ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
}

export function readS32(buf: Buffer, at: number): number {
  return LE ? buf.readInt32LE(at) : buf.readInt32BE(at);
}

/** A u64 as a number: exact up to 2^53, rounded to the nearest double above that. */
export function readU64(buf: Buffer, at: number): number {
  return Number(LE ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
}

function malformed(what: string): NetlinkError {
  return new NetlinkError(74 /* EBADMSG */, `decode netlink reply: ${what}`);
}

/** One message inside a received datagram, read in place. */
export class NlMsg {
  constructor(
    readonly buf: Buffer,
    /** Where its nlmsghdr starts in buf. */
    readonly offset: number,
  ) {}

  get length(): number {
    return readU32(this.buf, this.offset);
  }
  get type(): number {
    return readU16(this.buf, this.offset + 4);
  }
  get flags(): number {
    return readU16(this.buf, this.offset + 6);
  }
  get seq(): number {
    return readU32(this.buf, this.offset + 8);
  }
  get pid(): number {
    return readU32(this.buf, this.offset + 12);
  }
  /** Where the payload (the fixed header of the family) starts in buf. */
  get payload(): number {
    return this.offset + NLMSG_HDRLEN;
  }
  get end(): number {
    return this.offset + this.length;
  }

  /** The attributes after a fixed header of headerLen bytes. */
  attrs(headerLen: number): Attrs {
    const start = this.payload + align4(headerLen);
    if (start > this.end) throw malformed(`message of type ${this.type} is shorter than its ${headerLen}-byte header`);
    return new Attrs(this.buf, start, this.end);
  }
}

/** Splits a datagram into its messages. */
export function parseMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= buf.length) {
    const len = readU32(buf, at);
    if (len < NLMSG_HDRLEN || at + len > buf.length) {
      throw malformed(`message at byte ${at} claims ${len} bytes, ${buf.length - at} are there`);
    }
    out.push(new NlMsg(buf, at));
    at += align4(len);
  }
  return out;
}

/** One attribute, its payload located in buf. */
export interface Attr {
  /** The type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
  readonly type: number;
  readonly nested: boolean;
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
}

/**
 * A level of an attribute tree, decoded lazily: the first lookup indexes the
 * level (the last attribute of a type wins, as in the kernel's nla_parse), and
 * nested() opens the next level. Iterating yields every attribute in order,
 * repeated ones included.
 */
export class Attrs implements Iterable<Attr> {
  private index: Map<number, number> | undefined;

  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  *[Symbol.iterator](): Iterator<Attr> {
    let at = this.start;
    while (at + NLA_HDRLEN <= this.end) {
      const len = this.attrLen(at);
      const rawType = readU16(this.buf, at + 2);
      yield {
        type: rawType & NLA_TYPE_MASK,
        nested: (rawType & NLA_F_NESTED) !== 0,
        buf: this.buf,
        start: at + NLA_HDRLEN,
        end: at + len,
      };
      at += align4(len);
    }
  }

  has(type: number): boolean {
    return this.find(type) !== undefined;
  }

  /** The payload, as a view into the datagram. */
  raw(type: number): Buffer | undefined {
    const at = this.find(type);
    if (at === undefined) return undefined;
    return this.buf.subarray(at + NLA_HDRLEN, at + this.attrLen(at));
  }

  u8(type: number): number | undefined {
    const at = this.payloadOf(type, 1);
    return at === undefined ? undefined : this.buf[at];
  }

  u16(type: number): number | undefined {
    const at = this.payloadOf(type, 2);
    return at === undefined ? undefined : readU16(this.buf, at);
  }

  u32(type: number): number | undefined {
    const at = this.payloadOf(type, 4);
    return at === undefined ? undefined : readU32(this.buf, at);
  }

  s32(type: number): number | undefined {
    const at = this.payloadOf(type, 4);
    return at === undefined ? undefined : readS32(this.buf, at);
  }

  u64(type: number): number | undefined {
    const at = this.payloadOf(type, 8);
    return at === undefined ? undefined : readU64(this.buf, at);
  }

  u16be(type: number): number | undefined {
    const at = this.payloadOf(type, 2);
    return at === undefined ? undefined : this.buf.readUInt16BE(at);
  }

  u32be(type: number): number | undefined {
    const at = this.payloadOf(type, 4);
    return at === undefined ? undefined : this.buf.readUInt32BE(at);
  }

  /** A string attribute, up to its first NUL. */
  str(type: number): string | undefined {
    const at = this.find(type);
    if (at === undefined) return undefined;
    const start = at + NLA_HDRLEN;
    const end = at + this.attrLen(at);
    const nul = this.buf.indexOf(0, start);
    return this.buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
  }

  /** The attributes nested inside `type` (after a fixed header of headerLen bytes, as in VETH_INFO_PEER). */
  nested(type: number, headerLen = 0): Attrs | undefined {
    const at = this.find(type);
    if (at === undefined) return undefined;
    const start = at + NLA_HDRLEN + align4(headerLen);
    const end = at + this.attrLen(at);
    if (start > end) throw malformed(`attribute ${type} is shorter than its ${headerLen}-byte header`);
    return new Attrs(this.buf, start, end);
  }

  private payloadOf(type: number, size: number): number | undefined {
    const at = this.find(type);
    if (at === undefined) return undefined;
    if (this.attrLen(at) < NLA_HDRLEN + size) throw malformed(`attribute ${type} is shorter than ${size} bytes`);
    return at + NLA_HDRLEN;
  }

  private attrLen(at: number): number {
    const len = readU16(this.buf, at);
    if (len < NLA_HDRLEN || at + len > this.end) {
      throw malformed(`attribute at byte ${at} claims ${len} bytes, ${this.end - at} are there`);
    }
    return len;
  }

  private find(type: number): number | undefined {
    if (!this.index) {
      const index = new Map<number, number>();
      let at = this.start;
      while (at + NLA_HDRLEN <= this.end) {
        const len = this.attrLen(at);
        index.set(readU16(this.buf, at + 2) & NLA_TYPE_MASK, at);
        at += align4(len);
      }
      this.index = index;
    }
    return this.index.get(type);
  }
}

export function readIfinfomsg(msg: NlMsg): Required<IfInfoMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + IFINFOMSG_LEN > msg.end) throw malformed('ifinfomsg is truncated');
  return {
    family: b[p]!,
    type: readU16(b, p + 2),
    index: readS32(b, p + 4),
    flags: readU32(b, p + 8),
    change: readU32(b, p + 12),
  };
}

export function readIfaddrmsg(msg: NlMsg): Required<IfAddrMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + IFADDRMSG_LEN > msg.end) throw malformed('ifaddrmsg is truncated');
  return { family: b[p]!, prefixlen: b[p + 1]!, flags: b[p + 2]!, scope: b[p + 3]!, index: readU32(b, p + 4) };
}

export function readRtmsg(msg: NlMsg): Required<RtMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + RTMSG_LEN > msg.end) throw malformed('rtmsg is truncated');
  return {
    family: b[p]!,
    dstLen: b[p + 1]!,
    srcLen: b[p + 2]!,
    tos: b[p + 3]!,
    table: b[p + 4]!,
    protocol: b[p + 5]!,
    scope: b[p + 6]!,
    type: b[p + 7]!,
    flags: readU32(b, p + 8),
  };
}

export function readNdmsg(msg: NlMsg): Required<NdMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + NDMSG_LEN > msg.end) throw malformed('ndmsg is truncated');
  return { family: b[p]!, index: readS32(b, p + 4), state: readU16(b, p + 8), flags: b[p + 10]!, type: b[p + 11]! };
}

export function readTcmsg(msg: NlMsg): Required<TcMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + TCMSG_LEN > msg.end) throw malformed('tcmsg is truncated');
  return {
    family: b[p]!,
    ifindex: readS32(b, p + 4),
    handle: readU32(b, p + 8),
    parent: readU32(b, p + 12),
    info: readU32(b, p + 16),
  };
}

export function readNfgenmsg(msg: NlMsg): Required<NfGenMsg> {
  const b = msg.buf;
  const p = msg.payload;
  if (p + NFGENMSG_LEN > msg.end) throw malformed('nfgenmsg is truncated');
  return { family: b[p]!, version: b[p + 1]!, resId: b.readUInt16BE(p + 2) };
}

/** The outcome carried by NLMSG_ERROR (an ACK when error is 0) or NLMSG_DONE. */
export interface NlStatus {
  /** 0, or a negative errno as the kernel sends it. */
  readonly error: number;
  /** The kernel's explanation (NLMSGERR_ATTR_MSG); may accompany a success as a warning. */
  readonly extAck?: string;
  /** Offset in the request of the offending attribute (NLMSGERR_ATTR_OFFS). */
  readonly extAckOffset?: number;
}

function readExtAck(msg: NlMsg, tlvStart: number): Omit<NlStatus, 'error'> {
  if (!(msg.flags & NLM_F_ACK_TLVS) || tlvStart >= msg.end) return {};
  const tlvs = new Attrs(msg.buf, tlvStart, msg.end);
  const text = tlvs.str(NLMSGERR_ATTR_MSG);
  const offset = tlvs.u32(NLMSGERR_ATTR_OFFS);
  return { ...(text ? { extAck: text } : {}), ...(offset !== undefined ? { extAckOffset: offset } : {}) };
}

/**
 * Decodes struct nlmsgerr. After the error the kernel echoes the request's
 * header (NLM_F_CAPPED) or the whole request, then the extended-ACK TLVs.
 */
export function readNlmsgerr(msg: NlMsg): NlStatus & { readonly requestSeq: number; readonly requestType: number } {
  const b = msg.buf;
  const p = msg.payload;
  if (p + NLMSGERR_LEN > msg.end) throw malformed('nlmsgerr is truncated');
  const error = readS32(b, p);
  const inner = p + 4;
  const echoed = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(readU32(b, inner));
  return {
    error,
    requestType: readU16(b, inner + 4),
    requestSeq: readU32(b, inner + 8),
    ...readExtAck(msg, inner + echoed),
  };
}

/** Decodes NLMSG_DONE: the dump's result as an int, then (since 4.20) extended-ACK TLVs. */
export function readDone(msg: NlMsg): NlStatus {
  const p = msg.payload;
  if (p + 4 > msg.end) return { error: 0 };
  return { error: readS32(msg.buf, p), ...readExtAck(msg, p + 4) };
}
