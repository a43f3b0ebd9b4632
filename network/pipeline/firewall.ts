import { subnetOf } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { Owner, Rules } from '../../iptables/index.js';
import { RecordStore } from '../../iptables/records.js';
import type { PortMapper } from '../ports.js';
import type { AssignedAddress } from './addressing.js';
import type { FirewallAccess } from './request.js';

/** The firewall owner of an attachment's own rules. */
export const attachmentOwner = (owner: string): Owner => ({ kind: 'container', id: owner });

/** The rules of one attachment: masquerade of its addresses (as the reference bridge) and, when asked, its bridge's isolation. */
export function attachmentRules(
  policy: { readonly masquerade: boolean; readonly isolate: boolean },
  hostInterface: string | undefined,
  ips: readonly AssignedAddress[],
): Rules {
  const addresses = ips.map((ip) => ip.address);
  return {
    masquerade: policy.masquerade ? addresses.map((a) => ({ source: a.split('/')[0]!, subnet: subnetOf(a) })) : [],
    bridges:
      policy.isolate && hostInterface
        ? [{ name: hostInterface, subnets: [...new Set(addresses.map(subnetOf))], isolate: true }]
        : [],
  };
}

export const hasRules = (rules: Rules) => !!(rules.masquerade?.length || rules.bridges?.length);

/**
 * The attachment's own rules when they are on the firewall of its ports: they go in the ports' batch,
 * so a DEL of the all-in-one plugin is one nft transaction, as its ADD. Otherwise (no record, another
 * backend, no firewall to open) they are left to removeByRecord after.
 */
export async function removedWithPorts(
  access: FirewallAccess | undefined,
  owner: Owner,
  mapper: PortMapper,
): Promise<Owner[]> {
  const rec = access ? new RecordStore(access.recordDir).read(owner) : null;
  if (!rec) return [];
  const fw = await mapper.firewall().catch(() => undefined);
  return fw?.backend === rec.backend ? [owner] : [];
}

/** Removes the owner's rules by their record: without the netns, on its own backend, and with no process when there is none. */
export async function removeByRecord(access: FirewallAccess, owner: Owner): Promise<void> {
  const rec = new RecordStore(access.recordDir).read(owner);
  if (rec) await (await access.open(rec.backend)).remove(owner);
}

/** The firewall a request with rules or ports must carry; its absence is the caller's bug, said as such. */
export function requireFirewall(access: FirewallAccess | undefined, what: string): FirewallAccess {
  if (access) return access;
  throw new BerthError(
    ErrorCode.Internal,
    `${what} has rules or ports but no firewall to reach them in`,
    'this is a bug in the caller of the attachment pipeline',
  );
}
