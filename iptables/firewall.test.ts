import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setBootId } from '../base/boot.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { batchFirewallRemovals } from './commit-batch.js';
import { type OwnerChange, RecordedFirewall } from './firewall.js';
import type { NormalizedRules, Owner } from './model.js';
import { RecordStore, recordFileName } from './records.js';

/** A backend whose kernel is a list of the changes it was given. */
class FakeFirewall extends RecordedFirewall {
  readonly backend = 'nftables' as const;
  atomicCommit = true;
  commits: OwnerChange[][] = [];
  failNext = false;
  /** Owners whose every commit fails (a change the kernel refuses, whatever it is batched with). */
  refused = new Set<string>();
  /** What the record said while the kernel change ran. */
  duringCommit: unknown[] = [];

  protected async commit(changes: readonly OwnerChange[]): Promise<void> {
    for (const c of changes) this.duringCommit.push(this.store.read(c.owner));
    if (this.failNext || changes.some((c) => this.refused.has(c.owner.id))) {
      this.failNext = false;
      throw new BerthError(ErrorCode.IOFailure, 'nft -f - exited with status 1');
    }
    this.commits.push([...changes]);
  }
  protected async inspect(): Promise<string[]> {
    return [];
  }
  async status(): Promise<string | null> {
    return null;
  }
}

const C: Owner = { kind: 'container', id: 'c1' };
const rulesA = { masquerade: [{ source: '10.0.0.2', subnet: '10.0.0.0/24' }] };
const rulesB = { masquerade: [{ source: '10.0.0.3', subnet: '10.0.0.0/24' }] };
const normA: NormalizedRules = { bridges: [], masquerade: rulesA.masquerade, ports: [] };
const normB: NormalizedRules = { bridges: [], masquerade: rulesB.masquerade, ports: [] };

/** The boot the tests run in; records of EARLIER describe a boot that is over. */
const B = 'boot-2';
const EARLIER = 'boot-1';

let dir: string;
let fw: FakeFirewall;
beforeEach(() => {
  setBootId(B);
  dir = mkdtempSync(join(tmpdir(), 'berth-fw-'));
  fw = new FakeFirewall({ recordDir: join(dir, 'records') });
});
afterEach(() => {
  setBootId(undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('records', () => {
  it('apply records the normalized rules in a private file', async () => {
    await fw.apply(C, rulesA);
    const path = join(dir, 'records', recordFileName(C));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'records')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      version: 1,
      backend: 'nftables',
      boot: B,
      owner: C,
      rules: normA,
    });
    expect(fw.commits).toEqual([[{ owner: C, before: null, after: normA }]]);
  });

  it('the record covers old and new rules while the kernel changes', async () => {
    await fw.apply(C, rulesA);
    await fw.apply(C, rulesB);
    expect(fw.duringCommit[1]).toMatchObject({ rules: normB, previous: normA });
    expect(fw.commits[1]).toEqual([{ owner: C, before: normA, after: normB }]);
    expect(new RecordStore(join(dir, 'records')).read(C)).toEqual({
      version: 1,
      backend: 'nftables',
      boot: B,
      owner: C,
      rules: normB,
    });
  });

  it('a failed change puts the old record back, or none', async () => {
    fw.failNext = true;
    await expect(fw.apply(C, rulesA)).rejects.toThrow(/status 1/);
    expect(new RecordStore(join(dir, 'records')).read(C)).toBeNull();
    await fw.apply(C, rulesA);
    fw.failNext = true;
    await expect(fw.apply(C, rulesB)).rejects.toThrow(/status 1/);
    expect(new RecordStore(join(dir, 'records')).read(C)?.rules).toEqual(normA);
  });

  it('a failed change of a backend that commits in parts keeps old and new rules on record', async () => {
    fw.atomicCommit = false;
    await fw.apply(C, rulesA);
    fw.failNext = true;
    await expect(fw.apply(C, rulesB)).rejects.toThrow(/status 1/);
    const rec = new RecordStore(join(dir, 'records')).read(C);
    expect(rec?.rules).toEqual(normB);
    expect(rec?.previous).toEqual(normA);
    // A later remove takes both away.
    await fw.remove(C);
    expect(fw.commits.at(-1)?.[0]?.before).toEqual({
      bridges: [],
      masquerade: [...normB.masquerade, ...normA.masquerade],
      ports: [],
    });
  });

  it('remove deletes what the record says, then the record; unknown owners are success', async () => {
    await fw.remove(C);
    expect(fw.commits).toEqual([]);
    await fw.apply(C, rulesA);
    await fw.remove(C);
    expect(fw.commits[1]).toEqual([{ owner: C, before: normA, after: null }]);
    expect(readdirSync(join(dir, 'records')).filter((n) => n.endsWith('.json'))).toEqual([]);
    await fw.remove(C);
    expect(fw.commits).toHaveLength(2);
  });

  it('an interrupted change is removed whole: old and new', async () => {
    const store = new RecordStore(join(dir, 'records'));
    store.write({ version: 1, backend: 'nftables', owner: C, rules: normB, previous: normA });
    await fw.remove(C);
    expect(fw.commits[0]?.[0]?.before?.masquerade).toEqual([...normB.masquerade, ...normA.masquerade]);
  });

  it('reload re-applies every record of its backend and settles interrupted ones', async () => {
    const store = new RecordStore(join(dir, 'records'));
    const N: Owner = { kind: 'network', id: 'n1' };
    store.write({ version: 1, backend: 'nftables', owner: C, rules: normB, previous: normA });
    store.write({ version: 1, backend: 'nftables', owner: N, rules: normA });
    store.write({ version: 1, backend: 'iptables', owner: { kind: 'network', id: 'other' }, rules: normA });
    await fw.reload();
    expect(fw.commits[0]).toEqual([
      { owner: C, before: normA, after: normB },
      { owner: N, before: null, after: normA },
    ]);
    expect(store.read(C)).toEqual({ version: 1, backend: 'nftables', boot: B, owner: C, rules: normB });
    expect(await fw.owners()).toEqual([C, N]);
  });

  it('reload goes on past an unreadable record, then says which', async () => {
    await fw.apply(C, rulesA);
    writeFileSync(join(dir, 'records', 'network-bad.json'), '{ not json');
    await expect(fw.reload()).rejects.toMatchObject({
      code: ErrorCode.DecodeFailure,
      message: expect.stringContaining('network-bad.json'),
    });
    expect(fw.commits[1]).toEqual([{ owner: C, before: null, after: normA }]);
  });

  it('refuses to touch an owner another backend applied', async () => {
    new RecordStore(join(dir, 'records')).write({ version: 1, backend: 'iptables', owner: C, rules: normA });
    await expect(fw.apply(C, rulesB)).rejects.toThrow(/iptables backend/);
    await expect(fw.remove(C)).rejects.toThrow(/iptables backend/);
  });

  it('an empty rule set leaves no record', async () => {
    await fw.apply(C, rulesA);
    await fw.apply(C, {});
    expect(new RecordStore(join(dir, 'records')).read(C)).toBeNull();
  });

  it('applyMany: every owner in one commit, each record covering old and new while it runs', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    await fw.apply(C, rulesA);
    await fw.applyMany([
      { owner: C, rules: rulesB },
      { owner: N, rules: rulesA },
    ]);
    expect(fw.commits).toHaveLength(2);
    expect(fw.commits[1]).toEqual([
      { owner: C, before: normA, after: normB },
      { owner: N, before: null, after: normA },
    ]);
    expect(fw.duringCommit.slice(1)).toEqual([
      { version: 1, backend: 'nftables', boot: B, owner: C, rules: normB, previous: normA },
      { version: 1, backend: 'nftables', boot: B, owner: N, rules: normA },
    ]);
    const store = new RecordStore(join(dir, 'records'));
    expect(store.read(C)).toEqual({ version: 1, backend: 'nftables', boot: B, owner: C, rules: normB });
    expect(store.read(N)).toEqual({ version: 1, backend: 'nftables', boot: B, owner: N, rules: normA });
  });

  it('applyMany: a failed atomic commit leaves every record as it was', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    await fw.apply(C, rulesA);
    fw.failNext = true;
    await expect(
      fw.applyMany([
        { owner: C, rules: rulesB },
        { owner: N, rules: rulesA },
      ]),
    ).rejects.toThrow(/status 1/);
    const store = new RecordStore(join(dir, 'records'));
    expect(store.read(C)).toEqual({ version: 1, backend: 'nftables', boot: B, owner: C, rules: normA });
    expect(store.read(N)).toBeNull();
  });

  it('applyMany: a failed commit of a backend that commits in parts keeps old and new of every owner', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    fw.atomicCommit = false;
    await fw.apply(C, rulesA);
    fw.failNext = true;
    await expect(
      fw.applyMany([
        { owner: C, rules: rulesB },
        { owner: N, rules: rulesA },
      ]),
    ).rejects.toThrow(/status 1/);
    const store = new RecordStore(join(dir, 'records'));
    expect(store.read(C)).toEqual({
      version: 1,
      backend: 'nftables',
      boot: B,
      owner: C,
      rules: normB,
      previous: normA,
    });
    expect(store.read(N)).toEqual({ version: 1, backend: 'nftables', boot: B, owner: N, rules: normA });
  });

  it('applyMany: a bridge one owner drops and another takes up in the same change stays', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    const br = { name: 'br0', subnets: ['10.0.0.0/24'], isolate: false };
    await fw.apply(C, { bridges: [br] });
    await fw.applyMany([
      { owner: C, rules: {} },
      { owner: N, rules: { bridges: [br] } },
    ]);
    expect(fw.commits[1]?.[0]).toEqual({
      owner: C,
      before: { bridges: [br], masquerade: [], ports: [] },
      after: { bridges: [], masquerade: [], ports: [] },
      sharedBridges: [br],
    });
  });

  it('removeMany: the owners with a record in one commit, each record gone; none with a record, no commit', async () => {
    const D: Owner = { kind: 'container', id: 'c2' };
    const U: Owner = { kind: 'container', id: 'unknown' };
    await fw.removeMany([U]);
    expect(fw.commits).toEqual([]);
    await fw.apply(C, rulesA);
    await fw.apply(D, rulesB);
    await fw.removeMany([C, U, D, C]);
    expect(fw.commits[2]).toEqual([
      { owner: C, before: normA, after: null },
      { owner: D, before: normB, after: null },
    ]);
    expect(readdirSync(join(dir, 'records')).filter((n) => n.endsWith('.json'))).toEqual([]);
  });

  it('removeMany: a bridge that only the owners removed together hold goes with them', async () => {
    const D: Owner = { kind: 'container', id: 'c2' };
    const br = { name: 'br0', subnets: ['10.0.0.0/24'], isolate: true };
    await fw.apply(C, { bridges: [br] });
    await fw.apply(D, { bridges: [br] });
    await fw.removeMany([C, D]);
    expect(fw.commits[2]?.map((c) => c.sharedBridges)).toEqual([undefined, undefined]);
    expect(readdirSync(join(dir, 'records', '.locks', 'bridges'))).toEqual([]);
  });

  it('removeMany refuses an owner held by another backend before it removes anything', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    const store = new RecordStore(join(dir, 'records'));
    await fw.apply(C, rulesA);
    store.write({ version: 1, backend: 'iptables', owner: N, rules: normA });
    await expect(fw.removeMany([C, N])).rejects.toThrow(/iptables backend/);
    expect(fw.commits).toHaveLength(1);
    expect(store.read(C)).not.toBeNull();
  });

  describe('with removals batched (a daemon)', () => {
    afterEach(() => batchFirewallRemovals(null));

    it("removals of several callers at once share one commit; each record is its own caller's to delete", async () => {
      const owners = ['c1', 'c2', 'c3'].map((id): Owner => ({ kind: 'container', id }));
      for (const [i, o] of owners.entries())
        await fw.apply(o, { masquerade: [{ source: `10.0.0.${i + 2}`, subnet: '10.0.0.0/24' }] });
      batchFirewallRemovals(5);
      // Each caller with its own firewall object, as each plugin call opens one.
      const callers = owners.map(() => new FakeFirewall({ recordDir: join(dir, 'records') }));
      await Promise.all(owners.map((o, i) => callers[i]!.remove(o)));
      const commits = callers.flatMap((c) => c.commits);
      expect(commits).toHaveLength(1);
      expect(commits[0]!.map((c) => c.owner.id)).toEqual(['c1', 'c2', 'c3']);
      expect(readdirSync(join(dir, 'records')).filter((n) => n.endsWith('.json'))).toEqual([]);
    });

    it('owners of one bridge removed at once meet in one batch, and let the bridge go together', async () => {
      const br = { name: 'br0', subnets: ['10.0.0.0/24'], isolate: true };
      const owners = ['c1', 'c2', 'c3'].map((id): Owner => ({ kind: 'container', id }));
      for (const o of owners) await fw.apply(o, { bridges: [br] });
      batchFirewallRemovals(5);
      const callers = owners.map(() => new FakeFirewall({ recordDir: join(dir, 'records') }));
      await Promise.all(owners.map((o, i) => callers[i]!.remove(o)));
      const commits = callers.flatMap((c) => c.commits);
      expect(commits).toHaveLength(1);
      // None keeps br0 for another: its shared elements go, and its lock file with them.
      expect(commits[0]!.map((c) => c.sharedBridges)).toEqual([undefined, undefined, undefined]);
      expect(readdirSync(join(dir, 'records', '.locks', 'bridges'))).toEqual([]);
    });

    it('a caller whose removal fails in a batch fails alone, and keeps its record', async () => {
      const D: Owner = { kind: 'container', id: 'c2' };
      await fw.apply(C, rulesA);
      await fw.apply(D, rulesB);
      batchFirewallRemovals(5);
      const failing = new FakeFirewall({ recordDir: join(dir, 'records') });
      failing.refused.add(C.id);
      const other = new FakeFirewall({ recordDir: join(dir, 'records') });
      const outcomes = await Promise.allSettled([failing.remove(C), other.remove(D)]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled']);
      // The batch went to the failing caller's commit first, then each went alone.
      expect(other.commits).toEqual([[{ owner: D, before: normB, after: null }]]);
      expect(new RecordStore(join(dir, 'records')).read(C)).not.toBeNull();
      expect(new RecordStore(join(dir, 'records')).read(D)).toBeNull();
    });
  });

  it('applyMany refuses an owner given twice, or held by another backend, before it writes or commits anything', async () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    await expect(
      fw.applyMany([
        { owner: C, rules: rulesA },
        { owner: C, rules: rulesB },
      ]),
    ).rejects.toThrow(/container c1 is given twice/);
    const store = new RecordStore(join(dir, 'records'));
    store.write({ version: 1, backend: 'iptables', owner: N, rules: normA });
    await expect(
      fw.applyMany([
        { owner: C, rules: rulesA },
        { owner: N, rules: rulesB },
      ]),
    ).rejects.toThrow(/iptables backend/);
    expect(store.read(C)).toBeNull();
    expect(fw.commits).toEqual([]);
  });

  describe('records of a boot that is over hold nothing in the kernel', () => {
    const N: Owner = { kind: 'network', id: 'n1' };
    const earlier = (owner: Owner, rules: NormalizedRules, backend: 'nftables' | 'iptables' = 'nftables') =>
      new RecordStore(join(dir, 'records')).write({ version: 1, backend, boot: EARLIER, owner, rules });

    it('apply adds the rules as new, whatever backend that boot used, and the record is of this boot', async () => {
      earlier(C, normA, 'iptables');
      await fw.apply(C, rulesB);
      expect(fw.commits).toEqual([[{ owner: C, before: null, after: normB }]]);
      expect(new RecordStore(join(dir, 'records')).read(C)).toEqual({
        version: 1,
        backend: 'nftables',
        boot: B,
        owner: C,
        rules: normB,
      });
    });

    it('remove deletes the record and leaves the kernel alone', async () => {
      earlier(C, normA);
      await fw.remove(C);
      expect(fw.commits).toEqual([]);
      expect(new RecordStore(join(dir, 'records')).read(C)).toBeNull();
    });

    it('a bridge only a record of that boot holds is not kept for it', async () => {
      const br = { name: 'br0', subnets: ['10.0.0.0/24'], isolate: false };
      earlier(N, { bridges: [br], masquerade: [], ports: [] });
      await fw.apply(C, { bridges: [br] });
      await fw.remove(C);
      expect(fw.commits[1]).toEqual([{ owner: C, before: { bridges: [br], masquerade: [], ports: [] }, after: null }]);
    });

    it("reload brings a network's rules back, as new, and leaves a container's of that boot out", async () => {
      earlier(C, normA);
      earlier(N, normB);
      await fw.reload();
      expect(fw.commits).toEqual([[{ owner: N, before: null, after: normB }]]);
      const store = new RecordStore(join(dir, 'records'));
      expect(store.read(N)?.boot).toBe(B);
      expect(store.read(C)?.boot).toBe(EARLIER);
      expect(await fw.owners()).toEqual([N]);
    });
  });

  it('file names: safe ids as is, others hashed', () => {
    expect(recordFileName({ kind: 'container', id: 'abc.1' })).toBe('container-abc.1.json');
    expect(recordFileName({ kind: 'container', id: '../etc/passwd' })).toMatch(/^container=[0-9a-f]{64}\.json$/);
  });
});
