import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { type BlockHolder, ClusterKeys, type ClusterSnapshot, type HeldBlock, type OverlayNetwork } from './model.js';
import { ownerKeyOf, type PublishedName, type PublishedValue, parsePublishedValue } from './names.js';
import { type OverlayOptions, resolveOverlay } from './spec.js';

/**
 * The cluster's store: etcd, through the `etcd3` client. The client (and the
 * gRPC stack under it) loads on the first connect only, so nothing that never
 * names an etcd pays for it: the CNI plugins do not load this module at all.
 */

export interface ClusterOptions {
  /** One client URL or several, comma-separated: http://10.0.0.1:2379, https://..., or unix:/path/to/socket. */
  readonly url: string;
  /** The prefix of berth's keys; default /berth/. */
  readonly prefix?: string;
  /** How long one call may take before it fails with code 11 (ms); default 5000. */
  readonly callTimeoutMs?: number;
}

/** A lease of this host's: its id, and a way to end it (revoke) or just stop renewing it (release: it runs out). */
export interface HostLease {
  readonly id: string;
  readonly ttlSeconds: number;
  revoke(): Promise<void>;
  release(): void;
}

/** A snapshot with the hosts' published names, and the revision it was read at. */
export type ReadSnapshot = ClusterSnapshot & {
  readonly names: readonly PublishedName[];
  /** Name keys whose value is no record (no name, no address, damaged): skipped, never imported. */
  readonly rejectedNames: readonly string[];
  readonly revision: string;
};

const CREATE_ATTEMPTS = 5;
const TXN_OPS = 100;
const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/** The URLs of --etcd, checked. */
export function parseEtcdUrls(url: string): string[] {
  const hosts = String(url)
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  const bad = hosts.find((u) => !/^(https?:\/\/[^/\s]+\/?|unix:\/\S+)$/.test(u));
  if (hosts.length === 0 || bad !== undefined) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `invalid etcd URL ${JSON.stringify(bad ?? url)}`,
      "give etcd's client URL, e.g. http://10.0.0.1:2379 (several: comma-separated; a socket: unix:/path)",
    );
  }
  return hosts.map((u) => u.replace(/\/$/, ''));
}

export class Cluster {
  readonly keys: ClusterKeys;
  private readonly timeoutMs: number;

  private constructor(
    readonly url: string,
    private readonly client: Etcd3,
    options: ClusterOptions,
  ) {
    this.keys = new ClusterKeys(options.prefix);
    this.timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  /** A client for the store; nothing is sent until the first call. */
  static async connect(options: ClusterOptions): Promise<Cluster> {
    const hosts = parseEtcdUrls(options.url);
    const timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({
      hosts,
      dialTimeout: timeoutMs,
      // Watches and lease keep-alives are streams that live as long as the agent.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    });
    return new Cluster(hosts.join(','), client, options);
  }

  close(): void {
    this.client.close();
  }

  /** Every overlay network and every held block. */
  async snapshot(): Promise<ReadSnapshot> {
    const res = await this.call('read the overlay networks', () =>
      this.client.getAll().prefix(this.keys.prefix).exec(),
    );
    const networks: OverlayNetwork[] = [];
    const blocks: HeldBlock[] = [];
    const published: PublishedName[] = [];
    const rejectedNames: string[] = [];
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      const name = this.keys.parseNetwork(key);
      if (name !== undefined) {
        const net = parseJson<OverlayNetwork>(kv);
        if (net && net.name === name && typeof net.subnet === 'string' && Number.isInteger(net.vni)) networks.push(net);
        continue;
      }
      const named = this.keys.parseName(key);
      if (named) {
        const value = parsePublishedValue(parseJson<unknown>(kv));
        if (value && ownerKeyOf(value.owner) === key.slice(key.lastIndexOf('/') + 1)) {
          published.push({ ...named, ...value, lease: kv.lease });
        } else {
          rejectedNames.push(key);
        }
        continue;
      }
      const where = this.keys.parseBlock(key);
      if (where) {
        const holder = parseJson<BlockHolder>(kv);
        if (
          holder &&
          typeof holder.node === 'string' &&
          typeof holder.address === 'string' &&
          typeof holder.vtepMac === 'string'
        ) {
          blocks.push({
            ...where,
            node: holder.node,
            address: holder.address,
            vtepMac: holder.vtepMac,
            lease: kv.lease,
            modRevision: kv.mod_revision,
          });
        }
      }
    }
    // A block whose network is gone is no one's to route.
    const names = new Set(networks.map((n) => n.name));
    return {
      networks,
      blocks: blocks.filter((b) => names.has(b.network)),
      names: published.filter((p) => names.has(p.network)),
      rejectedNames,
      revision: res.header.revision,
    };
  }

  async network(name: string): Promise<OverlayNetwork | undefined> {
    return (await this.snapshot()).networks.find((n) => n.name === name);
  }

  /**
   * Creates an overlay network: one transaction that succeeds only when no network was
   * created or removed since the ones it was checked against were read (name, subnet, VNI).
   */
  async createNetwork(options: OverlayOptions): Promise<OverlayNetwork> {
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const res = await this.call('read the overlay networks', () =>
        this.client.getAll().prefix(this.keys.networks).exec(),
      );
      const existing = res.kvs.flatMap((kv) => parseJson<OverlayNetwork>(kv) ?? []);
      const guard = await this.call('read the overlay networks', () =>
        this.client.get(this.keys.networksChanged).exec(),
      );
      const guardRevision = guard.kvs[0]?.mod_revision ?? '0';
      const net = resolveOverlay(options, existing, new Date().toISOString());
      const done = await this.call(`create overlay network ${net.name}`, () =>
        this.client
          .if(this.keys.networksChanged, 'Mod', '==', guardRevision)
          .and(this.keys.network(net.name), 'Create', '==', 0)
          .then(
            this.client.put(this.keys.network(net.name)).value(JSON.stringify(net)),
            this.client.put(this.keys.networksChanged).value(net.name),
          )
          .commit(),
      );
      if (done.succeeded) return net;
    }
    throw new BerthError(
      ErrorCode.TryAgainLater,
      `overlay network ${options.name} was not created: the cluster's networks kept changing while it was checked`,
      'try again',
    );
  }

  /** Removes the network and every block of it; false when there was none. */
  async deleteNetwork(name: string): Promise<boolean> {
    const res = await this.call(`remove overlay network ${name}`, () =>
      this.client
        .if(this.keys.network(name), 'Create', '>', 0)
        .then(
          this.client.delete().key(this.keys.network(name)),
          this.client.delete().prefix(this.keys.blocks(name)),
          this.client.delete().prefix(this.keys.names(name)),
          this.client.put(this.keys.networksChanged).value(name),
        )
        .commit(),
    );
    return res.succeeded;
  }

  /** A lease that the client renews every third of its TTL; onLost when it ran out all the same. */
  async grantLease(ttlSeconds: number, onLost: (why: string) => void): Promise<HostLease> {
    const lease: Lease = this.client.lease(ttlSeconds);
    // A failed grant fires 'lost' too; the caller hears of that through the rejection alone.
    let granted = false;
    lease.on('lost', (e) => {
      if (granted) onLost(e.message);
    });
    const id = await this.call('take a lease', () => lease.grant()).catch((e: unknown) => {
      lease.release();
      throw e;
    });
    granted = true;
    return {
      id,
      ttlSeconds,
      revoke: () => this.call('revoke the lease', () => lease.revoke()),
      release: () => lease.release(),
    };
  }

  /** Takes a free block under the lease, while the network exists; false when another host was faster. */
  async claimBlock(network: string, block: string, holder: BlockHolder, lease: string): Promise<boolean> {
    const key = this.keys.block(network, block);
    const res = await this.call(`claim block ${block} of ${network}`, () =>
      this.client
        .if(key, 'Create', '==', 0)
        .and(this.keys.network(network), 'Create', '>', 0)
        .then(this.client.put(key).value(JSON.stringify(holder)).lease(lease))
        .commit(),
    );
    return res.succeeded;
  }

  /** Puts this host's block again (under a new lease, or with a new address), if it is unchanged since read. */
  async renewBlock(
    network: string,
    block: string,
    holder: BlockHolder,
    lease: string,
    modRevision: string,
  ): Promise<boolean> {
    const key = this.keys.block(network, block);
    const res = await this.call(`renew block ${block} of ${network}`, () =>
      this.client
        .if(key, 'Mod', '==', modRevision)
        .then(this.client.put(key).value(JSON.stringify(holder)).lease(lease))
        .commit(),
    );
    return res.succeeded;
  }

  /**
   * Puts and removes this node's name records of a network in one transaction, the puts under
   * the lease; nothing while the network does not exist. False when it did not.
   */
  async publishNames(
    network: string,
    node: string,
    put: readonly PublishedValue[],
    remove: readonly string[],
    lease: string,
  ): Promise<boolean> {
    const key = (owner: string) => this.keys.name(network, node, ownerKeyOf(owner));
    const ops = [
      ...remove.map((owner) => () => this.client.delete().key(key(owner))),
      ...put.map((v) => () => this.client.put(key(v.owner)).value(JSON.stringify(v)).lease(lease)),
    ];
    // etcd takes at most 128 operations in one transaction by default.
    for (let i = 0; i < ops.length; i += TXN_OPS) {
      const chunk = ops.slice(i, i + TXN_OPS);
      const res = await this.call(`publish the names of ${node} on ${network}`, () =>
        this.client
          .if(this.keys.network(network), 'Create', '>', 0)
          .then(...chunk.map((op) => op()))
          .commit(),
      );
      if (!res.succeeded) return false;
    }
    return true;
  }

  /** Gives a block back, if it is unchanged since read. */
  async releaseBlock(network: string, block: string, modRevision: string): Promise<boolean> {
    const key = this.keys.block(network, block);
    const res = await this.call(`release block ${block} of ${network}`, () =>
      this.client.if(key, 'Mod', '==', modRevision).then(this.client.delete().key(key)).commit(),
    );
    return res.succeeded;
  }

  /**
   * Calls onChange after every change under the prefix, and after the watch was
   * re-established (changes while it was lost were not seen). Resolves once the
   * watch is in place; the returned function ends it.
   */
  async watch(onChange: (why: string) => void, log: (line: string) => void): Promise<() => Promise<void>> {
    const watcher = await this.call('watch the overlay networks', () =>
      this.client.watch().prefix(this.keys.prefix).create(),
    );
    let lost = false;
    watcher.on('data', () => onChange('a change in the store'));
    watcher.on('disconnected', (e) => {
      lost = true;
      log(`the watch of ${this.url} is lost (${e.message}); reconnecting`);
    });
    watcher.on('connected', () => {
      if (!lost) return;
      lost = false;
      onChange('the watch came back');
    });
    watcher.on('error', (e) => log(`the watch of ${this.url} failed: ${e.message}`));
    return () => watcher.cancel();
  }

  /** Runs one call to etcd, bounded in time; a failure says which etcd and what to check. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unreachable(what, `no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (e) {
      if (e instanceof BerthError) throw e;
      // gRPC ends some messages with an empty "Resolution note:".
      throw this.unreachable(what, String((e as Error).message).replace(/\s*Resolution note:\s*$/, ''));
    } finally {
      clearTimeout(timer);
    }
  }

  private unreachable(what: string, why: string): BerthError {
    return new BerthError(
      ErrorCode.TryAgainLater,
      `could not ${what}: etcd at ${this.url} did not answer (${why})`,
      'check that etcd runs there and that --etcd (or $BERTH_ETCD) names its client URL',
    );
  }
}

function parseJson<T>(kv: IKeyValue): T | undefined {
  try {
    const value = JSON.parse(kv.value.toString()) as unknown;
    return value && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
