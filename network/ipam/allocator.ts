import { type Family, ipText } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import {
  type IpAddr,
  isExcluded,
  parseIp,
  type Range,
  type RangeSet,
  rangeIndexFor,
  rangeSetSize,
  rangeSetText,
} from './range.js';
import { type Attachment, type Reservation, type Store, type StoreTx, stale } from './store.js';

/** One address handed to an attachment, with what a CNI result needs of it. */
export interface Allocation {
  readonly rangeSetIndex: number;
  readonly family: Family;
  readonly ip: string;
  /** The address with its subnet's prefix length, as a CNI result's `ips[].address`: `10.22.0.5/16`. */
  readonly address: string;
  readonly gateway: string;
  readonly subnet: string;
}

/** A candidate address and the range of the set it is in. */
export interface Candidate {
  readonly rangeIndex: number;
  readonly value: bigint;
}

/**
 * host-local's round robin: every address of the set that may be handed out,
 * once, starting after `last` when it is in the set (else at the first range's
 * start) and wrapping around through the following ranges back to it. Network,
 * broadcast and gateway addresses are skipped.
 */
export function* candidates(set: RangeSet, last?: IpAddr): Generator<Candidate> {
  let startRange = 0;
  let startValue = set[0]!.rangeStart;
  const lastRange = last ? rangeIndexFor(set, last) : -1;
  if (last && lastRange >= 0) {
    const r = set[lastRange]!;
    if (last.value === r.rangeEnd) {
      startRange = (lastRange + 1) % set.length;
      startValue = set[startRange]!.rangeStart;
    } else {
      startRange = lastRange;
      startValue = last.value + 1n;
    }
  }
  const walk = function* (rangeIndex: number, from: bigint, to: bigint): Generator<Candidate> {
    const r = set[rangeIndex]!;
    for (let v = from; v <= to; v++) if (!isExcluded(r, v)) yield { rangeIndex, value: v };
  };
  yield* walk(startRange, startValue, set[startRange]!.rangeEnd);
  for (let k = 1; k < set.length; k++) {
    const i = (startRange + k) % set.length;
    yield* walk(i, set[i]!.rangeStart, set[i]!.rangeEnd);
  }
  yield* walk(startRange, set[startRange]!.rangeStart, startValue - 1n);
}

const invalid = (msg: string, details: string) => new BerthError(ErrorCode.InvalidConfig, msg, details);

function checkAttachment(containerID: string, ifname: string): void {
  // The reservation file holds "<id>\r\n<ifname>"; a line break in either would make it unreadable.
  if (containerID.trim() === '' || /[\r\n]/.test(containerID)) {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `container ID ${JSON.stringify(containerID)} is empty or holds a line break`,
      'CNI_CONTAINERID must be a non-empty ID of letters, digits, "_", "." and "-"',
    );
  }
  if (ifname === '' || /[\r\n]/.test(ifname)) {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `interface name ${JSON.stringify(ifname)} is empty or holds a line break`,
      'CNI_IFNAME must name the interface in the container, e.g. eth0',
    );
  }
}

/**
 * berth's IPAM policy, host-local's: one address per range set per attachment,
 * round robin from the last reserved address, requested addresses honoured.
 * It holds no state of its own; every call is one store transaction.
 */
export class Allocator {
  constructor(
    readonly store: Store,
    readonly rangeSets: readonly RangeSet[],
  ) {}

  /**
   * Takes one address from every range set for the attachment, the requested
   * ones where asked (each must fall in a different set). All or nothing: a
   * failure in any set releases what the earlier sets took.
   */
  async allocate(containerID: string, ifname: string, requestedIPs: readonly string[] = []): Promise<Allocation[]> {
    checkAttachment(containerID, ifname);
    const requested = this.matchRequested(requestedIPs);
    return this.store.transaction((tx) => {
      const held = tx.getByID(containerID, ifname);
      const taken: string[] = [];
      try {
        return this.rangeSets.map((set, index) => {
          const already = held.find((ip) => {
            const addr = parseIp(ip);
            return addr !== undefined && rangeIndexFor(set, addr) >= 0;
          });
          if (already !== undefined) {
            throw invalid(
              `container ${containerID} (${ifname}) already holds ${already} in range set ${index} (${rangeSetText(set)})`,
              'an attachment gets one address per range set; DEL it before adding it again',
            );
          }
          const want = requested.get(index);
          const allocation = want
            ? this.reserveRequested(tx, index, want, containerID, ifname)
            : this.reserveNext(tx, index, containerID, ifname);
          taken.push(allocation.ip);
          return allocation;
        });
      } catch (e) {
        for (const ip of taken) tx.release(ip);
        throw e;
      }
    });
  }

  /** Releases the attachment's addresses and returns them; releasing what is not held is success. */
  release(containerID: string, ifname: string): Promise<string[]> {
    return this.store.transaction((tx) => tx.releaseByID(containerID, ifname));
  }

  /**
   * The attachment's addresses that fall in this network's range sets, in set
   * order (for CHECK). Reservations outside every set (left by an older config)
   * are not listed.
   */
  lookup(containerID: string, ifname: string): Promise<Allocation[]> {
    return this.store.transaction((tx) => {
      const out: Allocation[] = [];
      for (const ip of tx.getByID(containerID, ifname)) {
        const addr = parseIp(ip);
        if (!addr) continue;
        this.rangeSets.forEach((set, index) => {
          const r = rangeIndexFor(set, addr);
          if (r >= 0) out.push(allocation(index, set[r]!, addr.value));
        });
      }
      return out.sort((a, b) => a.rangeSetIndex - b.rangeSetIndex);
    });
  }

  /** Releases every reservation not held by one of the valid attachments; returns what it released. */
  gc(valid: readonly Attachment[]): Promise<Reservation[]> {
    return this.store.transaction((tx) => {
      const gone = stale(tx.list(), valid);
      for (const r of gone) tx.release(r.ip);
      return gone;
    });
  }

  /** Every reservation of the network (for STATUS and `berth` listings). */
  list(): Promise<Reservation[]> {
    return this.store.transaction((tx) => tx.list());
  }

  /** Maps each requested address to its range set, before anything is reserved. */
  private matchRequested(requestedIPs: readonly string[]): Map<number, IpAddr> {
    const out = new Map<number, IpAddr>();
    for (const text of requestedIPs) {
      const ip = parseIp(text);
      if (!ip) {
        throw invalid(
          `requested IP ${JSON.stringify(text)} is not an IP address`,
          'ask for an address such as 10.22.0.5 or fd00:22::5',
        );
      }
      const index = this.rangeSets.findIndex((set) => rangeIndexFor(set, ip) >= 0);
      if (index < 0) {
        throw invalid(
          `requested IP ${text} is in none of the ranges of this network`,
          `ask for an address in ${this.rangeSets.map(rangeSetText).join('; ')}, or for none`,
        );
      }
      const other = out.get(index);
      // One address asked for twice (CNI_ARGS and runtimeConfig.ips both carry it) is one request, as in host-local.
      if (other?.value === ip.value) continue;
      if (other) {
        throw invalid(
          `requested IPs ${ipText(other.family, other.value)} and ${text} are both in range set ${index}`,
          'an attachment gets one address per range set; ask for at most one address in each',
        );
      }
      out.set(index, ip);
    }
    return out;
  }

  private reserveRequested(tx: StoreTx, index: number, ip: IpAddr, containerID: string, ifname: string): Allocation {
    const set = this.rangeSets[index]!;
    const r = set[rangeIndexFor(set, ip)]!;
    const text = ipText(ip.family, ip.value);
    if (isExcluded(r, ip.value)) {
      const what =
        ip.value === r.gateway ? 'gateway' : ip.value === r.network ? 'network address' : 'broadcast address';
      throw invalid(
        `requested IP ${text} is the ${what} of ${r.subnet}`,
        'ask for another address of the range, or for none',
      );
    }
    if (!tx.reserve(containerID, ifname, text, index)) {
      const owner = tx.list().find((x) => x.ip === text);
      const who = owner
        ? `container ${owner.containerID}${owner.ifname ? ` (${owner.ifname})` : ''}`
        : 'another container';
      throw invalid(
        `requested IP ${text} is already reserved by ${who}`,
        'ask for a free address or for none; if that container is gone, release its address with `berth gc` or a CNI DEL/GC',
      );
    }
    return allocation(index, r, ip.value);
  }

  private reserveNext(tx: StoreTx, index: number, containerID: string, ifname: string): Allocation {
    const set = this.rangeSets[index]!;
    const lastText = tx.lastReservedIP(index);
    const last = lastText === undefined ? undefined : parseIp(lastText);
    for (const c of candidates(set, last)) {
      const r = set[c.rangeIndex]!;
      const text = ipText(r.family, c.value);
      // Checking first keeps a full range cheap: reserve() writes a file, isReserved() only looks.
      if (!tx.isReserved(text) && tx.reserve(containerID, ifname, text, index)) return allocation(index, r, c.value);
    }
    const size = rangeSetSize(set);
    throw new BerthError(
      ErrorCode.RangeExhausted,
      `no free address in range set ${index} (${rangeSetText(set)}): all ${size} address${size === 1n ? ' is' : 'es are'} taken`,
      'give the network a larger range (a wider subnet, or a wider rangeStart..rangeEnd, or another range in the set), or free leaked reservations with `berth gc` or a CNI GC',
    );
  }
}

function allocation(rangeSetIndex: number, r: Range, value: bigint): Allocation {
  const ip = ipText(r.family, value);
  return {
    rangeSetIndex,
    family: r.family,
    ip,
    address: `${ip}/${r.prefixLength}`,
    gateway: ipText(r.family, r.gateway),
    subnet: r.subnet,
  };
}
