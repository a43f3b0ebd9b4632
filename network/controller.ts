import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { binding, isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode, TeardownErrors } from '../base/errors.js';
import { spawnInNetnsWithBinds } from '../base/exec.js';
import { validateDnsName, validateIfName } from '../base/names.js';
import { NetlinkHandle } from '../netlink/index.js';
import { idFor, type NetworkOptions, resolveNetwork, validateName } from './config.js';
import { attachVeth, type BridgeSpec, detachVeth, ensureBridge, isGone } from './drivers/bridge.js';
import { NetworkFirewall } from './firewall.js';
import { Allocator } from './ipam/allocator.js';
import { FileStore } from './ipam/file-store.js';
import { parseRangeSet } from './ipam/range.js';
import type { EndpointRecord, NetworkRecord, SandboxMode, SandboxRecord } from './model.js';
import { ensureNameService } from './names/launch.js';
import { attachmentNames, namesNetworkOf } from './names/network.js';
import {
  refreshSandboxFiles,
  removeFilesOf,
  type SandboxDnsContext,
  sandboxBindsOf,
  writeFilesOf,
} from './names/sandbox-dns.js';
import { DEFAULT_ETC_NETNS_DIR, type DnsSettings, type HostEntry, validateDnsSettings } from './names/sandbox-files.js';
import { NamesStore } from './names/store.js';
import { PortMapper } from './ports.js';
import { type PortSpec, type PortSpecInput, validatePortSpec } from './portspec.js';
import { DEFAULT_STATE_DIR, StateStore } from './state.js';
import { teardown, transaction, type UndoStack } from './undo.js';

export interface ControllerOptions {
  /** Where berth keeps its records. Default /var/lib/berth. */
  readonly stateDir?: string;
  /** The netns that plays the host: bridges and firewall rules live there. Default: the one this process is in. */
  readonly hostNetnsPath?: string;
  /** Where named namespaces of sandboxes are made. Default /run/netns. */
  readonly netnsDir?: string;
  readonly firewallBackend?: 'nftables' | 'iptables';
  /** Where sandboxes' resolv.conf and hosts go, a folder per netns. Default /etc/netns (`ip netns exec` reads them there). */
  readonly etcNetnsDir?: string;
}

export interface SandboxOptions {
  readonly name: string;
  /** none (default): a new netns with lo up; host: the host's netns; container: the netns of `shareWith`. */
  readonly mode?: SandboxMode;
  readonly shareWith?: string;
  /**
   * Its resolv.conf (none mode only): given nameservers, search domains and options replace what
   * berth would write (the name services of its networks, else the host's resolvers).
   */
  readonly dns?: DnsSettings;
  /** Lines for its hosts file besides localhost and its own addresses (none mode only). */
  readonly hosts?: readonly HostEntry[];
}

export interface EndpointOptions {
  readonly name: string;
  /** Addresses to ask IPAM for, one per family, without prefix. */
  readonly ips?: readonly string[];
  readonly mac?: string;
  /** More names for its sandbox on this network (a network with names answers them too). */
  readonly aliases?: readonly string[];
}

export interface JoinOptions {
  readonly ifname?: string;
}

const notFound = (what: string, name: string, fix: string) =>
  new BerthError(ErrorCode.UnknownContainer, `no ${what} named ${JSON.stringify(name)}`, fix);
const now = () => new Date().toISOString();

/** libnetwork's Controller: owns networks and sandboxes; every change goes through its state store. */
export class Controller {
  readonly store: StateStore;
  readonly firewall: NetworkFirewall;
  readonly ports: PortMapper;
  /** The name service's records: networks with names and the names of their attachments. */
  readonly names: NamesStore;
  readonly sandboxDns: SandboxDnsContext;

  private constructor(
    readonly stateDir: string,
    readonly hostNetnsPath: string,
    readonly netnsDir: string,
    firewallBackend: 'nftables' | 'iptables' | undefined,
    etcNetnsDir: string,
  ) {
    this.store = new StateStore(stateDir);
    this.names = NamesStore.in(stateDir);
    this.sandboxDns = { store: this.store, names: this.names, etcNetnsDir };
    this.firewall = new NetworkFirewall({
      hostNetnsPath,
      recordDir: this.firewallRecordDir,
      ...(firewallBackend ? { backend: firewallBackend } : {}),
    });
    this.ports = new PortMapper({ store: this.store, firewall: () => this.firewall.firewall(), hostNetnsPath });
  }

  static async open(options: ControllerOptions = {}): Promise<Controller> {
    const ctl = new Controller(
      options.stateDir ?? DEFAULT_STATE_DIR,
      options.hostNetnsPath ?? '',
      options.netnsDir ?? '/run/netns',
      options.firewallBackend,
      options.etcNetnsDir ?? DEFAULT_ETC_NETNS_DIR,
    );
    await ctl.store.locked(() => undefined); // creates stateDir and its lock, 0700
    return ctl;
  }

  /** Re-applies every rule berth recorded (networks, published ports, CNI attachments) after the ruleset was flushed. */
  async reloadFirewall(): Promise<void> {
    await (await this.firewall.firewall()).reload();
  }

  /**
   * Makes sure the name service runs while some network has names (a killed one is started again)
   * and, given a network, that it listens there. Its PID, or undefined when no network has names.
   */
  ensureNameService(network?: string): Promise<number | undefined> {
    return ensureNameService(this.stateDir, { hostNetnsPath: this.hostNetnsPath, ...(network ? { network } : {}) });
  }

  /** Opens a netlink handle in the host netns for the duration of fn. */
  async withHost<T>(fn: (host: NetlinkHandle) => Promise<T>): Promise<T> {
    const host = await NetlinkHandle.open(this.hostNetnsPath);
    try {
      return await fn(host);
    } finally {
      host.close();
    }
  }

  /** Where the networks' address reservations are, one folder per network in host-local's format. */
  get ipamDataDir(): string {
    return join(this.stateDir, 'ipam');
  }

  /** Where the firewall keeps its per-owner records. */
  get firewallRecordDir(): string {
    return join(this.stateDir, 'firewall');
  }

  ipam(net: NetworkRecord): Allocator {
    const sets = net.subnets.map((s) =>
      parseRangeSet([{ subnet: s.subnet, gateway: s.gateway }], `network ${net.name}`),
    );
    return new Allocator(new FileStore(net.name, { dataDir: this.ipamDataDir }), sets);
  }

  // --- networks

  async createNetwork(options: NetworkOptions): Promise<Network> {
    const record = await this.store.locked(async () => {
      const existing = this.store.list<NetworkRecord>('networks');
      const config = resolveNetwork(options, existing);
      let rec: NetworkRecord = { ...config, createdAt: now() };
      if (rec.driver === 'bridge') {
        // The handle outlives the transaction: a rollback deletes the bridge through it.
        await this.withHost((host) =>
          transaction(async (undo) => {
            const { created } = await this.setUpBridge(host, rec, undo);
            rec = { ...rec, createdBridge: created };
            await this.firewall.addNetwork(rec);
            undo.push(`firewall rules of network ${rec.name}`, () => this.firewall.removeNetwork(rec.name));
            if (rec.dns) {
              this.names.setNetwork(namesNetworkOf(rec));
              undo.push(`names of network ${rec.name}`, () => this.names.removeNetwork(rec.name));
              await this.ensureNameService(rec.name);
            }
            this.store.write('networks', rec.name, rec);
          }),
        );
      } else {
        this.store.write('networks', rec.name, rec);
      }
      return rec;
    });
    return new Network(this, record);
  }

  private async setUpBridge(
    host: NetlinkHandle,
    rec: NetworkRecord,
    undo?: Parameters<typeof ensureBridge>[2],
  ): Promise<{ created: boolean }> {
    const bridge = await ensureBridge(host, bridgeSpec(rec), undo);
    await host.enableForwarding(4);
    if (rec.subnets.some((s) => s.subnet.includes(':'))) await host.enableForwarding(6);
    return bridge;
  }

  network(name: string): Network {
    const rec = this.store.read<NetworkRecord>('networks', validateName(name, 'network'));
    if (!rec) throw notFound('network', name, 'see `berth network ls` for the networks that exist');
    return new Network(this, rec);
  }

  networks(): Network[] {
    return this.store.list<NetworkRecord>('networks').map((r) => new Network(this, r));
  }

  // --- sandboxes

  async createSandbox(options: SandboxOptions): Promise<Sandbox> {
    const name = validateName(options.name, 'sandbox');
    const mode = options.mode ?? 'none';
    validateDnsSettings(options.dns, options.hosts);
    if ((options.dns || options.hosts) && mode !== 'none') {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `sandbox ${name} is in ${mode} mode and takes no dns or hosts`,
        mode === 'host'
          ? "a host-mode sandbox sees the host's resolv.conf and hosts"
          : `a container-mode sandbox sees the files of the sandbox it shares (${options.shareWith}): give them there`,
      );
    }
    const record = await this.store.locked(async () => {
      if (this.store.read('sandboxes', name)) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `a sandbox named ${JSON.stringify(name)} already exists`,
          'choose another name, or remove it first',
        );
      }
      let rec: SandboxRecord;
      const id = randomBytes(8).toString('hex');
      if (mode === 'none') {
        let netnsPath: string;
        try {
          netnsPath = binding().createNetns(this.netnsDir, name);
        } catch (e) {
          if (!isSystemError(e, 'EEXIST')) throw e;
          throw new BerthError(
            ErrorCode.InvalidConfig,
            `a network namespace named ${JSON.stringify(name)} already exists (${join(this.netnsDir, name)})`,
            `choose another sandbox name; if nothing uses it, remove it with: ip netns del ${name}`,
          );
        }
        try {
          const inside = await NetlinkHandle.open(netnsPath);
          try {
            await inside.setLinkUp('lo');
          } finally {
            inside.close();
          }
        } catch (e) {
          binding().deleteNetns(netnsPath);
          throw e;
        }
        rec = {
          name,
          id,
          mode,
          netnsPath,
          ownsNetns: true,
          ...(options.dns ? { dns: options.dns } : {}),
          ...(options.hosts ? { hosts: options.hosts } : {}),
          createdAt: now(),
        };
        try {
          writeFilesOf(this.sandboxDns, rec);
        } catch (e) {
          removeFilesOf(this.sandboxDns, rec);
          binding().deleteNetns(netnsPath);
          throw e;
        }
      } else if (mode === 'host') {
        rec = {
          name,
          id,
          mode,
          netnsPath: this.hostNetnsPath || '/proc/self/ns/net',
          ownsNetns: false,
          createdAt: now(),
        };
      } else if (mode === 'container') {
        if (!options.shareWith) {
          throw new BerthError(
            ErrorCode.InvalidConfig,
            `sandbox ${name} is in container mode but names no sandbox to share`,
            'give shareWith: the name of a running sandbox',
          );
        }
        const other = this.store.read<SandboxRecord>('sandboxes', validateName(options.shareWith, 'sandbox'));
        if (!other)
          throw notFound(
            'sandbox',
            options.shareWith,
            'container mode joins the netns of an existing sandbox; create it first',
          );
        rec = {
          name,
          id,
          mode,
          netnsPath: other.netnsPath,
          ownsNetns: other.ownsNetns,
          shareWith: other.name,
          createdAt: now(),
        };
      } else {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `unknown sandbox mode ${JSON.stringify(mode)}`,
          'use "none", "host" or "container"',
        );
      }
      try {
        this.store.write('sandboxes', name, rec);
      } catch (e) {
        // Unrecorded, the netns would be no one's to delete.
        if (rec.mode === 'none') {
          removeFilesOf(this.sandboxDns, rec);
          binding().deleteNetns(rec.netnsPath);
        }
        throw e;
      }
      return rec;
    });
    return new Sandbox(this, record);
  }

  sandbox(name: string): Sandbox {
    const rec = this.store.read<SandboxRecord>('sandboxes', validateName(name, 'sandbox'));
    if (!rec) throw notFound('sandbox', name, 'see `berth sandbox ls` for the sandboxes that exist');
    return new Sandbox(this, rec);
  }

  sandboxes(): Sandbox[] {
    return this.store.list<SandboxRecord>('sandboxes').map((r) => new Sandbox(this, r));
  }

  /** Every endpoint of every network, as records. */
  endpointRecords(): EndpointRecord[] {
    return this.store.list<EndpointRecord>('endpoints');
  }
}

function bridgeSpec(rec: NetworkRecord): BridgeSpec {
  return {
    bridgeName: rec.bridgeName,
    mtu: rec.mtu,
    hairpin: rec.hairpin,
    promiscuous: rec.promiscuous,
    gatewayAddresses: rec.subnets.map((s) => `${s.gateway}/${s.prefixLength}`),
  };
}

/** The state store's name of an endpoint record. */
export const endpointKey = (network: string, name: string) => `${network}.${name}`;

/** What a join made, as the endpoint record keeps it. */
type Joined = { readonly hostVeth: string; readonly mac: string; readonly addresses: readonly string[] };

export class Network {
  constructor(
    readonly controller: Controller,
    readonly record: NetworkRecord,
  ) {}

  get name(): string {
    return this.record.name;
  }
  get id(): string {
    return this.record.id;
  }
  get driver(): string {
    return this.record.driver;
  }

  async createEndpoint(options: EndpointOptions): Promise<Endpoint> {
    const name = validateName(options.name, 'endpoint');
    const aliases = [...new Set((options.aliases ?? []).map((a) => validateDnsName(a, 'alias')))];
    const { store } = this.controller;
    const rec = await store.locked(() => {
      if (!store.read('networks', this.name)) throw notFound('network', this.name, 'it was removed; create it again');
      if (store.read('endpoints', endpointKey(this.name, name))) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `network ${this.name} already has an endpoint named ${JSON.stringify(name)}`,
          'choose another name',
        );
      }
      const r: EndpointRecord = {
        name,
        id: idFor(`${this.name}/${name}/${randomBytes(4).toString('hex')}`),
        network: this.name,
        ...(aliases.length > 0 ? { aliases } : {}),
        createdAt: now(),
      };
      store.write('endpoints', endpointKey(this.name, name), r);
      return r;
    });
    return new Endpoint(this, rec, options);
  }

  endpoint(name: string): Endpoint {
    const rec = this.controller.store.read<EndpointRecord>(
      'endpoints',
      endpointKey(this.name, validateName(name, 'endpoint')),
    );
    if (!rec) throw notFound('endpoint', name, `see the endpoints of network ${this.name}`);
    return new Endpoint(this, rec);
  }

  endpoints(): Endpoint[] {
    return this.controller
      .endpointRecords()
      .filter((e) => e.network === this.name)
      .map((e) => new Endpoint(this, e));
  }

  /** Refuses while endpoints exist; removes the bridge, the rules and the reservations folder. */
  async delete(): Promise<void> {
    const ctl = this.controller;
    await ctl.store.locked(async () => {
      const eps = ctl.endpointRecords().filter((e) => e.network === this.name);
      if (eps.length > 0) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `network ${this.name} still has ${eps.length} endpoint(s): ${eps.map((e) => e.name).join(', ')}`,
          'disconnect and remove them first',
        );
      }
      const errors = await teardown(
        this.record.driver === 'bridge'
          ? [
              { what: `firewall rules of ${this.name}`, run: () => ctl.firewall.removeNetwork(this.name) },
              {
                what: `bridge ${this.record.bridgeName}`,
                // A bridge berth found rather than made stays (records before this field: berth made it).
                run: () =>
                  this.record.createdBridge === false
                    ? undefined
                    : ctl.withHost((h) => h.deleteLink(this.record.bridgeName)),
              },
            ]
          : [],
        isGone,
      );
      ctl.store.remove('networks', this.name);
      ctl.names.removeNetwork(this.name);
      // A network made again under this name starts with no reservation.
      const ipam = new FileStore(this.name, { dataDir: ctl.ipamDataDir });
      rmSync(ipam.dir, { recursive: true, force: true });
      rmSync(ipam.indexPath, { force: true });
      if (errors.length > 0) throw new TeardownErrors(errors);
    });
  }
}

export class Endpoint {
  constructor(
    readonly network: Network,
    private rec: EndpointRecord,
    private readonly options: Pick<EndpointOptions, 'ips' | 'mac'> = {},
  ) {}

  get name(): string {
    return this.rec.name;
  }
  get id(): string {
    return this.rec.id;
  }
  get record(): EndpointRecord {
    return this.rec;
  }
  /** Addresses with prefix, e.g. ['10.89.0.2/24']; empty until joined. */
  get addresses(): readonly string[] {
    return this.rec.join?.addresses ?? [];
  }
  get sandbox(): string | undefined {
    return this.rec.join?.sandbox;
  }

  async join(sandbox: Sandbox, options: JoinOptions = {}): Promise<void> {
    const ctl = this.network.controller;
    const net = this.network.record;
    const ifname = validateIfName(options.ifname ?? 'eth0');
    const key = endpointKey(net.name, this.name);
    await ctl.store.locked(async () => {
      const current = ctl.store.read<EndpointRecord>('endpoints', key);
      if (!current) throw notFound('endpoint', this.name, `it was removed from network ${net.name}`);
      if (current.join) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `endpoint ${this.name} is already joined to sandbox ${current.join.sandbox}`,
          'leave it first',
        );
      }
      const sb = ctl.store.read<SandboxRecord>('sandboxes', sandbox.name);
      if (!sb) throw notFound('sandbox', sandbox.name, 'create it first');
      if (net.driver === 'bridge' && sb.mode !== 'none') {
        const fix =
          sb.mode === 'host'
            ? 'a host-mode sandbox uses the host network as is'
            : `connect sandbox ${sb.shareWith} instead`;
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `sandbox ${sb.name} is in ${sb.mode} mode and cannot join bridge network ${net.name}`,
          fix,
        );
      }
      if (net.driver === 'host' && sb.mode !== 'host') {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `only a host-mode sandbox joins the host network; ${sb.name} is in ${sb.mode} mode`,
          'create the sandbox with mode "host"',
        );
      }
      const taken = ctl.endpointRecords().find((e) => e.join?.netnsPath === sb.netnsPath && e.join.ifname === ifname);
      if (taken && net.driver === 'bridge') {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `sandbox ${sb.name} already has an interface ${ifname} (endpoint ${taken.name} of ${taken.network})`,
          'give another ifname, e.g. eth1',
        );
      }
      const save = (joined: Joined): EndpointRecord => {
        const next = { ...current, join: { sandbox: sb.name, netnsPath: sb.netnsPath, ifname, ...joined } };
        ctl.store.write('endpoints', key, next);
        return next;
      };
      this.rec =
        net.driver === 'bridge'
          ? await this.joinBridge(sb, ifname, current, save)
          : save({ hostVeth: '', mac: '', addresses: [] });
    });
  }

  /** The kernel side of a bridge join; `save` is the transaction's last step, so a failed save undoes the rest. */
  private joinBridge(
    sb: SandboxRecord,
    ifname: string,
    current: EndpointRecord,
    save: (joined: Joined) => EndpointRecord,
  ): Promise<EndpointRecord> {
    const ctl = this.network.controller;
    const net = this.network.record;
    // The handle outlives the transaction: a rollback deletes the veth through it.
    return ctl.withHost((host) =>
      transaction(async (undo) => {
        const ipam = ctl.ipam(net);
        const allocations = await ipam.allocate(this.id, ifname, this.options.ips ?? []);
        undo.push(`addresses of ${this.name}`, () => ipam.release(this.id, ifname));
        const addresses = allocations.map((a) => a.address);
        const hostVeth = `veth${this.id.slice(0, 11)}`;
        await ensureBridge(host, bridgeSpec(net));
        const attached = await attachVeth(
          host,
          bridgeSpec(net),
          {
            hostVethName: hostVeth,
            sandboxNetnsPath: sb.netnsPath,
            ifname,
            addresses,
            routes: allocations.map((a) => ({ dst: 'default', gateway: a.gateway })),
            ...(this.options.mac ? { mac: this.options.mac } : {}),
          },
          undo,
        );
        await this.registerNames(sb, current, addresses, undo);
        return save({ hostVeth, mac: attached.container.mac, addresses });
      }),
    );
  }

  /**
   * The sandbox's names on a network with names (its name and the endpoint's aliases), served
   * before the join returns; then its resolv.conf and hosts with this network in them.
   */
  private async registerNames(
    sb: SandboxRecord,
    current: EndpointRecord,
    addresses: readonly string[],
    undo: UndoStack,
  ): Promise<void> {
    const ctl = this.network.controller;
    const network = this.network.name;
    const bare = addresses.map((a) => a.split('/')[0]!);
    if (ctl.names.network(network)) {
      const names = attachmentNames(sb.name, current.aliases);
      ctl.names.put(network, { owner: this.id, names, addresses: bare, netns: sb.netnsPath });
      undo.push(`names of ${this.name}`, () => ctl.names.remove(network, this.id));
      await ctl.ensureNameService(network);
    }
    refreshSandboxFiles(ctl.sandboxDns, sb.netnsPath, { network, addresses: bare });
    undo.push(`resolv.conf and hosts of ${sb.name}`, () => refreshSandboxFiles(ctl.sandboxDns, sb.netnsPath));
  }

  /** The ports this endpoint publishes, as given. */
  get ports(): readonly PortSpec[] {
    return this.network.controller.ports.get(this.id)?.specs ?? [];
  }

  /**
   * Publishes ports of the joined endpoint on the host (DNAT from hostIP:hostPort, every host
   * address when hostIP is absent); adds to what it already publishes. A port another owner holds
   * is refused, naming the holder.
   */
  async publish(specs: readonly PortSpecInput[]): Promise<readonly PortSpec[]> {
    const parsed = specs.map(validatePortSpec);
    const ctl = this.network.controller;
    const net = this.network.record;
    const current = ctl.store.read<EndpointRecord>('endpoints', endpointKey(net.name, this.name));
    const j = current?.join;
    if (!j || net.driver !== 'bridge' || j.addresses.length === 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `endpoint ${this.name} of network ${net.name} has no address to publish ports to`,
        net.driver === 'bridge' ? 'join it to a sandbox first' : 'publish ports of endpoints on bridge networks',
      );
    }
    const target = {
      owner: this.id,
      label: `endpoint ${this.name} of network ${net.name}`,
      containerIPs: j.addresses.map((a) => a.split('/')[0]!),
      hostInterface: net.bridgeName,
    };
    return (await ctl.ports.publish(target, parsed, j.netnsPath)).specs;
  }

  /** Removes the given publications (host port and protocol), or all of them; gone is success. */
  async unpublish(which?: readonly { hostPort: number; protocol: string }[]): Promise<void> {
    await this.network.controller.ports.unpublish(this.id, which);
  }

  /** Best effort and idempotent: a netns, link, rule or reservation already gone is success. */
  async leave(sandbox?: Sandbox): Promise<void> {
    const ctl = this.network.controller;
    const key = endpointKey(this.network.name, this.name);
    const joinedTo = ctl.store.read<EndpointRecord>('endpoints', key)?.join?.sandbox;
    if (sandbox && joinedTo && joinedTo !== sandbox.name) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `endpoint ${this.name} is joined to ${joinedTo}, not ${sandbox.name}`,
        `leave ${joinedTo}`,
      );
    }
    // Outside the state lock: the port mapper takes it itself.
    const unpublished = await ctl.ports.unpublish(this.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    await ctl.store.locked(async () => {
      const current = ctl.store.read<EndpointRecord>('endpoints', key);
      const j = current?.join;
      if (!current || !j) return;
      if (sandbox && j.sandbox !== sandbox.name) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `endpoint ${this.name} is joined to ${j.sandbox}, not ${sandbox.name}`,
          `leave ${j.sandbox}`,
        );
      }
      const errors =
        this.network.record.driver === 'bridge'
          ? await teardown(
              [
                {
                  what: `veth ${j.hostVeth}`,
                  run: () => ctl.withHost((h) => detachVeth(h, j.hostVeth)),
                },
                {
                  what: `addresses of ${this.name}`,
                  run: () => ctl.ipam(this.network.record).release(this.id, j.ifname),
                },
              ],
              isGone,
            )
          : [];
      if (unpublished) errors.unshift(new Error(`ports of ${this.name}: ${(unpublished as Error).message}`));
      ctl.names.remove(this.network.name, this.id);
      const { join: _gone, ...rest } = current;
      this.rec = rest;
      ctl.store.write('endpoints', key, this.rec);
      try {
        refreshSandboxFiles(ctl.sandboxDns, j.netnsPath);
      } catch (e) {
        errors.push(e instanceof Error ? e : new Error(String(e)));
      }
      if (errors.length > 0) throw new TeardownErrors(errors);
    });
  }

  /** Leaves first when joined; deleting an endpoint that is gone is success. */
  async delete(): Promise<void> {
    await this.leave();
    const ctl = this.network.controller;
    await ctl.store.locked(() => ctl.store.remove('endpoints', endpointKey(this.network.name, this.name)));
  }
}

export class Sandbox {
  constructor(
    readonly controller: Controller,
    readonly record: SandboxRecord,
  ) {}

  get name(): string {
    return this.record.name;
  }
  get id(): string {
    return this.record.id;
  }
  get mode(): SandboxMode {
    return this.record.mode;
  }
  get netnsPath(): string {
    return this.record.netnsPath;
  }

  /**
   * Starts a process in the sandbox: in its netns, with its resolv.conf and hosts bound over
   * /etc's in a mount namespace of the process's own (host mode: the host's files, no binds).
   * A command that cannot start exits 127 (not found) or 126, saying why on stderr.
   */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const binds = sandboxBindsOf(this.controller.sandboxDns, this.record);
    return spawnInNetnsWithBinds(this.netnsPath, binds, command, args, options);
  }

  /** The endpoints joined through this sandbox. */
  endpoints(): Endpoint[] {
    const ctl = this.controller;
    return ctl
      .endpointRecords()
      .filter((e) => e.join?.sandbox === this.name)
      .map((e) => new Endpoint(ctl.network(e.network), e));
  }

  /**
   * Leaves every endpoint, then deletes the netns when berth made it. While
   * another sandbox shares the netns (container mode) its interfaces are that
   * sandbox's network too: they stay, and the last one out leaves them all.
   */
  async destroy(): Promise<void> {
    const ctl = this.controller;
    const errors: unknown[] = [];
    const shared =
      this.mode !== 'host' &&
      ctl.store.list<SandboxRecord>('sandboxes').some((s) => s.name !== this.name && s.netnsPath === this.netnsPath);
    const leaving = shared
      ? []
      : ctl
          .endpointRecords()
          .filter((e) => (this.mode === 'host' ? e.join?.sandbox === this.name : e.join?.netnsPath === this.netnsPath))
          .map((e) => new Endpoint(ctl.network(e.network), e));
    for (const ep of leaving) {
      try {
        await ep.leave();
      } catch (e) {
        errors.push(e);
      }
    }
    await ctl.store.locked(() => {
      const sharing = ctl.store
        .list<SandboxRecord>('sandboxes')
        .filter((s) => s.name !== this.name && s.netnsPath === this.netnsPath);
      if (this.record.ownsNetns && sharing.length === 0) {
        try {
          binding().deleteNetns(this.netnsPath);
        } catch (e) {
          if (!isGone(e)) errors.push(e);
        }
        try {
          removeFilesOf(ctl.sandboxDns, this.record);
        } catch (e) {
          errors.push(e);
        }
      }
      ctl.store.remove('sandboxes', this.name);
    });
    if (errors.length > 0) throw new TeardownErrors(errors);
  }
}
