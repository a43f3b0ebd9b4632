import { TeardownErrors } from '../../base/errors.js';
import { RecordStore } from '../../iptables/records.js';
import type { EndpointRecord } from '../model.js';
import { endpointKey } from '../model.js';
import type { PortMapper } from '../ports.js';
import type { StateStore } from '../state.js';
import type { FirewallAccess } from './request.js';
import { collectShaping } from './shaping.js';

/** What a runtime's GC asks: everything of the network that none of its attachments holds goes. */
export interface CollectRequest {
  readonly network: string;
  /** The owners (`<network>/<containerId>/<ifname>`) of the attachments the runtime still uses. */
  readonly valid: ReadonlySet<string>;
  readonly store: StateStore;
  readonly firewall: FirewallAccess;
  /** The address source's own collection (an IPAM plugin's GC). */
  readonly addresses?: { readonly name: string; collect(): Promise<void> };
  /** The names' own collection (those of attachments the runtime no longer has). */
  readonly names?: { collect(): Promise<void> };
  readonly ports?: { readonly mapper: PortMapper };
  /** The netns that plays the host, where the attachments' IFB links are ('' = this process's). */
  readonly hostNetnsPath: string;
  readonly log: (message: string) => void;
}

/**
 * Releases what no valid attachment of the network holds: names, published ports, addresses
 * (through the source), the attachments' own firewall rules, their IFB links (and any IFB of
 * berth's whose host end is gone) and their records. Every part runs; errors leave together.
 */
export async function collect(req: CollectRequest): Promise<void> {
  const prefix = `${req.network}/`;
  const stale = (owner: string) => owner.startsWith(prefix) && !req.valid.has(owner);
  const errors: unknown[] = [];
  const attempt = async (fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  const { ports, addresses, names } = req;
  if (names) await attempt(() => names.collect());
  if (ports) {
    for (const rec of ports.mapper.list().filter((r) => stale(r.owner))) {
      await attempt(async () => {
        await ports.mapper.unpublish(rec.owner);
        req.log(`gc: unpublished the ports of ${rec.label}`);
      });
    }
  }
  if (addresses) await attempt(() => addresses.collect());
  const { records } = new RecordStore(req.firewall.recordDir).list();
  for (const rec of records.filter((r) => r.owner.kind === 'container' && stale(r.owner.id))) {
    await attempt(async () => {
      await (await req.firewall.open(rec.backend)).remove(rec.owner);
      req.log(`gc: removed the firewall rules of ${rec.owner.id}`);
    });
  }
  await attempt(async () => {
    errors.push(...(await collectShaping(req.hostNetnsPath, stale, req.log)));
  });
  const attachments = req.store.list<EndpointRecord>('endpoints');
  for (const e of attachments.filter((a) => a.network === req.network && a.cni && stale(a.cni.owner))) {
    await attempt(() => req.store.remove('endpoints', endpointKey(e.network, e.name)));
  }
  if (errors.length > 0) throw new TeardownErrors(errors);
}
