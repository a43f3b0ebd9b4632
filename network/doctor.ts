import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding, isSystemError } from '../base/binding.js';
import { ofThisBoot } from '../base/boot.js';
import { BerthError, TeardownErrors } from '../base/errors.js';
import { type Backend, type Owner, openFirewall } from '../iptables/index.js';
import { RecordStore } from '../iptables/records.js';
import { NetlinkHandle } from '../netlink/handle.js';
import { NETNS_DIR, netnsExists } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import type { Controller } from './controller.js';
import { driverOf } from './drivers/index.js';
import { networkRules } from './firewall.js';
import { FileStore } from './ipam/file-store.js';
import { type Reservation, stale } from './ipam/store.js';
import {
  type CniAttachmentNames,
  type EndpointRecord,
  endpointKey,
  type NetworkRecord,
  type SandboxRecord,
} from './model.js';
import { readServiceStatus, runningService, serviceFiles } from './names/instance.js';
import type { NameRecord, NamesNetwork } from './names/model.js';
import { detach } from './pipeline/detach.js';
import type { PortRecord, Staleness } from './ports.js';
import type { Sandbox } from './sandbox.js';
import { sandboxEndpoints } from './topology.js';

/**
 * `berth doctor` and `berth gc`: whether this kernel has what berth needs,
 * tried in a throwaway netns, and whether berth's records still match the
 * kernel. The analysis of the state is a pure function of gathered facts;
 * gathering and fixing are the only parts that touch anything.
 */

export type Severity = 'ok' | 'warn' | 'fail';

/** Something doctor found stale, in a form gc can remove. */
export type StaleItem =
  | { readonly kind: 'sandbox'; readonly name: string }
  | { readonly kind: 'endpoint'; readonly network: string; readonly name: string }
  /** An attachment made through berth's CNI plugins whose container is gone. */
  | { readonly kind: 'attachment'; readonly network: string; readonly name: string }
  | { readonly kind: 'reservation'; readonly network: string; readonly ip: string }
  | { readonly kind: 'ipam-folder'; readonly network: string }
  | { readonly kind: 'firewall'; readonly owner: Owner; readonly backend: Backend }
  | { readonly kind: 'ports'; readonly owner: string }
  | { readonly kind: 'names-network'; readonly network: string }
  | { readonly kind: 'names-record'; readonly network: string; readonly owner: string }
  | { readonly kind: 'names-service' };

export interface Finding {
  readonly area: 'kernel' | 'state';
  readonly severity: Severity;
  /** What was checked or found, naming the value. */
  readonly message: string;
  /** How to fix it; absent when nothing is wrong. */
  readonly fix?: string;
  /** Set when `berth gc` removes it. */
  readonly stale?: StaleItem;
}

/** healthy: no finding is a failure (warnings are fine). */
export const isHealthy = (findings: readonly Finding[]) => findings.every((f) => f.severity !== 'fail');

const ok = (area: Finding['area'], message: string): Finding => ({ area, severity: 'ok', message });
const fail = (area: Finding['area'], message: string, fix: string, staleItem?: StaleItem): Finding => ({
  area,
  severity: 'fail',
  message,
  fix,
  ...(staleItem ? { stale: staleItem } : {}),
});
/** A network whose driver gives each sandbox an interface of its own (a veth, a macvlan): doctor looks for it. */
const makesInterface = (n: NetworkRecord) => driverOf(n.driver).makesInterface;
const reason = (e: unknown) => (e instanceof BerthError ? e.message : e instanceof Error ? e.message : String(e));

// --- the kernel

export interface KernelCheckOptions {
  /** The netns that plays the host ('' = the current one): only its ip_forward is read. */
  readonly hostNetnsPath: string;
  /** Where the throwaway netns is made. Default /run/netns. */
  readonly netnsDir?: string;
  /** The bridge networks berth has: with any, ip_forward off is a failure, else a warning. */
  readonly bridgeNetworks: readonly string[];
}

const NETLINK_NETFILTER = 12;
const CT_GET = (1 << 8) | 1; // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
const AF_INET = 2;

/**
 * Tries, in a netns of its own that is removed afterwards, each kernel feature
 * berth uses: creating a netns, a veth pair, a bridge with a port, berth's
 * firewall table with NAT and masquerade, a conntrack dump; then reads
 * ip_forward in the host netns. One finding per feature.
 */
export async function checkKernel(options: KernelCheckOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const name = `berth-doctor-${process.pid}-${randomBytes(3).toString('hex')}`;
  let netns: string;
  try {
    netns = binding().createNetns(options.netnsDir ?? NETNS_DIR, name);
    findings.push(ok('kernel', 'network namespaces: created one'));
  } catch (e) {
    findings.push(
      fail(
        'kernel',
        `cannot create a network namespace: ${reason(e)}`,
        'berth needs root and a kernel with CONFIG_NET_NS; in a container, run it privileged',
      ),
    );
    return [...findings, await checkForwarding(options)];
  }
  const recordDir = mkdtempSync(join(tmpdir(), 'berth-doctor-'));
  try {
    const h = NetlinkHandle.open(netns);
    try {
      findings.push(await checkLinks(h));
    } finally {
      h.close();
    }
    findings.push(await checkFirewall(netns, recordDir));
    findings.push(checkConntrack(netns));
  } finally {
    try {
      binding().deleteNetns(netns);
    } catch (e) {
      findings.push(
        fail('kernel', `could not remove the throwaway netns ${netns}: ${reason(e)}`, `ip netns del ${name}`),
      );
    }
    rmSync(recordDir, { recursive: true, force: true });
  }
  findings.push(await checkForwarding(options));
  return findings;
}

async function checkLinks(h: NetlinkHandle): Promise<Finding> {
  try {
    await h.createVeth('bdoc0', 'bdoc1');
  } catch (e) {
    return fail('kernel', `cannot create a veth pair: ${reason(e)}`, 'berth needs a kernel with CONFIG_VETH');
  }
  try {
    await h.createBridge('bdocbr');
    await h.setMaster('bdoc0', 'bdocbr');
    await h.setLinkUp('bdocbr');
    await h.setLinkUp('bdoc0');
  } catch (e) {
    return fail('kernel', `cannot make a bridge with a port: ${reason(e)}`, 'berth needs a kernel with CONFIG_BRIDGE');
  }
  return ok('kernel', 'veth and bridge: created a veth pair and put one end on a bridge');
}

async function checkFirewall(netns: string, recordDir: string): Promise<Finding> {
  try {
    const fw = await openFirewall({ hostNetnsPath: netns, recordDir });
    const rules = networkRules({
      name: 'doctor',
      id: 'doctor',
      driver: 'bridge',
      bridgeName: 'bdocbr',
      subnets: [{ subnet: '10.255.255.0/30', gateway: '10.255.255.1', prefixLength: 30 }],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: false,
      promiscuous: false,
      createdAt: '',
    });
    await fw.apply({ kind: 'network', id: 'doctor' }, rules);
    const problems = await fw.check({ kind: 'network', id: 'doctor' }, rules);
    if (problems.length > 0) {
      return fail(
        'kernel',
        `${fw.backend}: the rules were applied but read back different: ${problems.join('; ')}`,
        'check the nftables/iptables version (berth needs nft >= 1.0 or iptables-nft/legacy)',
      );
    }
    return ok('kernel', `${fw.backend}: applied berth's forward, isolation and masquerade rules`);
  } catch (e) {
    return fail(
      'kernel',
      `no working packet filter: ${reason(e)}`,
      'install nftables (apt-get install nftables) or iptables, and use a kernel with nf_tables or x_tables NAT',
    );
  }
}

function checkConntrack(netns: string): Finding {
  try {
    const s = NetlinkSocket.open(netns, { timeoutMs: 2000 }, NETLINK_NETFILTER);
    try {
      s.dump(
        CT_GET,
        (w) => w.raw(Buffer.from([AF_INET, 0, 0, 0])),
        () => undefined,
        'dump conntrack',
      );
    } finally {
      s.close();
    }
    return ok('kernel', 'conntrack: listed the connection table over ctnetlink');
  } catch (e) {
    return fail(
      'kernel',
      `cannot read the conntrack table over netlink: ${reason(e)}`,
      'berth flushes UDP flows of published ports over ctnetlink: use a kernel with CONFIG_NF_CT_NETLINK',
    );
  }
}

async function checkForwarding(options: KernelCheckOptions): Promise<Finding> {
  let value: string;
  try {
    const h = NetlinkHandle.open(options.hostNetnsPath);
    try {
      value = await h.getSysctl('net/ipv4/ip_forward');
    } finally {
      h.close();
    }
  } catch (e) {
    return fail('kernel', `cannot read ip_forward in the host netns: ${reason(e)}`, 'run berth doctor as root');
  }
  if (value === '1') return ok('kernel', 'ip_forward is on in the host netns');
  const fix = 'turn it on: sysctl -w net.ipv4.ip_forward=1 (berth sets it when it creates a bridge network)';
  if (options.bridgeNetworks.length > 0) {
    return fail(
      'kernel',
      `ip_forward is ${value} in the host netns: bridge networks ${options.bridgeNetworks.join(', ')} cannot route`,
      fix,
    );
  }
  return { area: 'kernel', severity: 'warn', message: `ip_forward is ${value} in the host netns`, fix };
}

// --- the state

/** What doctor reads from the records and the kernel; the analysis needs nothing else. */
export interface StateFacts {
  readonly networks: readonly NetworkRecord[];
  readonly sandboxes: readonly SandboxRecord[];
  readonly endpoints: readonly EndpointRecord[];
  /** The reservation folders under <stateDir>/ipam, by folder (network) name. */
  readonly reservations: ReadonlyMap<string, readonly Reservation[]>;
  /** The firewall records; `earlierBoot` when written in a boot that is over (nothing of them is in the kernel). */
  readonly firewall: readonly { readonly owner: Owner; readonly backend: Backend; readonly earlierBoot?: boolean }[];
  /** Firewall records that could not be read. */
  readonly firewallErrors: readonly string[];
  /** The owners of published ports (port records), for the port rules' firewall owners `ports:<owner>`. */
  readonly portOwners: readonly string[];
  /** The port records that stand for nothing in the kernel any more, and why (PortMapper.staleness). */
  readonly stalePorts: readonly {
    readonly owner: string;
    readonly label: string;
    readonly staleness: Staleness;
    readonly netnsPath?: string;
  }[];
  /** Whether each netns path the records name is a live netns. */
  readonly netnsAlive: ReadonlyMap<string, boolean>;
  /** The link names of the host netns. */
  readonly hostLinks: readonly string[];
  /** The link names inside each live netns that bridge endpoints are joined into. */
  readonly netnsLinks: ReadonlyMap<string, readonly string[]>;
  /** The name service's records and process; absent, nothing of names is judged. */
  readonly names?: NamesFacts;
}

export interface NamesFacts {
  /** Each folder of the name service's records: the network's settings (null when damaged) and records. */
  readonly networks: readonly {
    readonly network: string;
    readonly settings: NamesNetwork | null;
    readonly records: readonly NameRecord[];
  }[];
  /** The running service and what it listens on (address: network); undefined when none runs. */
  readonly service?: { readonly pid: number; readonly listening: Readonly<Record<string, string>> };
  readonly log: string;
}

const PORTS_PREFIX = 'ports:';

/** Compares the records with each other and with the kernel; one finding per problem, in a stable order. */
export function analyzeState(facts: StateFacts): Finding[] {
  const findings: Finding[] = [];
  const networks = new Map(facts.networks.map((n) => [n.name, n]));
  const sandboxNames = new Set(facts.sandboxes.map((s) => s.name));
  const alive = (path: string) => facts.netnsAlive.get(path) ?? false;

  for (const n of facts.networks) {
    if (n.driver === 'bridge' && !facts.hostLinks.includes(n.bridgeName)) {
      findings.push(
        fail(
          'state',
          `network ${n.name}: its bridge ${n.bridgeName} is missing from the host netns`,
          `the next berth connect to ${n.name} creates it again; or remove the network and create it again`,
        ),
      );
    }
    const parent = n.macvlan?.parent;
    if (parent && !facts.hostLinks.includes(parent)) {
      findings.push(
        fail(
          'state',
          `network ${n.name}: its parent ${parent} is gone from the host netns`,
          `bring ${parent} back, then reconnect the sandboxes on ${n.name} (their macvlans went with it); or remove the network`,
        ),
      );
    }
  }

  const goneSandboxes = new Set<string>();
  for (const s of facts.sandboxes) {
    if (s.ownsNetns && !alive(s.netnsPath)) {
      goneSandboxes.add(s.netnsPath);
      findings.push(
        fail(
          'state',
          `sandbox ${s.name}: its netns ${s.netnsPath} is gone`,
          `berth gc removes the sandbox and its endpoints (or: berth sandbox rm ${s.name})`,
          { kind: 'sandbox', name: s.name },
        ),
      );
    }
  }

  for (const e of facts.endpoints) {
    if (e.cni) {
      const finding = attachmentFinding(e, e.cni, facts);
      if (finding) findings.push(finding);
      continue;
    }
    const item: StaleItem = { kind: 'endpoint', network: e.network, name: e.name };
    const label = `endpoint ${e.name} of network ${e.network}`;
    const net = networks.get(e.network);
    if (!net) {
      findings.push(fail('state', `${label}: the network does not exist`, 'berth gc removes the endpoint', item));
      continue;
    }
    const j = e.join;
    if (!j) continue;
    const held =
      net.driver === 'host' ? sandboxNames.has(j.sandbox) : facts.sandboxes.some((s) => s.netnsPath === j.netnsPath);
    if (!held) {
      findings.push(
        fail('state', `${label}: its sandbox ${j.sandbox} does not exist`, 'berth gc removes the endpoint', item),
      );
      continue;
    }
    if (!makesInterface(net) || goneSandboxes.has(j.netnsPath)) continue;
    const fix = `berth gc removes the endpoint (or: berth disconnect ${e.network} ${e.name})`;
    if (j.hostVeth && !facts.hostLinks.includes(j.hostVeth)) {
      findings.push(fail('state', `${label}: its veth ${j.hostVeth} is gone from the host netns`, fix, item));
    } else if (alive(j.netnsPath) && !(facts.netnsLinks.get(j.netnsPath) ?? []).includes(j.ifname)) {
      findings.push(fail('state', `${label}: its interface ${j.ifname} is gone from ${j.netnsPath}`, fix, item));
    }
  }

  const cniNetworks = new Set(facts.endpoints.flatMap((e) => (e.cni ? [e.network] : [])));
  for (const [folder, reservations] of [...facts.reservations].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (reservations.length === 0) continue;
    if (!networks.has(folder) && !cniNetworks.has(folder)) {
      findings.push(
        fail(
          'state',
          `IPAM holds ${reservations.length} reservation(s) for network ${folder}, which does not exist`,
          'berth gc removes them',
          { kind: 'ipam-folder', network: folder },
        ),
      );
      continue;
    }
    const valid = facts.endpoints
      .filter((e) => e.network === folder && e.join)
      .map((e) =>
        e.cni
          ? { containerID: e.cni.containerId, ifname: e.cni.ifName }
          : { containerID: e.id, ifname: e.join!.ifname },
      );
    for (const r of stale(reservations, valid)) {
      findings.push(
        fail(
          'state',
          `IPAM reservation ${r.ip} of network ${folder} is held by ${r.containerID}${r.ifname ? `/${r.ifname}` : ''}, which is no endpoint`,
          'berth gc releases it',
          { kind: 'reservation', network: folder, ip: r.ip },
        ),
      );
    }
  }

  // A CNI attachment whose container is gone is reported with its own rules: gc detaches them together.
  const goneAttachments = new Set(
    facts.endpoints.flatMap((e) => (e.cni && e.join && !alive(e.join.netnsPath) ? [e.cni.owner] : [])),
  );
  for (const p of facts.stalePorts) {
    const why =
      p.staleness === 'earlier-boot'
        ? 'were published in a boot that is over: nothing of them is in the kernel'
        : `lost their rules (a flushed firewall table) and their netns ${p.netnsPath} is gone`;
    findings.push(
      fail(
        'state',
        `the published ports of ${p.label} ${why}`,
        'berth gc removes the record (meanwhile, a new publish of those ports takes them over)',
        { kind: 'ports', owner: p.owner },
      ),
    );
  }

  const portOwners = new Set(facts.portOwners);
  for (const { owner, backend, earlierBoot } of facts.firewall) {
    const item: StaleItem = { kind: 'firewall', owner, backend };
    const publisher = owner.id.startsWith(PORTS_PREFIX) ? owner.id.slice(PORTS_PREFIX.length) : null;
    if (goneAttachments.has(owner.id)) continue; // reported with its attachment
    if (earlierBoot && owner.kind === 'network' && networks.has(owner.id)) {
      findings.push(
        fail(
          'state',
          `${backend} rules of network ${owner.id} were recorded in a boot that is over and are not in the kernel`,
          '`berth firewall reload` puts them back',
        ),
      );
    } else if (earlierBoot && owner.kind === 'container' && !(publisher && portOwners.has(publisher))) {
      // A publisher's own record is reported above, and gc takes both.
      findings.push(
        fail(
          'state',
          `${backend} rules of container ${owner.id} were recorded in a boot that is over and are not in the kernel`,
          'berth gc removes the record',
          item,
        ),
      );
    } else if (owner.kind === 'network' && !networks.has(owner.id)) {
      findings.push(
        fail('state', `${backend} rules of network ${owner.id}, which does not exist`, 'berth gc removes them', item),
      );
    } else if (owner.kind === 'container' && publisher !== null) {
      if (!portOwners.has(publisher)) {
        findings.push(
          fail(
            'state',
            `${backend} port rules of ${publisher}, which publishes nothing any more`,
            'berth gc removes them',
            item,
          ),
        );
      }
    }
    // Other container owners are CNI attachments: the runtime's CNI GC judges those.
  }
  for (const err of facts.firewallErrors) {
    findings.push(fail('state', err, 'delete the file; the rules it named carry the comment "berth <kind> <id>"'));
  }
  if (facts.names) findings.push(...analyzeNames(facts, facts.names, networks));

  if (findings.length === 0) {
    const attachments = facts.endpoints.filter((e) => e.cni).length;
    findings.push(
      ok(
        'state',
        `records match the kernel: ${facts.networks.length} network(s), ${facts.sandboxes.length} sandbox(es), ${facts.endpoints.length - attachments} endpoint(s)${attachments > 0 ? `, ${attachments} CNI attachment(s)` : ''}`,
      ),
    );
  }
  return findings;
}

/**
 * Names: records of networks and endpoints that are gone, and a name service that does not run or
 * does not listen where a network with names needs it. CNI networks' records are the runtime's to
 * collect (CNI GC).
 */
function analyzeNames(facts: StateFacts, names: NamesFacts, networks: ReadonlyMap<string, NetworkRecord>): Finding[] {
  const findings: Finding[] = [];
  const live: { network: string; listen: readonly string[] }[] = [];
  for (const { network, settings, records } of names.networks) {
    if (settings?.cni) {
      if (records.length > 0) live.push({ network, listen: settings.listen });
      continue;
    }
    if (!settings || !networks.get(network)?.dns) {
      findings.push(
        fail('state', `names of network ${network}, which has no names or does not exist`, 'berth gc removes them', {
          kind: 'names-network',
          network,
        }),
      );
      continue;
    }
    live.push({ network, listen: settings.listen });
    for (const r of records) {
      const joined = facts.endpoints.some((e) => e.network === network && e.id === r.owner && e.join);
      if (!joined) {
        findings.push(
          fail(
            'state',
            `the names ${r.names.join(', ')} on network ${network} belong to no joined endpoint`,
            'berth gc removes them',
            { kind: 'names-record', network, owner: r.owner },
          ),
        );
      }
    }
  }
  if (live.length === 0) return findings;
  const service = names.service;
  if (!service) {
    findings.push(
      fail(
        'state',
        `the name service is not running: names on ${live.map((n) => n.network).join(', ')} are not answered`,
        'berth gc starts it again, as does the next berth run or connect',
        { kind: 'names-service' },
      ),
    );
    return findings;
  }
  for (const n of live) {
    if (!n.listen.some((a) => a in service.listening)) {
      findings.push(
        fail(
          'state',
          `the name service (PID ${service.pid}) does not listen on ${n.listen.join(' or ')} for network ${n.network}`,
          `see its log, ${names.log}`,
        ),
      );
    }
  }
  return findings;
}

/**
 * An attachment a runtime made through berth's plugins: stale once its netns is gone (the
 * container ended without a DEL); broken, but the runtime's to mend, when a link of it is gone.
 */
function attachmentFinding(e: EndpointRecord, cni: CniAttachmentNames, facts: StateFacts): Finding | undefined {
  const j = e.join;
  if (!j) return undefined;
  const label = `attachment ${cni.containerId}/${cni.ifName} of CNI network ${e.network}`;
  if (!(facts.netnsAlive.get(j.netnsPath) ?? false)) {
    return fail(
      'state',
      `${label}: its netns ${j.netnsPath} is gone`,
      "berth gc removes its veth, rules, ports and record (its addresses are for the runtime's CNI GC)",
      { kind: 'attachment', network: e.network, name: e.name },
    );
  }
  const fix = 'DEL and ADD the container again (through its runtime)';
  if (j.hostVeth && !facts.hostLinks.includes(j.hostVeth))
    return fail('state', `${label}: its veth ${j.hostVeth} is gone from the host netns`, fix);
  if (!(facts.netnsLinks.get(j.netnsPath) ?? []).includes(j.ifname))
    return fail('state', `${label}: its interface ${j.ifname} is gone from ${j.netnsPath}`, fix);
  return undefined;
}

/** Reads the records and the kernel's view of them, holding the state lock so no change is seen half made. */
export function gatherState(ctl: Controller): Promise<StateFacts> {
  return ctl.store.locked(() => gatherUnlocked(ctl));
}

async function gatherUnlocked(ctl: Controller): Promise<StateFacts> {
  const networks = ctl.networks().map((n) => n.record);
  const sandboxes = ctl.sandboxes().map((s) => s.record);
  const endpoints = ctl.endpointRecords();
  const ipamDir = ctl.ipamDataDir;
  const reservations = new Map<string, readonly Reservation[]>();
  for (const folder of listDir(ipamDir)) {
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
  const hostLinks = await ctl.withHost(async (h) => (await h.listLinks()).map((l) => l.name));
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

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return [];
    throw e;
  }
}

/** The state's findings: gathered, then analyzed. */
export async function checkState(ctl: Controller): Promise<Finding[]> {
  return analyzeState(await gatherState(ctl));
}

// --- garbage collection

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
      s?.kind === 'names-record'
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
  }
}
