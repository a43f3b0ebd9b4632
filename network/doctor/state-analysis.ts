// The pure half of doctor's state check: facts in, findings out, nothing touched.
import { stale } from '../ipam/store.js';
import type { CniAttachmentNames, EndpointRecord, NetworkRecord } from '../model.js';
import { type Finding, fail, ok, type StaleItem } from './findings.js';
import { makesInterface, type NamesFacts, PORTS_PREFIX, type StateFacts } from './state-facts.js';

/** Compares the records with each other and with the kernel; one finding per problem, in a stable order. */
export function analyzeState(facts: StateFacts): Finding[] {
  const findings: Finding[] = [];
  const networks = new Map(facts.networks.map((n) => [n.name, n]));
  const sandboxNames = new Set(facts.sandboxes.map((s) => s.name));
  const alive = (path: string) => facts.netnsAlive.get(path) ?? false;

  for (const n of facts.networks) {
    // An overlay network of this host has a bridge as a bridge network has.
    if ((n.driver === 'bridge' || n.driver === 'overlay') && !facts.hostLinks.includes(n.bridgeName)) {
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
      .filter((e) => (e.network === folder || e.cni?.overlay === folder) && e.join)
      .map((e) =>
        e.cni
          ? // An overlay network's reservations hold a CNI attachment by its owner (network/container/ifname).
            { containerID: e.cni.overlay === folder ? e.cni.owner : e.cni.containerId, ifname: e.cni.ifName }
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
  for (const ifb of facts.ifbs.filter((i) => i.orphaned)) {
    findings.push(
      fail(
        'state',
        `IFB ${ifb.name} shapes nothing: the host end ${ifb.hostLink} it was made for is gone`,
        'berth gc removes it',
        { kind: 'ifb', name: ifb.name },
      ),
    );
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
    // An overlay network's service is wanted while this host has sandboxes on it: the agent makes
    // its names here before any join, and the first join starts it.
    if (!networks.get(network)?.overlay || records.length > 0) live.push({ network, listen: settings.listen });
    for (const r of records) {
      // A CNI attachment to an overlay network is an endpoint of its CNI network, its names the overlay's.
      const joined = facts.endpoints.some(
        (e) => (e.network === network || e.cni?.overlay === network) && e.id === r.owner && e.join,
      );
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
