import { type CommandResult, commandFailed, runCommand, runCommandAsync } from './exec.js';
import { type OwnerChange, RecordedFirewall } from './firewall.js';
import type { NormalizedRules, Owner } from './model.js';
import {
  NFT_FAMILY,
  NFT_TABLE,
  type NftTableState,
  nftProblems,
  parseNftTableJson,
  renderNftChangesOnBase,
  renderNftTransaction,
} from './nftables-render.js';

function fixFor(r: CommandResult): string {
  const e = r.stderr;
  if (/File exists|Device or resource busy/.test(e)) {
    return 'an element berth adds is already in the kernel with another value (a host port or address another owner holds?); remove that owner, or pick another port';
  }
  if (/Operation not permitted/.test(e)) return 'run berth as root (it needs CAP_NET_ADMIN)';
  if (/Protocol not supported|Could not process rule: No such file or directory/.test(e)) {
    return 'the kernel lacks an nf_tables feature berth uses (nf_tables, nft_nat, nft_fib, nft_ct, set concatenations); use the iptables backend or a newer kernel';
  }
  if (/syntax error/.test(e)) return "this nft is too old for berth's ruleset: install nftables 1.0 or newer";
  return "retry; if it persists, check the host's ruleset with `nft list ruleset`";
}

/** The nftables backend: every change is one `nft -f -` transaction on table `inet berth`. */
export class NftablesFirewall extends RecordedFirewall {
  readonly backend = 'nftables' as const;
  protected readonly atomicCommit = true;

  private nft(args: readonly string[], input = ''): CommandResult {
    return runCommand(this.netns, 'nft', args, input);
  }

  /** The table as the kernel has it, or null when there is none. */
  private readState(): NftTableState | null {
    const r = this.nft(['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
    if (r.status !== 0) {
      if (/No such file or directory/.test(r.stderr)) return null;
      throw commandFailed('nft', ['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE], r, fixFor(r));
    }
    return parseNftTableJson(r.stdout);
  }

  /** One transaction, without holding up the event loop: a daemon serves other calls while the kernel commits. */
  private transaction(batch: string): Promise<CommandResult> {
    return runCommandAsync(this.netns, 'nft', ['-f', '-'], batch);
  }

  protected async commit(changes: readonly OwnerChange[], assertBase = false): Promise<void> {
    // Most changes find this berth's base in place: then the elements alone go (see renderNftChangesOnBase).
    if (changes.length > 0 && !assertBase && (await this.transaction(renderNftChangesOnBase(changes))).status === 0)
      return;
    const first = await this.transaction(renderNftTransaction(changes));
    if (first.status === 0) return;
    // A blind delete is refused when an element holds another value than recorded
    // (an interrupted change, a hand edit): read the table and delete what is there.
    if (!changes.some((c) => c.before)) throw commandFailed('nft', ['-f', '-'], first, fixFor(first));
    const second = await this.transaction(renderNftTransaction(changes, this.readState()));
    if (second.status !== 0) throw commandFailed('nft', ['-f', '-'], second, fixFor(second));
  }

  protected async inspect(_owner: Owner | null, rules: NormalizedRules | null): Promise<string[]> {
    return nftProblems(this.readState(), rules);
  }

  async status(): Promise<string | null> {
    try {
      const r = this.nft(['list', 'tables']);
      if (r.status !== 0) return `nft list tables failed: ${r.stderr.trim() || `status ${r.status}`}; ${fixFor(r)}`;
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }
}
