import { asBerthError } from '../../base/errors.js';
import type { Controller } from '../controller.js';
import type { Finding } from '../doctor/findings.js';
import type { NetworkRecord } from '../model.js';
import type { ClusterSnapshot } from './model.js';

/**
 * `berth doctor` for overlay networks: this host's side (the VXLAN device the agent
 * keeps) and, with an etcd, the cluster's side (the network is still there, this host
 * holds its block under a live lease). Pure analysis of gathered facts, as doctor's.
 */

export interface OverlayFacts {
  /** This host's overlay network records. */
  readonly records: readonly NetworkRecord[];
  /** The VXLAN links of the host netns: name to VNI and whether up. */
  readonly vxlans: ReadonlyMap<string, { readonly vni: number; readonly up: boolean }>;
  /** What etcd holds; an Error when it could not be read; absent without an etcd. */
  readonly cluster?: ClusterSnapshot | Error;
  readonly etcd?: string;
}

const START_AGENT =
  'start (or restart) `berth agent --node NAME --address IP` on this host: it keeps the device, the block and the routes';

export function analyzeOverlay(facts: OverlayFacts): Finding[] {
  const findings: Finding[] = [];
  const finding = (severity: Finding['severity'], message: string, fix?: string): void => {
    findings.push({ area: 'state', severity, message, ...(fix ? { fix } : {}) });
  };
  for (const rec of facts.records) {
    const share = rec.overlay;
    if (!share?.host) continue;
    const dev = facts.vxlans.get(share.vxlan);
    if (!dev) finding('fail', `overlay network ${rec.name}: its VXLAN device ${share.vxlan} is missing`, START_AGENT);
    else if (dev.vni !== share.vni)
      finding('fail', `overlay network ${rec.name}: ${share.vxlan} has VNI ${dev.vni}, not ${share.vni}`, START_AGENT);
    else if (!dev.up) finding('fail', `overlay network ${rec.name}: ${share.vxlan} is down`, START_AGENT);
    else finding('ok', `overlay network ${rec.name}: block ${share.host.block} on ${share.vxlan} (VNI ${share.vni})`);
  }
  const { cluster } = facts;
  if (cluster === undefined) {
    if (facts.records.length > 0) {
      finding(
        'warn',
        'overlay networks were not checked against the cluster: no etcd given',
        'give --etcd URL (or set BERTH_ETCD)',
      );
    }
    return findings;
  }
  if (cluster instanceof Error) {
    finding(
      'fail',
      `etcd at ${facts.etcd}: ${cluster.message}`,
      'check that etcd runs there and that --etcd names its client URL',
    );
    return findings;
  }
  finding(
    'ok',
    `etcd at ${facts.etcd}: ${cluster.networks.length} overlay network(s), ${cluster.blocks.length} block(s) held`,
  );
  const local = new Map(facts.records.map((r) => [r.name, r]));
  for (const rec of facts.records) {
    const host = rec.overlay?.host;
    if (!cluster.networks.some((n) => n.name === rec.name)) {
      finding(
        'warn',
        `overlay network ${rec.name} is gone from the cluster; it stays on this host while endpoints here use it`,
        `remove its endpoints here; the agent then removes it (or: berth network rm ${rec.name})`,
      );
    } else if (
      host &&
      !cluster.blocks.some((b) => b.network === rec.name && b.block === host.block && b.node === host.node)
    ) {
      finding(
        'fail',
        `overlay network ${rec.name}: this host's block ${host.block} is not held in etcd (no agent running, or its lease ran out): the other hosts do not route to it`,
        START_AGENT,
      );
    }
  }
  for (const net of cluster.networks) {
    if (!local.get(net.name)?.overlay?.host) {
      finding('warn', `overlay network ${net.name} (${net.subnet}) has no block on this host`, START_AGENT);
    }
  }
  return findings;
}

/** Gathers the facts of this host and, when the Controller has an etcd, of the cluster; then analyzes them. */
export async function checkOverlay(ctl: Controller): Promise<Finding[]> {
  const records = ctl.store.list<NetworkRecord>('networks').filter((n) => n.driver === 'overlay');
  const links = await ctl.withHost((h) => h.listLinks());
  const vxlans = new Map(links.flatMap((l) => (l.vxlan ? [[l.name, { vni: l.vxlan.vni, up: l.up }] as const] : [])));
  if (!ctl.etcdUrl) return analyzeOverlay({ records, vxlans });
  const cluster = await ctl
    .cluster()
    .then((c) => c.snapshot())
    .catch((e: unknown) => new Error(asBerthError(e).msg));
  return analyzeOverlay({ records, vxlans, cluster, etcd: ctl.etcdUrl });
}
