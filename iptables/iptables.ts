import { join } from 'node:path';
import type { Family } from '../base/address.js';
import { withFileLock } from '../base/files.js';
import { type CommandResult, commandFailed, runCommand } from './exec.js';
import { type OwnerChange, RecordedFirewall } from './firewall.js';
import { type IptablesState, iptablesProblems, parseIptablesSave, renderIptablesBatch } from './iptables-render.js';
import { familiesOf, type NormalizedRules, type Owner } from './model.js';

const tools = (f: Family) =>
  f === 4
    ? { save: 'iptables-save', restore: 'iptables-restore' }
    : { save: 'ip6tables-save', restore: 'ip6tables-restore' };

function fixFor(r: CommandResult): string {
  const e = r.stderr;
  if (/Permission denied|Operation not permitted/.test(e)) return 'run berth as root (it needs CAP_NET_ADMIN)';
  if (/No chain\/target\/match by that name|Couldn't load/.test(e)) {
    return 'the kernel or iptables lacks a match or target berth uses (conntrack, addrtype, comment, MASQUERADE, DNAT); use the nftables backend or install the missing modules';
  }
  if (/Resource temporarily unavailable|xtables lock/.test(e))
    return 'another program holds the xtables lock; try again';
  return 'retry; if it persists, compare the batch with `iptables-save`';
}

/**
 * The iptables backend: per change and family, one `iptables-save` to learn
 * what is there and one `iptables-restore --noflush` batch, under berth's
 * iptables lock so no other berth process changes the chains in between.
 */
export class IptablesFirewall extends RecordedFirewall {
  readonly backend = 'iptables' as const;
  // One iptables-restore per family: IPv4 may commit while IPv6 fails.
  protected readonly atomicCommit = false;

  private readState(family: Family): IptablesState {
    const { save } = tools(family);
    const r = runCommand(this.netns, save, []);
    if (r.status !== 0) throw commandFailed(save, [], r, fixFor(r));
    return parseIptablesSave(r.stdout);
  }

  // iptables-save, then a batch computed from what it printed: a read before the write, so berth's
  // commits take turns here (the kernel's xtables lock covers only the write).
  protected commit(changes: readonly OwnerChange[]): Promise<void> {
    return withFileLock(join(this.store.dir, '.locks', 'iptables.lock'), () => this.commitNow(changes), {
      label: "berth's iptables lock",
    });
  }

  private async commitNow(changes: readonly OwnerChange[]): Promise<void> {
    // Families come from what changes; with nothing to change (ensureBase), both.
    const families = new Set<Family>();
    for (const c of changes) {
      for (const rules of [c.before, c.after]) if (rules) for (const f of familiesOf(rules)) families.add(f);
    }
    if (changes.length === 0) {
      families.add(4);
      families.add(6);
    }
    for (const family of [4, 6] as const) {
      if (!families.has(family)) continue;
      const batch = renderIptablesBatch(
        family,
        this.readState(family),
        changes.map((c) => ({ owner: c.owner, after: c.after })),
      );
      const { restore } = tools(family);
      const args = ['--noflush', '--wait=10'];
      const r = runCommand(this.netns, restore, args, batch);
      if (r.status !== 0) throw commandFailed(restore, args, r, fixFor(r), batch);
    }
  }

  protected async inspect(owner: Owner | null, rules: NormalizedRules | null): Promise<string[]> {
    const families = rules ? familiesOf(rules) : new Set<Family>([4, 6]);
    if (families.size === 0) families.add(4);
    const problems: string[] = [];
    for (const family of [4, 6] as const) {
      if (families.has(family)) problems.push(...iptablesProblems(family, this.readState(family), owner, rules));
    }
    return problems;
  }

  async status(): Promise<string | null> {
    try {
      for (const family of [4, 6] as const) {
        const { save, restore } = tools(family);
        const r = runCommand(this.netns, save, []);
        if (r.status !== 0) return `${save} failed: ${r.stderr.trim() || `status ${r.status}`}; ${fixFor(r)}`;
        const v = runCommand(this.netns, restore, ['--version']);
        if (v.status !== 0) return `${restore} --version failed: ${v.stderr.trim() || `status ${v.status}`}`;
      }
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }
}
