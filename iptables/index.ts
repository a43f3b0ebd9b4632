import { BerthError, ErrorCode } from '../base/errors.js';
import { findExecutable } from '../base/exec.js';
import type { Backend, Firewall, FirewallOptions } from './firewall.js';
import { IptablesFirewall } from './iptables.js';
import { NftablesFirewall } from './nftables.js';

export { batchFirewallRemovals } from './commit-batch.js';
export type { Backend, Firewall, FirewallOptions, OwnerRules } from './firewall.js';
export { IptablesFirewall } from './iptables.js';
export type {
  BridgeRule,
  MasqueradeRule,
  Owner,
  OwnerKind,
  PortMapping,
  Protocol,
  Rules,
} from './model.js';
export { ownerTag } from './model.js';
export { NftablesFirewall } from './nftables.js';

export interface OpenFirewallOptions extends FirewallOptions {
  /** Forces a backend; without it nftables is used when `nft` works here, else iptables. */
  readonly backend?: Backend;
}

/** The firewall of a netns: the backend asked for, or the one that works here. */
export async function openFirewall(options: OpenFirewallOptions): Promise<Firewall> {
  if (options.backend === 'nftables') return new NftablesFirewall(options);
  if (options.backend === 'iptables') return new IptablesFirewall(options);
  if (options.backend !== undefined) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `firewall backend ${JSON.stringify(options.backend)} is unknown`,
      "use 'nftables' or 'iptables', or leave it out to detect",
    );
  }
  // Chosen by what is installed, without running anything: this is on every plugin ADD.
  // `status()` (the plugins' STATUS, `berth doctor`) is where the backend is really tried.
  if (findExecutable('nft')) return new NftablesFirewall(options);
  if (findExecutable('iptables-restore') && findExecutable('iptables-save')) return new IptablesFirewall(options);
  throw new BerthError(
    ErrorCode.IOFailure,
    'no firewall backend: neither nft nor iptables-restore is installed',
    'install nftables (`apt-get install nftables`) or iptables',
  );
}
