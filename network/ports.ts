import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { familyOf, subnetOf } from '../base/address.js';
import { isSystemError } from '../base/binding.js';
import { bootId, ofThisBoot } from '../base/boot.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { ensurePrivateDir, unlinkIfThere, withFileLock, withFileLocks } from '../base/files.js';
import { sha256Hex } from '../base/sha256.js';
import type { Firewall, Owner, OwnerRules, PortMapping, Rules } from '../iptables/index.js';
import { ConntrackHandle } from '../netlink/conntrack.js';
import { NetlinkHandle } from '../netlink/index.js';
import { netnsExists } from '../netlink/netns.js';
import {
  checkConflicts,
  clashes,
  expandPortSpecs,
  formatPortSpec,
  mergePortSpecs,
  type PortHolder,
  type PortSpec,
} from './portspec.js';
import type { StateStore } from './state.js';

/** Who publishes, and where the traffic goes. */
export interface PublishTarget {
  /** A stable id: an endpoint id, or `<network>/<containerId>/<ifname>` for a CNI attachment. */
  readonly owner: string;
  /** How a conflict error names the holder, e.g. 'endpoint web1 of network web'. */
  readonly label: string;
  /** The container's addresses, without prefix. */
  readonly containerIPs: readonly string[];
  /** The host-side interface toward the container (its bridge): localhost publishing needs route_localnet there. */
  readonly hostInterface?: string;
  /**
   * The container subnets behind hostInterface, when the publisher must make hairpin work itself (a
   * container reaching a published port of its own bridge is masqueraded back); a berth network's own
   * rules already do it.
   */
  readonly hairpinSubnets?: readonly string[];
}

/** What berth recorded of one owner's publications: enough to list, unpublish and reload without the container. */
export interface PortRecord extends PublishTarget {
  readonly specs: readonly PortSpec[];
  readonly mappings: readonly PortMapping[];
  readonly netnsPath?: string;
  /** The boot it was published in (base/boot.ts); absent in records older than that. */
  readonly boot?: string;
}

/**
 * Why a port record stands for nothing the kernel holds any more: it was published in a boot that is
 * over, or its container's netns is gone and its rules are not in the kernel (a flushed table).
 */
export type Staleness = 'earlier-boot' | 'lost';

/**
 * One published UDP port whose flows are to be forgotten: those that reached hostIP when the mapping has
 * one, else those that reached any address of the family (another owner may hold the port on another address).
 */
export interface UdpFlowKey {
  readonly family: 4 | 6;
  readonly hostIP?: string;
  readonly hostPort: number;
}

/** Deletes the conntrack entries of these UDP flows in the host netns (stale flows would keep the old target). */
export type UdpFlowFlusher = (hostNetnsPath: string, flows: readonly UdpFlowKey[]) => Promise<void>;

/** The flusher over ctnetlink: one dump per key, deleting the UDP entries whose original destination matches it. */
export const flushUdpFlows: UdpFlowFlusher = async (hostNetnsPath, flows) => {
  const ct = ConntrackHandle.open(hostNetnsPath);
  try {
    for (const f of flows) {
      await ct.flush({
        protocol: 'udp',
        family: f.family,
        origDstPort: f.hostPort,
        ...(f.hostIP ? { origDst: f.hostIP } : {}),
      });
    }
  } finally {
    ct.close();
  }
};

export const portsOwner = (owner: string): Owner => ({ kind: 'container', id: `ports:${owner}` });
const recordName = (owner: string) => `p-${sha256Hex(owner).slice(0, 24)}`;
const isLoopback = (ip: string | undefined) => !!ip && ip.startsWith('127.');
const sameMapping = (a: PortMapping, b: PortMapping) =>
  a.protocol === b.protocol &&
  a.hostIP === b.hostIP &&
  a.hostPort === b.hostPort &&
  a.containerIP === b.containerIP &&
  a.containerPort === b.containerPort;

/** The folder of one host port's claims: `<protocol>-<hostPort>`. */
const claimKey = (m: { protocol: string; hostPort: number }) => `${m.protocol}-${m.hostPort}`;
const claimKeys = (mappings: readonly PortMapping[]) => new Set(mappings.map(claimKey));
const portLockPath = (stateDir: string, key: string) => join(stateDir, 'locks', 'ports', `${key}.lock`);

/** The lock a publish or unpublish holds while it changes who holds this host port. */
export const hostPortLockPath = (stateDir: string, protocol: string, hostPort: number): string =>
  portLockPath(stateDir, claimKey({ protocol, hostPort }));

/**
 * Which owners hold which host ports, so a publish reads only the records of the ports it asks for:
 * `<stateDir>/port-claims/<protocol>-<hostPort>/<record name>`, empty files. Under the port's lock a
 * claim is made before its record is written and dropped after the record lets go, so the claims
 * are always a superset of the records; a claim whose record is gone (a crash between the two) is
 * dropped when it is next read.
 */
export class PortClaims {
  readonly dir: string;

  constructor(private readonly store: StateStore) {
    this.dir = join(store.dir, 'port-claims');
  }

  /**
   * The claims folder, built from the records when it is not there yet (state written before claims
   * existed), once, under the state lock. Built aside and renamed into place, so a crash mid-build
   * leaves no half of it.
   */
  async ensure(): Promise<void> {
    const built = () => readdirIfThere(this.store.dir)?.includes('port-claims') ?? false;
    if (built()) return;
    await this.store.locked(() => {
      if (!built()) this.build();
    });
  }

  /** Whether anybody claims the port: its folder goes with its last claim. */
  claimed(key: string): boolean {
    return existsSync(join(this.dir, key));
  }

  private build(): void {
    const temp = `${this.dir}.${process.pid}.tmp`;
    rmSync(temp, { recursive: true, force: true });
    ensurePrivateDir(temp);
    for (const r of this.store.list<PortRecord>('ports')) {
      for (const key of claimKeys(r.mappings ?? [])) {
        mkdirSync(join(temp, key), { recursive: true, mode: 0o700 });
        closeSync(openSync(join(temp, key, recordName(r.owner)), 'w', 0o600));
      }
    }
    renameSync(temp, this.dir);
  }

  /** The records holding a claim on any of these ports, each once; claims of records that are gone are dropped. */
  holders(ports: Iterable<string>): PortRecord[] {
    const out = new Map<string, PortRecord>();
    for (const key of ports) {
      for (const name of readdirIfThere(join(this.dir, key)) ?? []) {
        if (out.has(name)) continue;
        const rec = this.store.read<PortRecord>('ports', name);
        if (rec) out.set(name, rec);
        else unlinkIfThere(join(this.dir, key, name));
      }
    }
    return [...out.values()];
  }

  /** Claims the ports for the owner; returns the claims that are new (to drop them again on failure). */
  claim(owner: string, ports: Iterable<string>): string[] {
    const made: string[] = [];
    for (const key of ports) {
      const path = join(this.dir, key, recordName(owner));
      mkdirSync(join(this.dir, key), { recursive: true, mode: 0o700 });
      try {
        closeSync(openSync(path, 'wx', 0o600));
        made.push(key);
      } catch (e) {
        if (!isSystemError(e, 'EEXIST')) throw e;
      }
    }
    return made;
  }

  /** Drops the owner's claims on these ports, and a port's folder once nobody claims it. */
  release(owner: string, ports: Iterable<string>): void {
    for (const key of ports) {
      unlinkIfThere(join(this.dir, key, recordName(owner)));
      try {
        rmdirSync(join(this.dir, key));
      } catch (e) {
        if (!isSystemError(e, 'ENOTEMPTY') && !isSystemError(e, 'EEXIST') && !isSystemError(e, 'ENOENT')) throw e;
      }
    }
  }
}

/** Whether a recorded netns is still there; one berth may not look at counts as there. */
function netnsAlive(path: string): boolean {
  try {
    return netnsExists(path);
  } catch (e) {
    if (isSystemError(e, 'EACCES')) return true;
    throw e;
  }
}

function readdirIfThere(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/** The firewall rules of a record: its mappings, and hairpin for its bridge when the publisher owns that. */
export function rulesOf(rec: PortRecord): Rules {
  const hairpin = rec.hostInterface && rec.hairpinSubnets?.length;
  return {
    ports: rec.mappings,
    ...(hairpin ? { bridges: [{ name: rec.hostInterface!, subnets: rec.hairpinSubnets!, isolate: false }] } : {}),
  };
}

/**
 * Publishes container ports on the host: DNAT through the firewall's port maps,
 * a conflict check against the owners of the asked ports (through their claims:
 * the cost does not grow with how many owners publish), stale UDP flows flushed
 * on publish and unpublish.
 *
 * Locks are scoped to what is contended: the owner's lock (its record), then the
 * lock of each host port whose claims change (`<protocol>-<hostPort>`, sorted),
 * held around the check, the claims, the firewall change and the record write.
 * Two owners asking for one host port take turns on its lock, so exactly one
 * wins and the other sees it as the holder. The conntrack flush comes after.
 * A stale holder of an asked port is forgotten under that port's lock, without
 * its owner's lock (which would come after the port's, out of order): nothing
 * live changes a record that stands for nothing in the kernel.
 */
export class PortMapper {
  private readonly claims: PortClaims;

  constructor(
    private readonly options: {
      readonly store: StateStore;
      readonly firewall: () => Promise<Firewall>;
      readonly hostNetnsPath: string;
      readonly flushUdp?: UdpFlowFlusher;
    },
  ) {
    this.claims = new PortClaims(options.store);
  }

  /** The firewall the ports are published in. */
  firewall(): Promise<Firewall> {
    return this.options.firewall();
  }

  /** Every record, stale ones included (see staleness()). */
  list(): PortRecord[] {
    return this.options.store.list<PortRecord>('ports');
  }

  /** What the owner publishes in this boot. */
  get(owner: string): PortRecord | null {
    const rec = this.read(owner);
    return rec && ofThisBoot(rec) ? rec : null;
  }

  private read(owner: string): PortRecord | null {
    return this.options.store.read<PortRecord>('ports', recordName(owner));
  }

  /**
   * Why the record stands for nothing in the kernel, or null while it may. A netns that is gone while
   * its rules are in place is a container the runtime has yet to DEL: that is the runtime's to judge.
   */
  async staleness(rec: PortRecord): Promise<Staleness | null> {
    if (!ofThisBoot(rec)) return 'earlier-boot';
    if (!rec.netnsPath || netnsAlive(rec.netnsPath)) return null;
    const problems = await (await this.options.firewall()).check(portsOwner(rec.owner), rulesOf(rec));
    return problems.length > 0 ? 'lost' : null;
  }

  /** Removes the owner's record when it is stale, under its locks (for gc); returns whether it did. */
  async removeIfStale(owner: string): Promise<boolean> {
    return this.locked(
      owner,
      (rec) => claimKeys(rec?.mappings ?? []),
      async (rec) => {
        if (!rec || !(await this.staleness(rec))) return false;
        await this.forget(rec);
        return true;
      },
    );
  }

  /** Runs fn while no publish or unpublish of the owner is under way (e.g. to judge its rules stale). */
  ownerLocked<T>(owner: string, fn: () => T | Promise<T>): Promise<T> {
    const { store } = this.options;
    return withFileLock(join(store.dir, 'locks', 'port-owners', `${recordName(owner)}.lock`), fn, {
      label: 'the port lock of an owner',
      removeWhenDone: () => !store.exists('ports', recordName(owner)),
    });
  }

  /** Runs fn holding the owner's lock and, given its record, the locks of the host ports `ports` names. */
  private locked<T>(
    owner: string,
    ports: (current: PortRecord | null) => Iterable<string>,
    fn: (current: PortRecord | null) => Promise<T>,
  ): Promise<T> {
    return this.ownerLocked(owner, () => {
      const current = this.read(owner);
      return withFileLocks(
        [...ports(current)].map((key) => ({
          path: portLockPath(this.options.store.dir, key),
          removeWhenDone: () => !this.claims.claimed(key),
        })),
        () => fn(current),
        { label: 'the lock of a host port' },
      );
    });
  }

  /** Drops a stale record: its firewall record (and rules of it still in the kernel), the record, its claims. */
  private async forget(rec: PortRecord, alongWith: readonly Owner[] = []): Promise<void> {
    await (await this.options.firewall()).removeMany([portsOwner(rec.owner), ...alongWith]);
    this.options.store.remove('ports', recordName(rec.owner));
    this.claims.release(rec.owner, claimKeys(rec.mappings ?? []));
  }

  /**
   * Adds `specs` to what the owner publishes; all of it, or nothing when any port is taken. `alongWith`
   * are other owners' rules to commit in the same firewall batch, after the conflict check (the
   * all-in-one plugin's attachment): should the publish fail after that batch, the caller removes them.
   */
  async publish(
    target: PublishTarget,
    specs: readonly PortSpec[],
    netnsPath?: string,
    alongWith: readonly OwnerRules[] = [],
  ): Promise<PortRecord> {
    const { store } = this.options;
    await this.claims.ensure();
    const asked = expandPortSpecs(mergePortSpecs(specs), target.containerIPs);
    const { record, before } = await this.locked(
      target.owner,
      (current) => claimKeys([...asked, ...(current?.mappings ?? [])]),
      async (current) => {
        let before = current;
        // Published in a boot that is over (the same container ID started again): nothing of it is in the kernel.
        if (before && !ofThisBoot(before)) {
          await this.forget(before);
          before = null;
        }
        const published = new Set(before?.specs.map(formatPortSpec));
        const fresh = mergePortSpecs(specs).filter((s) => !published.has(formatPortSpec(s)));
        const freshMappings = expandPortSpecs(fresh, target.containerIPs);
        const holders: PortHolder[] = [];
        for (const r of this.claims.holders(claimKeys(freshMappings))) {
          // A holder that stands for nothing in the kernel any more gives its ports up.
          const contested =
            r.owner !== target.owner && r.mappings.some((m) => freshMappings.some((w) => clashes(w, m)));
          if (contested && (await this.staleness(r))) await this.forget(r);
          else holders.push({ owner: r.owner, label: r.label, mappings: r.mappings });
        }
        // The owner's own earlier publications count as taken too (under another key, so they are checked).
        if (before) holders.push({ owner: '', label: `${before.label} itself`, mappings: before.mappings });
        checkConflicts(target.owner, freshMappings, holders);
        const allSpecs = [...(before?.specs ?? []), ...fresh];
        const mappings = expandPortSpecs(allSpecs, target.containerIPs);
        const record: PortRecord = {
          ...target,
          specs: allSpecs,
          mappings,
          ...(netnsPath ? { netnsPath } : {}),
          boot: bootId(),
        };
        if (mappings.some((m) => isLoopback(m.hostIP))) await this.enableLocalnet(target.hostInterface);
        // 127.0.0.1 is one of "every address": without route_localnet the DNATed packet is dropped and
        // `curl localhost:8080` hangs, where Docker and the reference portmap answer.
        else if (target.hostInterface && mappings.some((m) => !m.hostIP && familyOf(m.containerIP) === 4))
          await this.enableLocalnet(target.hostInterface);
        const claimed = this.claims.claim(target.owner, claimKeys(mappings));
        try {
          await (await this.options.firewall()).applyMany([
            ...alongWith,
            { owner: portsOwner(target.owner), rules: rulesOf(record) },
          ]);
        } catch (e) {
          this.claims.release(target.owner, claimed);
          throw e;
        }
        try {
          await store.writeAsync('ports', recordName(target.owner), record);
        } catch (e) {
          await this.restore(target.owner, before, record);
          throw e;
        }
        return { record, before };
      },
    );
    try {
      // Only what is new or now points elsewhere: the owner's other flows are still right.
      await this.flush(record.mappings.filter((m) => !before?.mappings.some((b) => sameMapping(b, m))));
    } catch (e) {
      // Both halves go back: a record without its rules would hold the ports against every other owner.
      await this.locked(
        target.owner,
        () => claimKeys(record.mappings),
        async (current) => {
          // Unless another change of this owner came in between: then it is that change's record.
          if (JSON.stringify(current) === JSON.stringify(record)) await this.restore(target.owner, before, record);
        },
      );
      throw e;
    }
    return record;
  }

  /** Puts the owner back to `before` (its record, rules and claims) after `failed` was applied; under its locks. */
  private async restore(owner: string, before: PortRecord | null, failed: PortRecord): Promise<void> {
    const { store } = this.options;
    if (before) store.write('ports', recordName(owner), before);
    else store.remove('ports', recordName(owner));
    await (await this.options.firewall()).apply(portsOwner(owner), before ? rulesOf(before) : {});
    const kept = claimKeys(before?.mappings ?? []);
    this.claims.release(
      owner,
      [...claimKeys(failed.mappings)].filter((k) => !kept.has(k)),
    );
  }

  /**
   * Removes the owner's publications matching `which` (host port and protocol), or all of them. Gone is
   * success. `alongWith` are other owners of the ports' firewall (backend) whose rules go in the same
   * batch (the all-in-one plugin's attachment): one nft transaction for a DEL, as for its ADD.
   */
  async unpublish(
    owner: string,
    which?: readonly { hostPort: number; protocol: string }[],
    alongWith: readonly Owner[] = [],
  ): Promise<void> {
    const drop = (s: PortSpec) =>
      !which || which.some((w) => w.protocol === s.protocol && w.hostPort >= s.hostPort && w.hostPort <= s.hostPortEnd);
    const kept = (rec: PortRecord) =>
      expandPortSpecs(
        rec.specs.filter((s) => !drop(s)),
        rec.containerIPs,
      );
    // The ports whose claims go: those of the record no kept mapping names (all of a record of a boot that is over).
    const released = (rec: PortRecord | null) => {
      if (!rec) return [];
      const stay = ofThisBoot(rec) ? claimKeys(kept(rec)) : new Set<string>();
      return [...claimKeys(rec.mappings)].filter((k) => !stay.has(k));
    };
    const removed = await this.locked(owner, released, async (rec) => {
      if (rec && !ofThisBoot(rec)) {
        await this.forget(rec, alongWith);
        return [];
      }
      if (!rec) {
        // Nothing published: no firewall needed (a host without nft or iptables must still DEL). Rules a
        // crash left without a port record go by the firewall's own record, which starts no process when absent.
        const fw = await this.options.firewall().catch(() => undefined);
        await fw?.removeMany([portsOwner(owner), ...alongWith]);
        return [];
      }
      const fw = await this.options.firewall();
      if (which) {
        const unknown = which.filter(
          (w) =>
            !rec.specs.some(
              (s) => w.protocol === s.protocol && w.hostPort >= s.hostPort && w.hostPort <= s.hostPortEnd,
            ),
        );
        if (unknown.length > 0) {
          throw new BerthError(
            ErrorCode.InvalidConfig,
            `${rec.label} does not publish ${unknown.map((w) => `${w.hostPort}/${w.protocol}`).join(', ')}`,
            'see `berth port ls` for what it publishes',
          );
        }
      }
      const keep = rec.specs.filter((s) => !drop(s));
      const next = { ...rec, specs: keep, mappings: kept(rec) };
      if (keep.length === 0) {
        await fw.removeMany([portsOwner(owner), ...alongWith]);
        this.options.store.remove('ports', recordName(owner));
      } else {
        await fw.apply(portsOwner(owner), rulesOf(next));
        this.options.store.write('ports', recordName(owner), next);
        await fw.removeMany(alongWith);
      }
      // After the record: until then the claims still cover it.
      this.claims.release(owner, released(rec));
      return rec.mappings.filter(
        (m) =>
          !next.mappings.some((k) => k.hostPort === m.hostPort && k.protocol === m.protocol && k.hostIP === m.hostIP),
      );
    });
    await this.flush(removed);
  }

  private async flush(mappings: readonly PortMapping[]): Promise<void> {
    const keys = new Map<string, UdpFlowKey>();
    for (const m of mappings) {
      if (m.protocol !== 'udp') continue;
      const key: UdpFlowKey = {
        family: familyOf(m.containerIP),
        ...(m.hostIP ? { hostIP: m.hostIP } : {}),
        hostPort: m.hostPort,
      };
      keys.set(`${key.family}|${key.hostIP ?? '*'}|${key.hostPort}`, key);
    }
    if (keys.size > 0) await (this.options.flushUdp ?? flushUdpFlows)(this.options.hostNetnsPath, [...keys.values()]);
  }

  // The kernel drops 127.0.0.0/8 leaving a non-loopback interface unless route_localnet is set there;
  // the firewall's guard drops 127.0.0.0/8 arriving from outside, so the host alone reaches these ports.
  private async enableLocalnet(hostInterface: string | undefined): Promise<void> {
    if (!hostInterface) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        'publishing on 127.0.0.1 needs the host interface toward the container',
        'publish through a bridge network',
      );
    }
    const host = NetlinkHandle.open(this.options.hostNetnsPath);
    try {
      await host.setInterfaceSysctl(4, hostInterface, 'route_localnet', '1');
    } finally {
      host.close();
    }
  }
}

/**
 * The target of a container berth did not make, from its netns alone: its global
 * addresses, and the host interface the host routes them through (its bridge).
 */
export async function targetFromNetns(
  hostNetnsPath: string,
  netnsPath: string,
  owner: string,
  label: string,
): Promise<PublishTarget> {
  let inside: NetlinkHandle;
  try {
    inside = NetlinkHandle.open(netnsPath);
  } catch (e) {
    throw new BerthError(
      ErrorCode.UnknownContainer,
      `cannot open the network namespace ${netnsPath}: ${(e as Error).message}`,
      "give the path of a running container's netns, e.g. /run/netns/NAME or /proc/PID/ns/net",
    );
  }
  let addresses: string[];
  try {
    addresses = (await inside.listAddresses()).filter((a) => a.scope === 'universe').map((a) => a.cidr);
  } finally {
    inside.close();
  }
  if (addresses.length === 0) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `the container in ${netnsPath} has no address to publish to`,
      'connect it to a network first',
    );
  }
  const host = NetlinkHandle.open(hostNetnsPath);
  try {
    const routes = [...(await host.listRoutes({ family: 4 })), ...(await host.listRoutes({ family: 6 }))];
    const route = routes.find((r) => r.dev !== undefined && r.dst !== 'default' && r.dst === subnetOf(addresses[0]!));
    const hostInterface = route?.dev !== undefined ? (await host.getLink(route.dev))?.name : undefined;
    return {
      owner,
      label,
      containerIPs: addresses.map((a) => a.split('/')[0]!),
      ...(hostInterface ? { hostInterface } : {}),
    };
  } finally {
    host.close();
  }
}
