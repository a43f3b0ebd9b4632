import { validateDnsName } from '../../base/names.js';
import type { NetworkRecord } from '../model.js';
import type { NamesNetwork } from './model.js';

/**
 * A network's name service settings: it listens on the gateways and answers for the subnets (an
 * overlay network's whole subnet: the other hosts' blocks are its too).
 */
export function namesNetworkOf(rec: NetworkRecord): NamesNetwork {
  return {
    network: rec.name,
    listen: rec.subnets.map((s) => s.gateway),
    subnets: rec.overlay ? [rec.overlay.subnet] : rec.subnets.map((s) => s.subnet),
    ...(rec.dns?.domain ? { domain: rec.dns.domain } : {}),
  };
}

/** The names an attachment answers to: its sandbox's name first (the one PTR gives), then its aliases. */
export function attachmentNames(sandboxName: string, aliases: readonly string[] = []): string[] {
  return [
    ...new Set([validateDnsName(sandboxName, 'sandbox name'), ...aliases.map((a) => validateDnsName(a, 'alias'))]),
  ];
}
