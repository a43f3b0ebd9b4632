import { parseLayout, pickBlock } from './blocks.js';
import type { BlockHolder, ClusterSnapshot, HeldBlock } from './model.js';

/**
 * What a host must do in the store so that it holds one block of every overlay
 * network under its current lease. Pure: the agent turns each step into one
 * compare-and-swap transaction, and plans again from a fresh snapshot when one
 * loses a race.
 */
export type ClaimStep =
  /** The block is this host's, under its lease, with its current address and MAC: nothing to do. */
  | { readonly kind: 'held'; readonly network: string; readonly block: string }
  /** The block is this host's from before (an earlier lease, another address): put it again under this lease, if unchanged since read. */
  | { readonly kind: 'renew'; readonly network: string; readonly block: string; readonly modRevision: string }
  /** A free block to take, if still free. */
  | { readonly kind: 'claim'; readonly network: string; readonly block: string }
  /** A second block of this host's on one network (a race of its own): give it back, if unchanged since read. */
  | { readonly kind: 'release'; readonly network: string; readonly block: string; readonly modRevision: string }
  /** Every block is held by another host. */
  | { readonly kind: 'full'; readonly network: string };

export function planClaims(
  snapshot: ClusterSnapshot,
  /** This host as a network's block records it (the VTEP MAC differs by network). */
  holderOf: (network: string) => BlockHolder,
  lease: string,
  /** The block this host had on a network before, to take again when it is free. */
  preferred: (network: string) => string | undefined,
): ClaimStep[] {
  const steps: ClaimStep[] = [];
  for (const net of snapshot.networks) {
    const holder = holderOf(net.name);
    const blocks = snapshot.blocks.filter((b) => b.network === net.name);
    const mine = blocks
      .filter((b) => b.node === holder.node)
      .sort((a, b) => rank(a, preferred(net.name), lease) - rank(b, preferred(net.name), lease));
    const [keep, ...extra] = mine;
    if (keep) {
      const same = keep.lease === lease && keep.address === holder.address && keep.vtepMac === holder.vtepMac;
      steps.push(
        same
          ? { kind: 'held', network: net.name, block: keep.block }
          : { kind: 'renew', network: net.name, block: keep.block, modRevision: keep.modRevision },
      );
    } else {
      const taken = new Set(blocks.map((b) => b.block));
      const block = pickBlock(parseLayout(net.subnet, net.blockPrefix), taken, preferred(net.name));
      steps.push(block ? { kind: 'claim', network: net.name, block } : { kind: 'full', network: net.name });
    }
    for (const b of extra)
      steps.push({ kind: 'release', network: net.name, block: b.block, modRevision: b.modRevision });
  }
  return steps;
}

/** Which of a host's own blocks it keeps: the preferred one, then one under its lease, then the lowest. */
function rank(b: HeldBlock, preferred: string | undefined, lease: string): number {
  return b.block === preferred ? 0 : b.lease === lease ? 1 : 2;
}
