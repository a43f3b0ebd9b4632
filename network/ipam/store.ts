import { parseIp } from './range.js';

/** One reserved address and who holds it. */
export interface Reservation {
  /** Canonical text of the address (also its file name in a FileStore). */
  readonly ip: string;
  readonly containerID: string;
  /** '' for a reservation written before host-local recorded the interface (ID only). */
  readonly ifname: string;
}

/** A container's interface on a network: the key of a reservation. */
export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

/**
 * What the allocator may do while it holds the store: host-local's backend
 * operations. They are synchronous, so nothing else in the process runs
 * between a check and the reservation that follows it.
 */
export interface StoreTx {
  /**
   * Reserves ip for the attachment unless it is already reserved (then false),
   * and records it as the last reserved address of the range set, as
   * host-local's Reserve does.
   */
  reserve(containerID: string, ifname: string, ip: string, rangeSetIndex: number): boolean;
  /** The address last reserved in the range set, or undefined when none is recorded. */
  lastReservedIP(rangeSetIndex: number): string | undefined;
  /** Whether ip is reserved by anyone. */
  isReserved(ip: string): boolean;
  /** Removes the reservation of ip whoever holds it; false when there was none. */
  release(ip: string): boolean;
  /**
   * Removes the attachment's reservations and returns their addresses. As in
   * host-local, reservations written with the ID only are released only when
   * none carries the interface name.
   */
  releaseByID(containerID: string, ifname: string): string[];
  /** The addresses reserved by the attachment, ID-only reservations of the container included. */
  getByID(containerID: string, ifname: string): string[];
  /** Every reservation, in address-text order. */
  list(): Reservation[];
}

/** A store of reservations for one network; `transaction` runs fn holding it exclusively. */
export interface Store {
  transaction<T>(fn: (tx: StoreTx) => T): Promise<T>;
}

/** How a reservation relates to an attachment: held by it, by its container in the old ID-only form, or not. */
export function holder(r: Reservation, containerID: string, ifname: string): 'exact' | 'legacy' | undefined {
  const id = containerID.trim();
  if (r.containerID !== id) return undefined;
  if (r.ifname === ifname) return 'exact';
  return r.ifname === '' ? 'legacy' : undefined;
}

/** Host-local's matching for release: exact reservations, or failing those, the container's ID-only ones. */
export function toRelease(all: readonly Reservation[], containerID: string, ifname: string): Reservation[] {
  const exact = all.filter((r) => holder(r, containerID, ifname) === 'exact');
  return exact.length > 0 ? exact : all.filter((r) => holder(r, containerID, ifname) === 'legacy');
}

/** Host-local's matching for lookup: exact and ID-only reservations alike. */
export function heldBy(all: readonly Reservation[], containerID: string, ifname: string): Reservation[] {
  return all.filter((r) => holder(r, containerID, ifname) !== undefined);
}

/**
 * Reservations not held by any of the valid attachments. An ID-only reservation
 * stays while any valid attachment has its container ID: it cannot say which
 * interface it belongs to, and dropping it would free a live address.
 */
export function stale(all: readonly Reservation[], valid: readonly Attachment[]): Reservation[] {
  const keys = new Set(valid.map((a) => `${a.containerID.trim()}\n${a.ifname}`));
  const ids = new Set(valid.map((a) => a.containerID.trim()));
  return all.filter((r) => (r.ifname === '' ? !ids.has(r.containerID) : !keys.has(`${r.containerID}\n${r.ifname}`)));
}

/** Orders address texts by family (IPv4 first), then by value, for stable listings. */
export function compareIpText(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
