// What `berth gc` and the removal commands do about the findings: destroy, detach and delete what is stale.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TeardownErrors } from '../../base/errors.js';
import type { Controller } from '../controller.js';
import { FileStore } from '../ipam/file-store.js';
import { type EndpointRecord, endpointKey } from '../model.js';
import { detach } from '../pipeline/detach.js';
import type { Sandbox } from '../sandbox.js';
import { sandboxEndpoints } from '../topology.js';
import { reason, type StaleItem } from './findings.js';
import { analyzeState } from './state-analysis.js';
import { PORTS_PREFIX } from './state-facts.js';
import { checkState, gatherUnlocked } from './state-gather.js';

/**
 * Destroys a sandbox and deletes the records of the endpoints it left (a
 * sandbox's endpoints are of no use without it). Endpoints still joined,
 * because another sandbox shares the netns, stay.
 */
export async function destroySandbox(ctl: Controller, sb: Sandbox): Promise<void> {
  const held = sandboxEndpoints(sb.record, ctl.endpointRecords());
  const errors: unknown[] = [];
  try {
    await sb.destroy();
  } catch (e) {
    errors.push(...(e instanceof TeardownErrors ? e.errors : [e]));
  }
  for (const e of held) {
    const now = ctl.endpointRecords().find((r) => r.network === e.network && r.name === e.name);
    if (!now || now.join) continue;
    try {
      await deleteEndpoint(ctl, e);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new TeardownErrors(errors);
}

async function deleteEndpoint(ctl: Controller, e: Pick<EndpointRecord, 'network' | 'name'>): Promise<void> {
  if (ctl.networks().some((n) => n.name === e.network)) {
    await ctl.network(e.network).endpoint(e.name).delete();
  } else {
    await ctl.store.locked(() => ctl.store.remove('endpoints', endpointKey(e.network, e.name)));
  }
}

export interface GcResult {
  /** The finding's message. */
  readonly what: string;
  /** null: done; else why not. */
  readonly error: string | null;
  /** What was done: 'removed', or 'started' for a name service that was not running. */
  readonly done: 'removed' | 'started';
}

/**
 * Removes what doctor finds stale: sandboxes whose netns is gone (with their
 * endpoints), endpoints without a network, sandbox or veth, then, looking
 * again, IPAM reservations without endpoints, firewall rules without owners
 * and names without networks or endpoints; last, starts the name service when
 * names are wanted and none runs. Each removal re-checks under the state lock, so a change made
 * meanwhile is never undone.
 */
export async function collectGarbage(ctl: Controller): Promise<GcResult[]> {
  const results: GcResult[] = [];
  const attempt = async (what: string, fn: () => Promise<void>, done: GcResult['done'] = 'removed') => {
    try {
      await fn();
      results.push({ what, error: null, done });
    } catch (e) {
      results.push({ what, error: reason(e), done });
    }
  };

  for (const f of await checkState(ctl)) {
    const s = f.stale;
    if (s?.kind === 'sandbox') await attempt(f.message, () => destroySandbox(ctl, ctl.sandbox(s.name)));
  }
  for (const f of await checkState(ctl)) {
    const s = f.stale;
    if (s?.kind === 'endpoint') await attempt(f.message, () => deleteEndpoint(ctl, s));
    if (s?.kind === 'attachment') await attempt(f.message, () => detachRecorded(ctl, s));
  }
  // Leaving endpoints released their addresses: only what is still stale now is removed.
  for (const f of await checkState(ctl)) {
    const s = f.stale;
    if (s?.kind === 'ports') {
      // Its own look under the record's locks: forgetting a record also removes its firewall record.
      await attempt(f.message, async () => {
        await ctl.ports.removeIfStale(s.owner);
      });
    } else if (
      s?.kind === 'reservation' ||
      s?.kind === 'ipam-folder' ||
      s?.kind === 'firewall' ||
      s?.kind === 'names-network' ||
      s?.kind === 'names-record' ||
      s?.kind === 'ifb'
    ) {
      await attempt(f.message, () => removeIfStillStale(ctl, s));
    }
  }
  // Last: with stale names gone, a name service is started only for names still wanted.
  for (const f of await checkState(ctl)) {
    if (f.stale?.kind === 'names-service') {
      await attempt(
        f.message,
        async () => {
          await ctl.ensureNameService();
        },
        'started',
      );
    }
  }
  return results;
}

/**
 * Detaches a CNI attachment by its record alone, as its DEL would but without the runtime's
 * config: its ports, rules, veth and record go; its addresses stay for the runtime's CNI GC.
 */
async function detachRecorded(ctl: Controller, item: { network: string; name: string }): Promise<void> {
  const rec = ctl.store.read<EndpointRecord>('endpoints', endpointKey(item.network, item.name));
  if (!rec?.cni) return;
  await detach({
    identity: {
      owner: rec.cni.owner,
      name: `${rec.cni.containerId}/${rec.cni.ifName}`,
      hostLink: rec.join?.hostVeth ?? '',
    },
    hostNetnsPath: ctl.hostNetnsPath,
    network: { name: rec.network, driver: rec.cni.driver },
    ...(rec.join ? { netnsPath: rec.join.netnsPath, ifname: rec.join.ifname } : {}),
    loopback: false,
    firewall: ctl.firewallAccess,
    ports: { mapper: ctl.ports },
    record: { store: ctl.store, network: rec.network, name: rec.name, kind: 'attachment' },
    log: () => undefined,
  });
}

const sameItem = (a: StaleItem, b: StaleItem) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Looks again holding the state lock (and, for port rules, the lock of their publisher, which a publish
 * holds from its firewall change to its record write), and removes the item only when it is still stale.
 */
async function removeIfStillStale(ctl: Controller, item: StaleItem): Promise<void> {
  const publisher =
    item.kind === 'firewall' && item.owner.kind === 'container' && item.owner.id.startsWith(PORTS_PREFIX)
      ? item.owner.id.slice(PORTS_PREFIX.length)
      : undefined;
  await ctl.store.locked(() =>
    publisher === undefined ? removeNow(ctl, item) : ctl.ports.ownerLocked(publisher, () => removeNow(ctl, item)),
  );
}

async function removeNow(ctl: Controller, item: StaleItem): Promise<void> {
  const now = analyzeState(await gatherUnlocked(ctl));
  if (!now.some((f) => f.stale && sameItem(f.stale, item))) return;
  const ipamDir = ctl.ipamDataDir;
  if (item.kind === 'reservation') {
    await new FileStore(item.network, { dataDir: ipamDir }).transaction((tx) => tx.release(item.ip));
  } else if (item.kind === 'ipam-folder') {
    rmSync(join(ipamDir, item.network), { recursive: true, force: true });
  } else if (item.kind === 'firewall') {
    await (await ctl.firewallAccess.open(item.backend)).remove(item.owner);
  } else if (item.kind === 'names-network') {
    ctl.names.removeNetwork(item.network);
  } else if (item.kind === 'names-record') {
    ctl.names.remove(item.network, item.owner);
  } else if (item.kind === 'ifb') {
    await ctl.withHost((h) => h.deleteLink(item.name));
  }
}
