/** Commits the items of one or more callers to the kernel, as one batch. */
export type Commit<T> = (items: readonly T[]) => Promise<void>;

interface Submission<T> {
  readonly items: readonly T[];
  readonly commit: Commit<T>;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** How many callers' items one batch holds at most, to keep a transaction's size bounded. */
const MAX_SUBMISSIONS = 64;

/**
 * Group commit, for a long-lived process that serves many callers at once (the daemon). An nft
 * transaction that deletes elements waits for an RCU grace period (about 15 ms) once, however many
 * it deletes: the removals that callers submit while a batch is open (windowMs after its first, and
 * for as long as the batch before it is in the kernel) are committed as one. Each caller still gets
 * its own outcome: when a batch of several fails, each is committed alone and learns its own result
 * (nft applies a batch all or nothing, so nothing of the failed one landed). Callers hold the locks
 * of their own items around submit(); what items share (the firewall's bridge locks) the commit takes
 * for the whole batch.
 */
export class CommitBatcher<T> {
  private pending: Submission<T>[] = [];
  private opened = false;
  private inFlight = false;

  constructor(
    private readonly windowMs: number,
    private readonly onIdle: () => void = () => {},
  ) {}

  submit(items: readonly T[], commit: Commit<T>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ items, commit, resolve, reject });
      this.open();
    });
  }

  /** Whether nothing waits and nothing is in the kernel. */
  get idle(): boolean {
    return this.pending.length === 0 && !this.opened && !this.inFlight;
  }

  private open(): void {
    if (this.opened || this.inFlight) return;
    this.opened = true;
    const close = () => {
      this.opened = false;
      void this.flush();
    };
    if (this.windowMs > 0) setTimeout(close, this.windowMs);
    else setImmediate(close);
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, MAX_SUBMISSIONS);
    this.inFlight = true;
    try {
      await commitBatch(batch);
    } finally {
      this.inFlight = false;
      // Those that came meanwhile have waited for as long as a window: they go now.
      if (this.pending.length > 0) void this.flush();
      else this.onIdle();
    }
  }
}

async function commitBatch<T>(batch: readonly Submission<T>[]): Promise<void> {
  if (batch.length > 1) {
    try {
      await batch[0]!.commit(batch.flatMap((s) => s.items));
      for (const s of batch) s.resolve();
      return;
    } catch {
      // Each alone below: one caller's bad change must not fail the others.
    }
  }
  for (const s of batch) {
    try {
      await s.commit(s.items);
      s.resolve();
    } catch (e) {
      s.reject(e);
    }
  }
}

let batchWindowMs: number | null = null;
const batchers = new Map<string, CommitBatcher<unknown>>();

/**
 * Turns group commit of firewall removals on for this process (a window in ms, 0: only what comes
 * while a batch is in the kernel), or off (null, the default: a short-lived plugin commits at once).
 */
export function batchFirewallRemovals(windowMs: number | null): void {
  batchWindowMs = windowMs;
}

/** The batcher of one packet filter (netns, backend, records), while batching is on; else null. */
export function removalBatcher<T>(key: string): CommitBatcher<T> | null {
  if (batchWindowMs === null) return null;
  let b = batchers.get(key);
  if (!b) {
    b = new CommitBatcher<unknown>(batchWindowMs, () => {
      if (batchers.get(key) === b && b!.idle) batchers.delete(key);
    });
    batchers.set(key, b);
  }
  return b as CommitBatcher<T>;
}
