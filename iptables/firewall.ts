import { existsSync } from 'node:fs';
import { ofThisBoot } from '../base/boot.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { withFileLock, withFileLocks } from '../base/files.js';
import { removalBatcher } from './commit-batch.js';
import {
  type BridgeRule,
  isEmpty,
  type NormalizedRules,
  normalizeRules,
  type Owner,
  type Rules,
  validateOwner,
} from './model.js';
import { type Backend, type OwnerRecord, RecordStore } from './records.js';

export type { Backend } from './records.js';

/**
 * berth's packet filter, whatever the backend. Every change is one atomic
 * batch in the kernel, inside the netns the firewall is bound to.
 */
export interface Firewall {
  readonly backend: Backend;
  /** berth's table/chains/jumps, idempotent. Every other call also ensures them, in the same batch. */
  ensureBase(): Promise<void>;
  /** Makes the owner hold exactly `rules`: what it held before and no longer does is removed, in the same batch. */
  apply(owner: Owner, rules: Rules): Promise<void>;
  /** apply() for several owners (each once) in one batch: one `nft` transaction for all of them. */
  applyMany(changes: readonly OwnerRules[]): Promise<void>;
  /** Removes everything the owner holds, from berth's record; an unknown owner or rules already gone is success. */
  remove(owner: Owner): Promise<void>;
  /** remove() for several owners in one batch (one `nft` transaction); none with a record: no batch at all. */
  removeMany(owners: readonly Owner[]): Promise<void>;
  /**
   * Re-applies every recorded owner of this boot (after `nft flush ruleset`, or iptables being reset),
   * and the networks of a boot that is over; containers of that boot went with it.
   */
  reload(): Promise<void>;
  /** What is missing or different in the kernel for the base and these rules; empty when all is in place. */
  check(owner: Owner, rules: Rules): Promise<string[]>;
  /** null when the backend is usable here, else why not and what to install. */
  status(): Promise<string | null>;
  /** The owners berth holds rules for in this boot (for garbage collection). */
  owners(): Promise<Owner[]>;
}

export interface FirewallOptions {
  /** The netns whose packet filter to change: a path such as /run/netns/x; '' (default) is the current one. */
  readonly hostNetnsPath?: string;
  /** Where the per-owner records live (created 0700). */
  readonly recordDir: string;
}

/** What one owner is to hold, for applyMany(). */
export interface OwnerRules {
  readonly owner: Owner;
  readonly rules: Rules;
}

/** One owner's transition, as the drivers receive it. */
export interface OwnerChange {
  readonly owner: Owner;
  /** What the kernel may hold for the owner now (record plus an interrupted change); null: nothing. */
  readonly before: NormalizedRules | null;
  /** What it must hold after; null: nothing. */
  readonly after: NormalizedRules | null;
  /**
   * Bridges other owners also hold: a backend that keeps one shared entry per bridge (nftables sets)
   * must not delete it with this owner's change.
   */
  readonly sharedBridges?: readonly BridgeRule[];
}

const ownerKey = (o: Owner): string => `${o.kind} ${o.id}`;

/** An owner to remove, and what the kernel may hold for it (its record, an interrupted change's too). */
interface Removal {
  readonly owner: Owner;
  readonly before: NormalizedRules;
}

/** What of a bridge rule owners may share: the bridge, its isolation, each subnet's hairpin. */
const bridgeParts = (b: BridgeRule): string[] => [
  b.name,
  ...(b.isolate ? [`${b.name} isolated`] : []),
  ...b.subnets.map((s) => `${b.name} ${s}`),
];

/** The bridges whose elements these changes delete: let go of by an owner, and held by no other. */
export function deletedBridges(changes: readonly OwnerChange[]): Set<string> {
  const deleted = new Set<string>();
  for (const c of changes) {
    const kept = new Set([...(c.after?.bridges ?? []), ...(c.sharedBridges ?? [])].map((b) => b.name));
    for (const b of c.before?.bridges ?? []) if (!kept.has(b.name)) deleted.add(b.name);
  }
  return deleted;
}

/** Concatenation of rule lists: what either may have put in the kernel. */
export function combineRules(a: NormalizedRules, b: NormalizedRules | undefined): NormalizedRules {
  if (!b) return a;
  return {
    bridges: [...a.bridges, ...b.bridges],
    masquerade: [...a.masquerade, ...b.masquerade],
    ports: [...a.ports, ...b.ports],
  };
}

/**
 * The record keeping both backends share: the record is written before the
 * kernel changes (covering old and new) and settled after, so a crash at any
 * point leaves a record that removes all.
 *
 * Locks are scoped to what is contended, so parallel changes of different
 * owners do not wait for each other: a change holds the record dir's lock
 * shared (reload holds it exclusive), then each of its owners' locks, then the
 * lock of each bridge it involves, in that order (each kind sorted by path).
 * A bridge's elements are shared by every owner naming the bridge: taking it
 * up holds the bridge's lock shared, letting it go holds it exclusive, so the
 * owner letting go sees every other holder's record before it deletes them.
 * The kernel transaction itself is not serialized by berth (nft transactions
 * are atomic in the kernel); a backend that must read before it writes
 * serializes its commits itself.
 */
export abstract class RecordedFirewall implements Firewall {
  abstract readonly backend: Backend;
  protected readonly netns: string;
  protected readonly store: RecordStore;

  constructor(options: FirewallOptions) {
    if (!options || typeof options.recordDir !== 'string' || options.recordDir === '') {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        'the firewall needs a recordDir',
        'give a directory such as /var/lib/berth/firewall',
      );
    }
    this.netns = options.hostNetnsPath ?? '';
    this.store = new RecordStore(options.recordDir);
  }

  /**
   * Makes the kernel match the changes, base included, as one batch per table family. A backend may
   * leave out a base it finds in place, unless `assertBase` (reload: someone may have edited it).
   */
  protected abstract commit(changes: readonly OwnerChange[], assertBase?: boolean): Promise<void>;
  /** Whether commit() is all or nothing in the kernel (one nft transaction), or may land in part. */
  protected abstract readonly atomicCommit: boolean;
  /** Problems in the kernel for the base and the owner's rules (null: base only). */
  protected abstract inspect(owner: Owner | null, rules: NormalizedRules | null): Promise<string[]>;
  abstract status(): Promise<string | null>;

  /** Runs fn holding the record dir's lock shared and the owners' locks; an owner's lock file goes with its record. */
  private ownersLocked<T>(owners: readonly Owner[], fn: () => Promise<T>): Promise<T> {
    return withFileLock(
      this.store.lockPath,
      () =>
        withFileLocks(
          owners.map((o) => ({
            path: this.store.ownerLockPath(o),
            removeWhenDone: () => !existsSync(this.store.path(o)),
          })),
          fn,
          { label: 'the firewall lock of an owner' },
        ),
      { shared: true, label: "the firewall's lock" },
    );
  }

  /**
   * Runs fn holding the locks of the bridges the owners' transitions name: exclusive for a bridge some
   * owner lets go of, shared for one only taken up or kept. fn returns the bridges it deleted from the
   * kernel, whose lock files then go.
   */
  private bridgesLocked(
    transitions: readonly { readonly before: NormalizedRules | null; readonly after: NormalizedRules | null }[],
    fn: () => Promise<ReadonlySet<string>>,
  ): Promise<void> {
    const exclusive = new Set<string>();
    const named = new Set<string>();
    for (const { before, after } of transitions) {
      const kept = new Set(after?.bridges.map((b) => b.name));
      for (const b of after?.bridges ?? []) named.add(b.name);
      for (const b of before?.bridges ?? []) {
        named.add(b.name);
        if (!kept.has(b.name)) exclusive.add(b.name);
      }
    }
    let deleted: ReadonlySet<string> = new Set();
    return withFileLocks(
      [...named].map((name) => ({
        path: this.store.bridgeLockPath(name),
        shared: !exclusive.has(name),
        removeWhenDone: () => deleted.has(name),
      })),
      async () => {
        deleted = await fn();
      },
      { label: 'the firewall lock of a bridge' },
    );
  }

  /** The owner's record, when it says what the kernel holds: one of a boot that is over holds nothing. */
  private readOwn(owner: Owner): OwnerRecord | null {
    const rec = this.store.read(owner);
    if (rec && !ofThisBoot(rec)) return null;
    if (rec && rec.backend !== this.backend) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `the rules of ${owner.kind} ${owner.id} were applied with the ${rec.backend} backend, not ${this.backend}`,
        `remove them with the ${rec.backend} backend first, or use it for this owner`,
      );
    }
    return rec;
  }

  /**
   * The bridges this change drops that other owners' records still hold; read only when the change drops a
   * bridge (whose lock is then held exclusive: no other owner takes it up meanwhile). Records are read
   * until every part of the dropped bridges (name, isolation, each subnet) is found held, or to the end.
   */
  private sharedWithOthers(
    o: Owner,
    before: NormalizedRules | null,
    after: NormalizedRules | null,
    alsoLettingGo: ReadonlySet<string> = new Set(),
  ): { sharedBridges?: BridgeRule[] } {
    const kept = new Set(after?.bridges.map((b) => b.name));
    const droppedRules = before?.bridges.filter((b) => !kept.has(b.name)) ?? [];
    if (droppedRules.length === 0) return {};
    const dropped = new Set(droppedRules.map((b) => b.name));
    const unseen = new Set(droppedRules.flatMap(bridgeParts));
    const shared: BridgeRule[] = [];
    for (const r of this.store.entries()) {
      if (r instanceof BerthError || r.backend !== this.backend || !ofThisBoot(r)) continue;
      if (r.owner.kind === o.kind && r.owner.id === o.id) continue;
      if (alsoLettingGo.has(ownerKey(r.owner))) continue;
      for (const b of r.rules.bridges) {
        if (!dropped.has(b.name)) continue;
        shared.push(b);
        for (const part of bridgeParts(b)) unseen.delete(part);
      }
      if (unseen.size === 0) break;
    }
    return shared.length > 0 ? { sharedBridges: shared } : {};
  }

  async ensureBase(): Promise<void> {
    await withFileLock(this.store.lockPath, () => this.commit([]), { shared: true, label: "the firewall's lock" });
  }

  async apply(owner: Owner, rules: Rules): Promise<void> {
    await this.applyMany([{ owner, rules }]);
  }

  async applyMany(changes: readonly OwnerRules[]): Promise<void> {
    const wanted = changes.map((c) => ({ owner: validateOwner(c.owner), after: normalizeRules(c.rules) }));
    const seen = new Set<string>();
    for (const { owner: o } of wanted) {
      const key = ownerKey(o);
      if (seen.has(key)) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `${key} is given twice in one firewall change`,
          'merge its rules into one entry',
        );
      }
      seen.add(key);
    }
    if (wanted.length === 0) return;
    await this.ownersLocked(
      wanted.map((w) => w.owner),
      async () => {
        // Every record is read, so an owner of another backend refuses the whole change before anything is written.
        const steps = wanted.map((w) => {
          const rec = this.readOwn(w.owner);
          return { ...w, rec, before: rec ? combineRules(rec.rules, rec.previous) : null };
        });
        await this.bridgesLocked(steps, async () => {
          let changes: OwnerChange[];
          try {
            for (const { owner: o, after, before } of steps) {
              await this.store.writeAsync({
                version: 1,
                backend: this.backend,
                owner: o,
                rules: after,
                ...(before ? { previous: before } : {}),
              });
            }
            // After all records are written: an owner of this change that takes up a bridge another drops keeps it.
            changes = steps.map(({ owner: o, before, after }) => ({
              owner: o,
              before,
              after,
              ...this.sharedWithOthers(o, before, after),
            }));
            await this.commit(changes);
          } catch (e) {
            // An atomic change (or a record write that failed before it) left the kernel as the old records
            // say. A change in several batches (one per family) may have landed in part: the records written
            // above, old and new rules, stay.
            if (this.atomicCommit) {
              for (const { owner: o, rec } of steps) {
                if (rec) this.store.write(rec);
                else this.store.delete(o);
              }
            }
            throw e;
          }
          for (const { owner: o, after, before } of steps) {
            if (isEmpty(after)) this.store.delete(o);
            // A new owner's record, written before the commit, already says exactly this.
            else if (before) await this.store.writeAsync({ version: 1, backend: this.backend, owner: o, rules: after });
          }
          return deletedBridges(changes);
        });
      },
    );
  }

  async remove(owner: Owner): Promise<void> {
    await this.removeMany([owner]);
  }

  async removeMany(owners: readonly Owner[]): Promise<void> {
    const unique = new Map(owners.map((o) => validateOwner(o)).map((o) => [ownerKey(o), o]));
    if (unique.size === 0) return;
    await this.ownersLocked([...unique.values()], async () => {
      // Every record is read first, so an owner of another backend refuses the whole removal.
      const held = [...unique.values()].map((o) => ({ owner: o, rec: this.readOwn(o) }));
      const removals: Removal[] = [];
      for (const { owner: o, rec } of held) {
        if (rec) removals.push({ owner: o, before: combineRules(rec.rules, rec.previous) });
        else this.store.delete(o); // a record of a boot that is over, if any: its rules went with that boot
      }
      if (removals.length === 0) return;
      // Only an all-or-nothing commit is batched: of a failed batch in parts, some would have landed before each retried alone.
      const batcher = this.atomicCommit
        ? removalBatcher<Removal>(`${this.backend} ${this.netns} ${this.store.dir}`)
        : null;
      await (batcher ? batcher.submit(removals, (all) => this.removeHeld(all)) : this.removeHeld(removals));
    });
  }

  /**
   * Removes owners whose locks their callers hold (several callers' in a batch): under the locks of
   * the bridges they let go of, one commit, then each record. Letting a bridge go holds its lock
   * exclusive, so concurrent removals of one bridge's owners meet here, in one batch, or not at all;
   * the owners of a batch do not keep a bridge for each other.
   */
  private removeHeld(removals: readonly Removal[]): Promise<void> {
    return this.bridgesLocked(
      removals.map(({ before }) => ({ before, after: null })),
      async () => {
        const removed = new Set(removals.map((r) => ownerKey(r.owner)));
        const changes = removals.map(({ owner: o, before }) => ({
          owner: o,
          before,
          after: null,
          ...this.sharedWithOthers(o, before, null, removed),
        }));
        await this.commit(changes);
        for (const { owner: o } of removals) this.store.delete(o);
        return deletedBridges(changes);
      },
    );
  }

  async reload(): Promise<void> {
    // Exclusive: no owner changes while every record is re-applied.
    await withFileLock(
      this.store.lockPath,
      async () => {
        const { records, errors } = this.store.list();
        // A network outlives a boot (its record is configuration); a container's rules do not.
        const own = records.filter((r) => r.backend === this.backend && (ofThisBoot(r) || r.owner.kind === 'network'));
        await this.commit(
          own.map((r) => ({ owner: r.owner, before: ofThisBoot(r) ? (r.previous ?? null) : null, after: r.rules })),
          true,
        );
        for (const r of own) {
          if (r.previous || !ofThisBoot(r))
            this.store.write({ version: 1, backend: this.backend, owner: r.owner, rules: r.rules });
        }
        if (errors.length > 0) {
          throw new BerthError(
            ErrorCode.DecodeFailure,
            `reload re-applied ${own.length} owner(s) but skipped ${errors.length} unreadable record(s)`,
            errors.map((e) => e.message).join('; '),
          );
        }
      },
      { label: "the firewall's lock" },
    );
  }

  async check(owner: Owner, rules: Rules): Promise<string[]> {
    return this.inspect(validateOwner(owner), normalizeRules(rules));
  }

  async owners(): Promise<Owner[]> {
    return this.store
      .list()
      .records.filter((r) => r.backend === this.backend && ofThisBoot(r))
      .map((r) => r.owner);
  }
}
