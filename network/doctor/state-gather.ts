import { ofThisBoot } from '../../base/boot.js';
import { subfolders } from '../../base/files.js';
import { RecordStore } from '../../iptables/records.js';
import { NetlinkHandle } from '../../netlink/handle.js';
import { netnsExists } from '../../netlink/netns.js';
import type { Controller } from '../controller.js';
import { FileStore } from '../ipam/file-store.js';
import type { Reservation } from '../ipam/store.js';
import { readServiceStatus, runningService, serviceFiles } from '../names/instance.js';
import type { PortRecord, Staleness } from '../ports.js';
import { shapingIfbs } from '../shaping/ifb.js';
import type { Finding } from './findings.js';
import { analyzeState } from './state-analysis.js';
import { makesInterface, type NamesFacts, type StateFacts } from './state-facts.js';

/** Reads the records and the kernel's view of them, holding the state lock so no change is seen half made. */
export function gatherState(ctl: Controller): Promise<StateFacts> {
  return ctl.store.locked(() => gatherUnlocked(ctl));
}

/** As gatherState, for a caller that holds the state lock already. */
export async function gatherUnlocked(ctl: Controller): Promise<StateFacts> {
  const networks = ctl.networks().map((n) => n.record);
  const sandboxes = ctl.sandboxes().map((s) => s.record);
  const endpoints = ctl.endpointRecords();
  const ipamDir = ctl.ipamDataDir;
  const reservations = new Map<string, readonly Reservation[]>();
  for (const folder of subfolders(ipamDir)) {
    reservations.set(folder, await new FileStore(folder, { dataDir: ipamDir }).transaction((tx) => tx.list()));
  }
  const { records, errors } = new RecordStore(ctl.firewallRecordDir).list();
  const portRecords = ctl.store
    .list<Partial<PortRecord>>('ports')
    .filter((p): p is PortRecord => typeof p.owner === 'string' && Array.isArray(p.mappings));
  const portOwners = portRecords.map((p) => p.owner);
  const stalePorts: { owner: string; label: string; staleness: Staleness; netnsPath?: string }[] = [];
  for (const p of portRecords) {
    const staleness = await ctl.ports.staleness(p);
    if (staleness) {
      stalePorts.push({
        owner: p.owner,
        label: p.label ?? p.owner,
        staleness,
        ...(p.netnsPath ? { netnsPath: p.netnsPath } : {}),
      });
    }
  }

  const paths = new Set([
    ...sandboxes.filter((s) => s.ownsNetns).map((s) => s.netnsPath),
    ...endpoints.flatMap((e) => (e.join?.netnsPath ? [e.join.netnsPath] : [])),
  ]);
  const netnsAlive = new Map([...paths].map((p) => [p, netnsExists(p)]));
  const links = await ctl.withHost((h) => h.listLinks());
  const hostLinks = links.map((l) => l.name);
  const interfaceNets = new Set(networks.filter(makesInterface).map((n) => n.name));
  const netnsLinks = new Map<string, string[]>();
  for (const e of endpoints) {
    const path = e.join?.netnsPath;
    if (!path || !(interfaceNets.has(e.network) || e.cni) || netnsLinks.has(path) || !netnsAlive.get(path)) continue;
    const h = NetlinkHandle.open(path);
    try {
      netnsLinks.set(
        path,
        (await h.listLinks()).map((l) => l.name),
      );
    } finally {
      h.close();
    }
  }
  return {
    networks,
    sandboxes,
    endpoints,
    names: gatherNames(ctl),
    reservations,
    firewall: records.map((r) => ({
      owner: r.owner,
      backend: r.backend,
      ...(ofThisBoot(r) ? {} : { earlierBoot: true }),
    })),
    firewallErrors: errors.map((e) => e.message),
    portOwners,
    stalePorts,
    netnsAlive,
    hostLinks,
    ifbs: shapingIfbs(links),
    netnsLinks,
  };
}

function gatherNames(ctl: Controller): NamesFacts {
  const files = serviceFiles(ctl.stateDir);
  const pid = runningService(files);
  const status = pid === undefined ? undefined : readServiceStatus(files);
  return {
    networks: ctl.names.networks().map((network) => ({
      network,
      settings: ctl.names.network(network),
      records: ctl.names.records(network),
    })),
    ...(pid === undefined ? {} : { service: { pid, listening: status?.pid === pid ? status.listening : {} } }),
    log: files.log,
  };
}

/** The state's findings: gathered, then analyzed. */
export async function checkState(ctl: Controller): Promise<Finding[]> {
  return analyzeState(await gatherState(ctl));
}
