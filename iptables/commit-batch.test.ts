import { afterEach, describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../base/errors.js';
import { batchFirewallRemovals, CommitBatcher, removalBatcher } from './commit-batch.js';

/** A kernel that records each batch it is given, and refuses any batch holding a 'bad' item. */
function kernel(opts: { slowMs?: number } = {}) {
  const batches: string[][] = [];
  const commit = async (items: readonly string[]) => {
    if (opts.slowMs) await new Promise((r) => setTimeout(r, opts.slowMs));
    if (items.includes('bad')) throw new BerthError(ErrorCode.IOFailure, `refused ${items.join(',')}`);
    batches.push([...items]);
  };
  return { batches, commit };
}

const settled = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (e: Error) => e.message,
  );

describe('CommitBatcher', () => {
  afterEach(() => batchFirewallRemovals(null));

  it('a lone submission is committed once, with its own items', async () => {
    const k = kernel();
    await new CommitBatcher<string>(2).submit(['a1', 'a2'], k.commit);
    expect(k.batches).toEqual([['a1', 'a2']]);
  });

  it('submissions within the window go in one commit, and each caller hears back', async () => {
    const k = kernel();
    const b = new CommitBatcher<string>(5);
    const outcomes = await Promise.all([
      b.submit(['a'], k.commit),
      b.submit(['b'], k.commit),
      b.submit(['c'], k.commit),
    ]);
    expect(outcomes).toEqual([undefined, undefined, undefined]);
    expect(k.batches).toEqual([['a', 'b', 'c']]);
  });

  it('what comes while a batch is in the kernel goes in the next one, after it', async () => {
    const k = kernel({ slowMs: 30 });
    const b = new CommitBatcher<string>(0);
    const first = b.submit(['a'], k.commit);
    await new Promise((r) => setTimeout(r, 10)); // the first is in the kernel now
    expect(b.idle).toBe(false);
    await Promise.all([first, b.submit(['b'], k.commit), b.submit(['c'], k.commit)]);
    expect(k.batches).toEqual([['a'], ['b', 'c']]);
    expect(b.idle).toBe(true);
  });

  it('a batch that fails is committed caller by caller: only the bad one fails', async () => {
    const k = kernel();
    const b = new CommitBatcher<string>(5);
    const outcomes = await Promise.all([
      settled(b.submit(['a'], k.commit)),
      settled(b.submit(['bad'], k.commit)),
      settled(b.submit(['c'], k.commit)),
    ]);
    expect(outcomes).toEqual(['ok', 'refused bad', 'ok']);
    expect(k.batches).toEqual([['a'], ['c']]);
  });

  it('off by default: a short-lived process commits at once; on, one batcher per packet filter while it is busy', async () => {
    expect(removalBatcher('nftables  /var/lib/berth/firewall')).toBeNull();
    batchFirewallRemovals(0);
    const one = removalBatcher<string>('k1');
    expect(one).not.toBeNull();
    expect(removalBatcher('k1')).toBe(one);
    expect(removalBatcher('k2')).not.toBe(one);
    const k = kernel();
    await one!.submit(['a'], k.commit);
    await new Promise((r) => setImmediate(r));
    // Idle: let go of, a later removal gets a new one.
    expect(removalBatcher('k1')).not.toBe(one);
  });
});
