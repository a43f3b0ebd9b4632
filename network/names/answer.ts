import * as dns from 'dns-packet';
import { canonicalIp, ipToBigint, subnetBounds, tryParseCidr, tryParseIp } from '../../base/address.js';
import type { NameRecord, NamesView } from './model.js';

/**
 * The name service's answers, as a pure function of the query's bytes and the records a client may
 * see: an answer to send, the query to forward to the host's resolvers, or nothing (a packet that is
 * no query). No sockets here; server.ts carries the bytes.
 */
export type Decision =
  | { readonly kind: 'answer'; readonly response: Buffer }
  | { readonly kind: 'forward' }
  | { readonly kind: 'drop' };

export interface QueryContext {
  /** UDP answers must fit the client's buffer (512 bytes, or what its EDNS says); TCP ones need not. */
  readonly transport: 'udp' | 'tcp';
  /** The host has resolvers to forward to; without, other names fail at once (SERVFAIL). */
  readonly canForward: boolean;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const HEADER_BYTES = 12;
const QR_BIT = 0x8000;
const CLASSIC_UDP_LIMIT = 512;
/** What berth offers in its own EDNS record: the size that avoids fragmentation (DNS flag day 2020). */
const EDNS_UDP_SIZE = 1232;

/**
 * The networks whose names a client sees: the one its query arrived on, and every other network
 * its sandbox (found by its address on the arrival network) is attached to, as Docker's embedded
 * DNS answers for all networks of a container.
 */
export function visibleNetworks(all: readonly NamesView[], arrival: string, client: string): NamesView[] {
  const here = all.find((n) => n.network === arrival);
  const clientIp = canonicalIp(client);
  // A client of another network that sends to this gateway is no client of this one.
  if (!here || clientIp === undefined || !here.subnets.some((s) => inSubnet(clientIp, s))) return [];
  const netns = here.records.find((r) => r.addresses.includes(clientIp))?.netns;
  if (!netns) return [here];
  return [here, ...all.filter((n) => n !== here && n.records.some((r) => r.netns === netns))];
}

/**
 * The answer to a query from a client that sees `networks` (visibleNetworks; none: the client is
 * on no network here, and is refused).
 */
export function decide(query: Buffer, networks: readonly NamesView[], context: QueryContext): Decision {
  if (query.length < HEADER_BYTES || (query.readUInt16BE(2) & QR_BIT) !== 0) return { kind: 'drop' };
  let packet: dns.DecodedPacket;
  try {
    packet = dns.decode(query);
  } catch {
    return { kind: 'answer', response: headerOnly(query, RCODE.FORMERR) };
  }
  const opcode = (query.readUInt16BE(2) >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'answer', response: headerOnly(query, RCODE.NOTIMP) };
  const question = packet.questions.length === 1 ? packet.questions[0] : undefined;
  if (!question || typeof question.name !== 'string') {
    return { kind: 'answer', response: headerOnly(query, RCODE.FORMERR) };
  }
  const reply = (rcode: number, answers: dns.Answer[]) => respond(packet, rcode, answers, context);
  if (networks.length === 0) return respond(packet, RCODE.REFUSED, [], context, false);
  if (question.class !== 'IN' && question.class !== 'ANY') return forwardOrFail(packet, context);
  const name = question.name.toLowerCase().replace(/\.$/, '');

  if (question.type === 'PTR') {
    const address = reverseAddress(name);
    if (address === undefined) return forwardOrFail(packet, context);
    // A record without names (a CNI container with neither name nor alias) names no address.
    const owner = networks
      .flatMap((n) => n.records.filter((r) => r.addresses.includes(address)).map((r) => ({ n, name: r.names[0] })))
      .find((o) => o.name !== undefined);
    if (owner?.name !== undefined) {
      return reply(RCODE.NOERROR, [
        { type: 'PTR', name: question.name, ttl: 0, data: qualified(owner.name, owner.n.domain) },
      ]);
    }
    if (networks.some((n) => n.subnets.some((s) => inSubnet(address, s)))) return reply(RCODE.NXDOMAIN, []);
    return forwardOrFail(packet, context);
  }

  const found = networks.flatMap((n) => n.records.filter((r) => matches(r, n.domain, name)));
  if (found.length === 0) {
    const inOurDomain = networks.some((n) => n.domain && (name === n.domain || name.endsWith(`.${n.domain}`)));
    return inOurDomain ? reply(RCODE.NXDOMAIN, []) : forwardOrFail(packet, context);
  }
  const wanted = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : question.type === 'ANY' ? 0 : -1;
  const addresses = [...new Set(found.flatMap((r) => r.addresses))].filter(
    (a) => wanted === 0 || (wanted === 4) === !a.includes(':'),
  );
  // A name berth knows with no record of the type asked is NODATA (NOERROR, no answer), so a client
  // asking AAAA then A for an IPv4-only sandbox goes on to the A.
  const answers: dns.Answer[] =
    wanted === -1
      ? []
      : addresses.map((a) => ({ type: a.includes(':') ? 'AAAA' : 'A', name: question.name, ttl: 0, data: a }));
  return reply(RCODE.NOERROR, answers);
}

/** The answer for a forwarded query whose resolvers all failed or timed out. */
export function serverFailure(query: Buffer): Buffer | undefined {
  if (query.length < HEADER_BYTES) return undefined;
  try {
    const packet = dns.decode(query);
    return encodeResponse(packet, RCODE.SERVFAIL, [], false);
  } catch {
    return headerOnly(query, RCODE.SERVFAIL);
  }
}

function matches(record: NameRecord, domain: string | undefined, name: string): boolean {
  if (record.names.includes(name)) return true;
  if (!domain || !name.endsWith(`.${domain}`)) return false;
  return record.names.includes(name.slice(0, -domain.length - 1));
}

const qualified = (name: string, domain: string | undefined) => (domain ? `${name}.${domain}` : name);

function forwardOrFail(packet: dns.DecodedPacket, context: QueryContext): Decision {
  if (context.canForward) return { kind: 'forward' };
  return respond(packet, RCODE.SERVFAIL, [], context, false);
}

function respond(
  packet: dns.DecodedPacket,
  rcode: number,
  answers: dns.Answer[],
  context: QueryContext,
  authoritative = true,
): Decision {
  const full = encodeResponse(packet, rcode, answers, authoritative);
  if (context.transport === 'tcp' || full.length <= udpLimit(packet)) return { kind: 'answer', response: full };
  // Too big for the client's buffer: the truncated flag tells it to ask again over TCP.
  return { kind: 'answer', response: encodeResponse(packet, rcode, [], authoritative, dns.TRUNCATED_RESPONSE) };
}

function encodeResponse(
  packet: dns.DecodedPacket,
  rcode: number,
  answers: dns.Answer[],
  authoritative: boolean,
  extraFlags = 0,
): Buffer {
  const flags =
    (authoritative ? dns.AUTHORITATIVE_ANSWER : 0) |
    (packet.flag_rd ? dns.RECURSION_DESIRED : 0) |
    dns.RECURSION_AVAILABLE |
    extraFlags |
    rcode;
  const edns = packet.additionals.some((a) => a.type === 'OPT');
  return dns.encode({
    type: 'response',
    id: packet.id,
    flags,
    questions: packet.questions,
    answers,
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, flags: 0, options: [] }] : [],
  });
}

function udpLimit(packet: dns.DecodedPacket): number {
  const opt = packet.additionals.find((a) => a.type === 'OPT');
  return opt?.udpPayloadSize
    ? Math.max(CLASSIC_UDP_LIMIT, Math.min(opt.udpPayloadSize, EDNS_UDP_SIZE))
    : CLASSIC_UDP_LIMIT;
}

/** A response of the query's header alone (no question): for a query that cannot be read. */
function headerOnly(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  const flags = query.readUInt16BE(2);
  // The opcode and RD as asked; QR and RA set; the rest cleared.
  out.writeUInt16BE(QR_BIT | (flags & 0x7800) | (flags & dns.RECURSION_DESIRED) | dns.RECURSION_AVAILABLE | rcode, 2);
  return out;
}

/** The address a reverse name stands for (4.3.2.1.in-addr.arpa is 1.2.3.4), canonical; undefined for any other name. */
export function reverseAddress(name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower.endsWith('.in-addr.arpa')) {
    const parts = lower.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4) return undefined;
    return canonicalIp(parts.reverse().join('.'));
  }
  if (lower.endsWith('.ip6.arpa')) {
    const nibbles = lower.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    return canonicalIp(hex.match(/.{4}/g)!.join(':'));
  }
  return undefined;
}

function inSubnet(address: string, cidr: string): boolean {
  const ip = tryParseIp(address);
  const prefix = tryParseCidr(cidr);
  if (!ip || !prefix || ip.family !== prefix.family) return false;
  const { first, last } = subnetBounds(prefix);
  const value = ipToBigint(ip);
  return value >= first && value <= last;
}
