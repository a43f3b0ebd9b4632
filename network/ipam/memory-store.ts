import { compareIpText, heldBy, type Reservation, type Store, type StoreTx, toRelease } from './store.js';

/**
 * A Store in memory, for tests and for callers that keep IPAM state
 * elsewhere. Transactions run one after the other, as under a lock.
 */
export class MemoryStore implements Store {
  private readonly reservations = new Map<string, Reservation>();
  private readonly last = new Map<number, string>();
  private queue: Promise<unknown> = Promise.resolve();

  /** `initial` seeds reservations (an ifname of '' is an ID-only one, as old host-local wrote). */
  constructor(initial: readonly Reservation[] = [], lastReserved: Readonly<Record<number, string>> = {}) {
    for (const r of initial) this.reservations.set(r.ip, { ...r, containerID: r.containerID.trim() });
    for (const [k, v] of Object.entries(lastReserved)) this.last.set(Number(k), v);
  }

  transaction<T>(fn: (tx: StoreTx) => T): Promise<T> {
    const run = this.queue.then(() => fn(this.tx));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A copy of what is reserved now, outside any transaction (for assertions). */
  snapshot(): Reservation[] {
    return [...this.reservations.values()].sort((a, b) => compareIpText(a.ip, b.ip));
  }

  private readonly tx: StoreTx = {
    reserve: (containerID, ifname, ip, rangeSetIndex) => {
      if (this.reservations.has(ip)) return false;
      this.reservations.set(ip, { ip, containerID: containerID.trim(), ifname });
      this.last.set(rangeSetIndex, ip);
      return true;
    },
    lastReservedIP: (rangeSetIndex) => this.last.get(rangeSetIndex),
    isReserved: (ip) => this.reservations.has(ip),
    release: (ip) => this.reservations.delete(ip),
    releaseByID: (containerID, ifname) => {
      const gone = toRelease(this.snapshot(), containerID, ifname);
      for (const r of gone) this.reservations.delete(r.ip);
      return gone.map((r) => r.ip);
    },
    getByID: (containerID, ifname) => heldBy(this.snapshot(), containerID, ifname).map((r) => r.ip),
    list: () => this.snapshot(),
  };
}
