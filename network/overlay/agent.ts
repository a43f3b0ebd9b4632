import { asBerthError } from '../../base/errors.js';
import { NetlinkHandle } from '../../netlink/index.js';
import { idFor } from '../config.js';
import { ChangeTracker } from '../names/changes.js';
import type { NameRecord } from '../names/model.js';
import { vtepAddressOf, vtepMacOf } from './blocks.js';
import { type ClaimStep, planClaims } from './claims.js';
import type { Cluster, HostLease, ReadSnapshot } from './etcd.js';
import type { BlockHolder, OverlayNetwork } from './model.js';
import { planImport, planPublish } from './names.js';
import { planSync, remotesOf } from './sync.js';
import { applyPlan, ensureVtep, readProgrammed, underlayOf } from './vtep.js';

/** This host's share of an overlay network, as the agent hands it to the host's side. */
export interface HostOverlay {
  readonly network: OverlayNetwork;
  readonly node: string;
  /** The underlay address. */
  readonly address: string;
  readonly block: string;
  readonly vxlan: string;
  readonly vtepMac: string;
  /** The VXLAN device's MTU: the underlay's less 50. */
  readonly vxlanMtu: number;
}

/** Where the agent's networks become this host's: records, bridges, rules (the Controller's side). */
export interface LocalSide {
  /** The networks this host took part in before, with the block each had: a restart asks for the same block. */
  adopted(): readonly { readonly name: string; readonly block: string }[];
  /** Makes (or updates) this host's side of a network it holds a block of. */
  adopt(view: HostOverlay): Promise<void>;
  /** Removes this host's side of a network that is gone from the cluster. */
  drop(name: string): Promise<void>;
  /** The name records of this host's networks with names, its own and those it imported. */
  readonly names?: NamesSide;
}

/** This host's name records of an overlay network with names, as the agent publishes and imports them. */
export interface NamesSide {
  /** This host's own records; undefined when the network has no names here. */
  local(network: string): readonly NameRecord[] | undefined;
  /** The records imported from the other hosts. */
  imported(network: string): readonly NameRecord[];
  /** Writes and removes imported records (by owner). */
  importNames(network: string, put: readonly NameRecord[], remove: readonly string[]): void;
  /** When the network's records last changed here (ms), or undefined: a cheap look before reading them. */
  changedAt(network: string): number | undefined;
}

export interface AgentOptions {
  readonly cluster: Cluster;
  /** This host's name in the cluster. */
  readonly node: string;
  /** This host's underlay address: the others send its blocks' packets there. */
  readonly address: string;
  readonly local: LocalSide;
  /** The netns that plays the host ('' = this process's). */
  readonly hostNetnsPath?: string;
  /** The lease's TTL; a host whose agent stops loses its blocks this long after. Default 30 s. */
  readonly ttlSeconds?: number;
  /** A full re-sync this often even when nothing was heard (ms). Default 30 s. */
  readonly resyncMs?: number;
  /** How often this host's name records are looked at for changes to publish (ms). Default 250. */
  readonly namesLookMs?: number;
  readonly log?: (line: string) => void;
}

/** The agent's view of itself, for `berth agent` and tests. */
export interface AgentStatus {
  readonly node: string;
  readonly lease?: string;
  /** The block this host holds per network. */
  readonly blocks: Readonly<Record<string, string>>;
  /** The other hosts' blocks programmed per network. */
  readonly remotes: Readonly<Record<string, readonly string[]>>;
  readonly lastSync?: string;
  /** Why the last sync failed (etcd unreachable, the lease refused); the kernel state stays as it was. */
  readonly lastError?: string;
  /** What the last sync could not do for single networks (a VNI taken on this host, no free block). */
  readonly problems: readonly string[];
}

export const vxlanNameOf = (network: string): string => `vx-${idFor(network)}`;

const CLAIM_ROUNDS = 5;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
const NAMES_LOOK_MS = 250;

/**
 * The overlay agent of one host: holds a lease in etcd and, under it, one block
 * of every overlay network; watches etcd and programs, for every other host's
 * block, a route, a neighbour and an FDB entry on the network's VXLAN device.
 * Every sync is full (read all, diff with the kernel, apply), so a restart, a
 * lost watch or a missed event heals the same way; one sync runs at a time.
 */
export class OverlayAgent {
  private lease?: HostLease;
  private stopWatch?: () => Promise<void>;
  private running?: Promise<void>;
  private tail: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private namesTimer?: NodeJS.Timeout;
  /** Per network with names: the local records as last published, as JSON. */
  private readonly published = new Map<string, string>();
  private readonly namesChanges = new ChangeTracker();
  /** The last failure to look at the name records, logged once until it changes. */
  private namesLookError = '';
  /** Name keys in etcd whose value is no record, already logged. */
  private rejectedNames = new Set<string>();
  private state: AgentStatus;
  private readonly log: (line: string) => void;
  private readonly ttlSeconds: number;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.ttlSeconds = options.ttlSeconds ?? 30;
    this.state = { node: options.node, blocks: {}, remotes: {}, problems: [] };
  }

  status(): AgentStatus {
    return this.state;
  }

  /**
   * Checks the underlay address, takes the lease, syncs once and starts watching.
   * Rejects (and holds nothing) when the address is not this host's or etcd cannot be reached.
   */
  async start(): Promise<void> {
    await this.withHost((h) => underlayOf(h, this.options.address));
    try {
      await this.syncNow();
      this.stopWatch = await this.options.cluster.watch((why) => this.schedule(why), this.log);
    } catch (e) {
      await this.stop({ revoke: true }).catch(() => undefined);
      throw e;
    }
    // Changes between the first sync and the watch's start.
    this.schedule('the watch started');
    const every = this.options.resyncMs ?? 30_000;
    // Not unref'd: a running agent is what keeps a resident process alive; stop() ends it.
    this.resyncTimer = setInterval(() => this.schedule('the periodic re-sync'), every);
    if (this.options.local.names) {
      this.namesTimer = setInterval(() => this.lookAtNames(), this.options.namesLookMs ?? NAMES_LOOK_MS);
    }
  }

  /** Schedules a sync when this host's own name records of a network differ from what it published. */
  private lookAtNames(): void {
    const names = this.options.local.names!;
    try {
      for (const [network, sent] of this.published) {
        if (!this.namesChanges.changed(network, names.changedAt(network), Date.now())) continue;
        if (JSON.stringify(names.local(network) ?? []) !== sent) {
          this.schedule(`the names of ${network} changed here`);
          break;
        }
      }
      this.namesLookError = '';
    } catch (e) {
      // From a timer: a throw would end the agent's process. The periodic re-sync still runs.
      const message = asBerthError(e).message;
      if (message !== this.namesLookError) this.log(`looking at this host's name records failed: ${message}`);
      this.namesLookError = message;
    }
  }

  /**
   * Stops watching and renewing. revoke: the host leaves, its blocks are free at once;
   * else they stay its own until the lease runs out, and an agent restarted before then keeps them.
   * The kernel state stays as it is.
   */
  async stop(options: { revoke?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearInterval(this.namesTimer);
    clearTimeout(this.retryTimer);
    await this.stopWatch?.().catch(() => undefined);
    await this.tail;
    const lease = this.lease;
    this.lease = undefined;
    try {
      if (lease && options.revoke) await lease.revoke();
    } finally {
      // Also when the revoke failed (etcd down): the keep-alive must end with the agent.
      lease?.release();
    }
  }

  /** Runs a full sync now (after the one running, if any) and resolves when it is done; rejects with its error. */
  syncNow(): Promise<void> {
    return this.serial(() => this.syncOnce());
  }

  /** Runs fn after every sync before it: two syncs never overlap. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private schedule(why: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.running = this.serial(() => this.syncOnce()).then(
      () => {
        this.retryMs = RETRY_MIN_MS;
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule('changes during the last sync');
        }
      },
      (e: unknown) => {
        // The retry is a full sync: it covers what came in meanwhile, after the back-off.
        this.again = false;
        this.running = undefined;
        if (this.stopped) return;
        this.log(`overlay sync (${why}) failed: ${asBerthError(e).message}; again in ${this.retryMs} ms`);
        this.retryTimer = setTimeout(() => this.schedule('a retry'), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      },
    );
  }

  private async syncOnce(): Promise<void> {
    try {
      await this.sync();
      this.state = { ...this.state, lastSync: new Date().toISOString(), lastError: undefined };
    } catch (e) {
      this.state = { ...this.state, lastError: asBerthError(e).message };
      throw e;
    }
  }

  private async sync(): Promise<void> {
    const { cluster, node, address } = this.options;
    if (!this.lease) {
      this.lease = await cluster.grantLease(this.ttlSeconds, (why) => {
        this.log(`the lease of ${node} was lost (${why}); taking a new one`);
        this.lease = undefined;
        this.schedule('the lease was lost');
      });
    }
    const lease = this.lease.id;
    const holderOf = (network: string): BlockHolder => ({ node, address, vtepMac: vtepMacOf(network, node) });
    const before = new Map(this.options.local.adopted().map((a) => [a.name, a.block]));
    const snapshot = await this.claim(holderOf, lease, (network) => before.get(network) ?? this.state.blocks[network]);

    const blocks: Record<string, string> = {};
    const remotes: Record<string, string[]> = {};
    const errors: string[] = [];
    for (const net of snapshot.networks) {
      const mine = snapshot.blocks.find((b) => b.network === net.name && b.node === node && b.lease === lease);
      if (!mine) {
        errors.push(`no block of ${net.name} is free for ${node}`);
        await this.syncNamesOrNote(snapshot, net.name, lease, errors);
        continue;
      }
      try {
        const wanted = remotesOf(snapshot, net.name, node);
        const vxlan = vxlanNameOf(net.name);
        const vtepMac = holderOf(net.name).vtepMac;
        const device = await this.withHost(async (h) => {
          const dev = await ensureVtep(h, {
            name: vxlan,
            vni: net.vni,
            local: address,
            mac: vtepMac,
            address: `${vtepAddressOf(mine.block)}/32`,
          });
          await applyPlan(h, dev.index, planSync(wanted, await readProgrammed(h, dev.index)));
          return dev;
        });
        await this.options.local.adopt({
          network: net,
          node,
          address,
          block: mine.block,
          vxlan,
          vtepMac,
          vxlanMtu: device.mtu,
        });
        blocks[net.name] = mine.block;
        remotes[net.name] = wanted.map((r) => `${r.block} at ${r.node} (${r.underlay})`);
      } catch (e) {
        errors.push(`network ${net.name}: ${asBerthError(e).message}`);
      }
      // Also when the network could not be made here: without its names settings this host
      // withdraws what it published and drops what it imported.
      await this.syncNamesOrNote(snapshot, net.name, lease, errors);
    }
    this.logRejectedNames(snapshot.rejectedNames);
    const present = new Set(snapshot.networks.map((n) => n.name));
    for (const name of this.published.keys()) if (!present.has(name)) this.published.delete(name);
    for (const name of before.keys()) {
      if (present.has(name)) continue;
      try {
        await this.options.local.drop(name);
        await this.withHost((h) => h.deleteLink(vxlanNameOf(name)).catch(() => undefined));
        this.log(`overlay network ${name} is gone from the cluster; removed it here`);
      } catch (e) {
        errors.push(`removing network ${name}: ${asBerthError(e).message}`);
      }
    }
    if (errors.join() !== this.state.problems.join()) for (const line of errors) this.log(line);
    this.state = { ...this.state, lease, blocks, remotes, problems: errors };
  }

  private async syncNamesOrNote(snapshot: ReadSnapshot, network: string, lease: string, errors: string[]) {
    try {
      await this.syncNames(snapshot, network, lease);
    } catch (e) {
      errors.push(`names of ${network}: ${asBerthError(e).message}`);
    }
  }

  /**
   * Publishes this host's name records of a network under the lease, and makes its imported
   * records the other hosts' published ones. A network without names here (none on it, or no
   * record of it on this host): what this host published is withdrawn, what it imported dropped.
   */
  private async syncNames(snapshot: ReadSnapshot, network: string, lease: string): Promise<void> {
    const names = this.options.local.names;
    if (!names) return;
    const local = names.local(network);
    const { cluster, node } = this.options;
    const of = snapshot.names.filter((n) => n.network === network);
    const publish = planPublish(
      local ?? [],
      of.filter((n) => n.node === node),
      lease,
    );
    if (publish.put.length > 0 || publish.remove.length > 0) {
      // False: the network is gone from etcd meanwhile; the next sync plans again from what is there.
      if (!(await cluster.publishNames(network, node, publish.put, publish.remove, lease))) {
        this.log(`publishing the names of ${node} on ${network} was refused: the network is gone from etcd`);
      }
    }
    if (local === undefined) this.published.delete(network);
    else this.published.set(network, JSON.stringify(local));
    const imports = planImport(local === undefined ? [] : of, node, names.imported(network));
    if (imports.put.length > 0 || imports.remove.length > 0) names.importNames(network, imports.put, imports.remove);
  }

  /** Logs the name keys whose value is no record, each once while it stays so. */
  private logRejectedNames(keys: readonly string[]): void {
    for (const key of keys) {
      if (!this.rejectedNames.has(key)) this.log(`skipped name key ${key}: its value is no name record`);
    }
    this.rejectedNames = new Set(keys);
  }

  /** Holds one block per network under the lease, replanning from a fresh snapshot when a compare-and-swap loses. */
  private async claim(
    holderOf: (network: string) => BlockHolder,
    lease: string,
    preferred: (network: string) => string | undefined,
  ): Promise<ReadSnapshot> {
    const { cluster } = this.options;
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      const snapshot = await cluster.snapshot();
      const steps = planClaims(snapshot, holderOf, lease, preferred);
      if (steps.every((s) => s.kind === 'held' || s.kind === 'full')) return snapshot;
      for (const step of steps) await this.take(step, holderOf, lease);
    }
    return cluster.snapshot();
  }

  private async take(step: ClaimStep, holderOf: (network: string) => BlockHolder, lease: string): Promise<void> {
    const { cluster, node } = this.options;
    if (step.kind === 'claim') {
      if (await cluster.claimBlock(step.network, step.block, holderOf(step.network), lease)) {
        this.log(`${node} holds block ${step.block} of ${step.network}`);
      }
    } else if (step.kind === 'renew') {
      await cluster.renewBlock(step.network, step.block, holderOf(step.network), lease, step.modRevision);
    } else if (step.kind === 'release') {
      await cluster.releaseBlock(step.network, step.block, step.modRevision);
    }
  }

  private async withHost<T>(fn: (h: NetlinkHandle) => Promise<T>): Promise<T> {
    const h = NetlinkHandle.open(this.options.hostNetnsPath ?? '');
    try {
      return await fn(h);
    } finally {
      h.close();
    }
  }
}
