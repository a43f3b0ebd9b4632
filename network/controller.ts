import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { openFirewall } from '../iptables/index.js';
import { NetlinkHandle } from '../netlink/index.js';
import { type NetworkOptions, resolveNetwork, validateName } from './config.js';
import { resolveDns } from './drivers/configure.js';
import { driverOf } from './drivers/index.js';
import { hasNetworkRules, NetworkFirewall } from './firewall.js';
import { Allocator } from './ipam/allocator.js';
import { FileStore } from './ipam/file-store.js';
import { parseRangeSet } from './ipam/range.js';
import {
  type EndpointRecord,
  type NetworkRecord,
  notFound,
  now,
  type SandboxMode,
  type SandboxRecord,
} from './model.js';
import { ensureNameService } from './names/launch.js';
import { namesNetworkOf } from './names/network.js';
import { removeFilesOf, type SandboxDnsContext, writeFilesOf } from './names/sandbox-dns.js';
import { DEFAULT_ETC_NETNS_DIR, type DnsSettings, type HostEntry, validateDnsSettings } from './names/sandbox-files.js';
import { NamesStore } from './names/store.js';
import { createNetnsWithLoopback, deleteNetns } from './netns.js';
import { Network } from './network.js';
import { Cluster, parseEtcdUrls } from './overlay/etcd.js';
import { localClash, overlayRecordOf } from './overlay/local.js';
import { openHost } from './pipeline/host.js';
import type { FirewallAccess } from './pipeline/request.js';
import { PortMapper } from './ports.js';
import { Sandbox } from './sandbox.js';
import { DEFAULT_STATE_DIR, StateStore } from './state.js';
import { transaction } from './undo.js';

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
  /** The cluster's store, for overlay networks: etcd's client URL(s), comma-separated. Without it, overlay networks are refused. */
  readonly etcd?: string;
  /** The prefix of berth's keys in etcd. Default /berth/. */
  readonly etcdPrefix?: string;
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

/** libnetwork's Controller: owns networks and sandboxes; every change goes through its state store. */
export class Controller {
  readonly store: StateStore;
  readonly firewall: NetworkFirewall;
  readonly ports: PortMapper;
  /** The name service's records: networks with names and the names of their attachments. */
  readonly names: NamesStore;
  readonly sandboxDns: SandboxDnsContext;

  private clusterOpened?: Promise<Cluster>;
  private etcd?: { readonly url: string; readonly prefix?: string };

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
    if (options.etcd) {
      parseEtcdUrls(options.etcd);
      ctl.etcd = { url: options.etcd, ...(options.etcdPrefix ? { prefix: options.etcdPrefix } : {}) };
    }
    return ctl;
  }

  /** The etcd the Controller was opened with, if any. */
  get etcdUrl(): string | undefined {
    return this.etcd?.url;
  }

  /** The cluster's store, connected on first use; an error naming the fix when the Controller was opened without one. */
  cluster(): Promise<Cluster> {
    const etcd = this.etcd;
    if (!etcd) {
      return Promise.reject(
        new BerthError(
          ErrorCode.InvalidConfig,
          "overlay networks need the cluster's store, and no etcd was given",
          'give --etcd URL (or set BERTH_ETCD), e.g. --etcd http://10.0.0.1:2379; in the library, Controller.open({ etcd })',
        ),
      );
    }
    this.clusterOpened ??= Cluster.connect(etcd);
    return this.clusterOpened;
  }

  /** Lets go of the cluster's store, whose connection would keep the process alive. */
  async close(): Promise<void> {
    const opened = this.clusterOpened;
    this.clusterOpened = undefined;
    if (opened) (await opened.catch(() => undefined))?.close();
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

  /** The firewall of a backend, as the attachment pipeline reaches it (the CNI plugins' records are here too). */
  get firewallAccess(): FirewallAccess {
    const recordDir = this.firewallRecordDir;
    return {
      recordDir,
      open: (backend) =>
        openFirewall({ hostNetnsPath: this.hostNetnsPath, recordDir, ...(backend ? { backend } : {}) }),
    };
  }

  ipam(net: NetworkRecord): Allocator {
    const sets = net.subnets.map((s) =>
      parseRangeSet([{ subnet: s.subnet, gateway: s.gateway }], `network ${net.name}`),
    );
    return new Allocator(new FileStore(net.name, { dataDir: this.ipamDataDir }), sets);
  }

  // --- networks

  /** Records the network after its driver made what the network itself needs (a bridge) and its rules are in. */
  async createNetwork(options: NetworkOptions): Promise<Network> {
    if (options.driver === 'overlay') return this.createOverlayNetwork(options);
    const record = await this.store.locked(async () => {
      const config = resolveNetwork(options, this.store.list<NetworkRecord>('networks'));
      const driver = driverOf(config.driver);
      // Outlives the transaction: a rollback deletes the bridge through it.
      const host = openHost(this.hostNetnsPath);
      try {
        return await transaction(async (undo) => {
          let rec: NetworkRecord = { ...config, createdAt: now() };
          const { createdBridge } = await driver.createNetwork(host, rec, undo);
          if (createdBridge !== undefined) rec = { ...rec, createdBridge };
          if (hasNetworkRules(rec)) {
            await this.firewall.addNetwork(rec);
            undo.push(`firewall rules of network ${rec.name}`, () => this.firewall.removeNetwork(rec.name));
          }
          if (rec.dns) {
            this.names.setNetwork(namesNetworkOf(rec));
            undo.push(`names of network ${rec.name}`, () => this.names.removeNetwork(rec.name));
            await this.ensureNameService(rec.name);
          }
          this.store.write('networks', rec.name, rec);
          return rec;
        });
      } finally {
        host.close();
      }
    });
    return new Network(this, record);
  }

  /**
   * An overlay network, made in the cluster's store for every host. It becomes a network of
   * this host when this host's agent holds a block of it; until then its record has no subnet.
   */
  private async createOverlayNetwork(options: NetworkOptions): Promise<Network> {
    const name = validateName(options.name, 'network');
    const ignored = [
      ...(['gateway', 'subnet6', 'gateway6', 'bridgeName'] as const).filter((k) => options[k] !== undefined),
      ...(options.masquerade === false ? ['masquerade: false'] : []),
      ...(options.isolate === false ? ['isolate: false'] : []),
    ];
    if (ignored.length > 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `the overlay driver takes no ${ignored.join(', ')}`,
        "leave them out: an overlay network's gateways are its hosts' bridges, and it masquerades what leaves it",
      );
    }
    const dns = resolveDns(options.dns);
    const cluster = await this.cluster();
    const net = await cluster.createNetwork({
      name,
      subnet: options.subnet as string,
      ...(options.vni !== undefined ? { vni: options.vni } : {}),
      ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
      ...(options.blockPrefix !== undefined ? { blockPrefix: options.blockPrefix } : {}),
      ...(dns ? { dns } : {}),
      check: (candidate) => {
        const clash = localClash(this.store.list<NetworkRecord>('networks'), candidate);
        if (clash) throw clash;
      },
    });
    return new Network(this, overlayRecordOf(net));
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
      const rec = await this.newSandbox(name, mode, options);
      try {
        this.store.write('sandboxes', name, rec);
      } catch (e) {
        // Unrecorded, the netns would be no one's to delete.
        if (rec.mode === 'none') {
          removeFilesOf(this.sandboxDns, rec);
          deleteNetns(rec.netnsPath);
        }
        throw e;
      }
      return rec;
    });
    return new Sandbox(this, record);
  }

  /** The record of a new sandbox, its netns made (with its resolv.conf and hosts) when it has its own. */
  private async newSandbox(name: string, mode: SandboxMode, options: SandboxOptions): Promise<SandboxRecord> {
    const { shareWith, dns, hosts } = options;
    const id = randomBytes(8).toString('hex');
    if (mode === 'none') {
      let netnsPath: string;
      try {
        netnsPath = await createNetnsWithLoopback(this.netnsDir, name);
      } catch (e) {
        if (!isSystemError(e, 'EEXIST')) throw e;
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `a network namespace named ${JSON.stringify(name)} already exists (${join(this.netnsDir, name)})`,
          `choose another sandbox name; if nothing uses it, remove it with: ip netns del ${name}`,
        );
      }
      const rec: SandboxRecord = {
        name,
        id,
        mode,
        netnsPath,
        ownsNetns: true,
        ...(dns ? { dns } : {}),
        ...(hosts ? { hosts } : {}),
        createdAt: now(),
      };
      try {
        writeFilesOf(this.sandboxDns, rec);
      } catch (e) {
        removeFilesOf(this.sandboxDns, rec);
        deleteNetns(netnsPath);
        throw e;
      }
      return rec;
    }
    if (mode === 'host') {
      const netnsPath = this.hostNetnsPath || '/proc/self/ns/net';
      return { name, id, mode, netnsPath, ownsNetns: false, createdAt: now() };
    }
    if (mode === 'container') {
      if (!shareWith) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `sandbox ${name} is in container mode but names no sandbox to share`,
          'give shareWith: the name of a running sandbox',
        );
      }
      const other = this.store.read<SandboxRecord>('sandboxes', validateName(shareWith, 'sandbox'));
      if (!other)
        throw notFound('sandbox', shareWith, 'container mode joins the netns of an existing sandbox; create it first');
      const { netnsPath, ownsNetns } = other;
      return { name, id, mode, netnsPath, ownsNetns, shareWith: other.name, createdAt: now() };
    }
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `unknown sandbox mode ${JSON.stringify(mode)}`,
      'use "none", "host" or "container"',
    );
  }

  sandbox(name: string): Sandbox {
    const rec = this.store.read<SandboxRecord>('sandboxes', validateName(name, 'sandbox'));
    if (!rec) throw notFound('sandbox', name, 'see `berth sandbox ls` for the sandboxes that exist');
    return new Sandbox(this, rec);
  }

  sandboxes(): Sandbox[] {
    return this.store.list<SandboxRecord>('sandboxes').map((r) => new Sandbox(this, r));
  }

  /** Every endpoint of every network, as records: the library's, and the attachments made through the CNI plugins. */
  endpointRecords(): EndpointRecord[] {
    return this.store.list<EndpointRecord>('endpoints');
  }
}
