import { BerthError, ErrorCode } from '../base/errors.js';
import { validateIfName } from '../base/names.js';
import { driverOf, hostInterfaceOf, networkSpecOf } from './drivers/index.js';
import { allocatorSource } from './ipam/source.js';
import { type EndpointRecord, endpointKey, notFound, type SandboxRecord } from './model.js';
import { attachmentNames } from './names/network.js';
import { refreshSandboxFiles } from './names/sandbox-dns.js';
import type { EndpointOptions, Network } from './network.js';
import type { AddressSource } from './pipeline/addressing.js';
import { attach } from './pipeline/attach.js';
import { detach } from './pipeline/detach.js';
import type { AttachmentIdentity, NamesStep } from './pipeline/request.js';
import { type PortSpec, type PortSpecInput, validatePortSpec } from './portspec.js';
import type { Sandbox } from './sandbox.js';
import { LIBRARY_KEYS } from './shaping/limits.js';

export interface JoinOptions {
  readonly ifname?: string;
}

const quiet = () => undefined;

/** libnetwork's Endpoint: an interface on a network, joined to a sandbox through the attachment pipeline. */
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

  private get identity(): AttachmentIdentity {
    return {
      owner: this.id,
      name: `endpoint ${this.name} of network ${this.network.name}`,
      hostLink: `veth${this.id.slice(0, 11)}`,
    };
  }

  /** The network's allocator for this endpoint; none for a network without subnets. */
  private addressSource(): AddressSource | undefined {
    const net = this.network.record;
    if (net.subnets.length === 0) return undefined;
    const ipam = this.network.controller.ipam(net);
    return allocatorSource(ipam, this.id, this.options.ips ?? [], `addresses of ${this.name}`);
  }

  /**
   * The sandbox's names on a network with names (its name and the endpoint's aliases), served
   * before the join returns; then its resolv.conf and hosts with this network in them.
   */
  private namesStep(sandboxName: string, aliases: readonly string[] = []): Pick<NamesStep, 'publish' | 'withdraw'> {
    const ctl = this.network.controller;
    const network = this.network.name;
    return {
      publish: async ({ netnsPath, linked }) => {
        const bare = linked.ips.map((ip) => ip.address.split('/')[0]!);
        if (ctl.names.network(network)) {
          const names = attachmentNames(sandboxName, aliases);
          ctl.names.put(network, { owner: this.id, names, addresses: bare, netns: netnsPath });
          await ctl.ensureNameService(network);
        }
        refreshSandboxFiles(ctl.sandboxDns, netnsPath, { network, addresses: bare });
      },
      withdraw: (at) => this.withdrawNames(at),
    };
  }

  /** Its names no longer served; the sandbox's resolv.conf and hosts as the records now say. */
  private withdrawNames({ netnsPath }: { readonly netnsPath: string | undefined }): void {
    const ctl = this.network.controller;
    ctl.names.remove(this.network.name, this.id);
    if (netnsPath) refreshSandboxFiles(ctl.sandboxDns, netnsPath);
  }

  async join(sandbox: Sandbox, options: JoinOptions = {}): Promise<void> {
    const ctl = this.network.controller;
    const net = this.network.record;
    const driver = driverOf(net.driver);
    const ifname = validateIfName(options.ifname ?? 'eth0');
    await ctl.store.locked(async () => {
      const current = ctl.store.read<EndpointRecord>('endpoints', endpointKey(net.name, this.name));
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
      driver.admit(sb, net.name);
      const taken = ctl.endpointRecords().find((e) => e.join?.netnsPath === sb.netnsPath && e.join.ifname === ifname);
      if (taken && driver.makesInterface) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `sandbox ${sb.name} already has an interface ${ifname} (endpoint ${taken.name} of ${taken.network})`,
          'give another ifname, e.g. eth1',
        );
      }
      const source = this.addressSource();
      const { record } = await attach({
        identity: this.identity,
        hostNetnsPath: ctl.hostNetnsPath,
        network: networkSpecOf(net),
        netnsPath: sb.netnsPath,
        ifname,
        ...(this.options.mac ? { mac: this.options.mac } : {}),
        ...(source ? { addresses: source } : {}),
        loopback: false,
        rules: { kind: 'network' },
        ...(current.bandwidth ? { shaping: { bandwidth: current.bandwidth, keys: LIBRARY_KEYS } } : {}),
        names: this.namesStep(sb.name, current.aliases),
        record: { store: ctl.store, endpoint: current, sandbox: sb.name },
        log: quiet,
      });
      this.rec = record!;
    });
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
    const hostInterface = hostInterfaceOf(net);
    const current = ctl.store.read<EndpointRecord>('endpoints', endpointKey(net.name, this.name));
    const j = current?.join;
    if (!j || !hostInterface || j.addresses.length === 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `endpoint ${this.name} of network ${net.name} has no address to publish ports to`,
        hostInterface ? 'join it to a sandbox first' : 'publish ports of endpoints on bridge networks',
      );
    }
    const target = {
      owner: this.id,
      label: this.identity.name,
      containerIPs: j.addresses.map((a) => a.split('/')[0]!),
      hostInterface,
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
    const net = this.network.record;
    const key = endpointKey(net.name, this.name);
    const wrongSandbox = (joinedTo: string | undefined) => {
      if (!sandbox || !joinedTo || joinedTo === sandbox.name) return;
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `endpoint ${this.name} is joined to ${joinedTo}, not ${sandbox.name}`,
        `leave ${joinedTo}`,
      );
    };
    // Before the ports go: a leave of the wrong sandbox changes nothing.
    wrongSandbox(ctl.store.read<EndpointRecord>('endpoints', key)?.join?.sandbox);
    const source = this.addressSource();
    try {
      await detach({
        identity: this.identity,
        hostNetnsPath: ctl.hostNetnsPath,
        network: { name: net.name, driver: net.driver },
        ...(source ? { addresses: source } : {}),
        loopback: false,
        ports: { mapper: ctl.ports },
        names: { withdraw: (at) => this.withdrawNames(at) },
        record: {
          store: ctl.store,
          network: net.name,
          name: this.name,
          kind: 'endpoint',
          expect: (current) => wrongSandbox(current?.join?.sandbox),
        },
        log: quiet,
      });
    } finally {
      this.rec = ctl.store.read<EndpointRecord>('endpoints', key) ?? this.rec;
    }
  }

  /** Leaves first when joined; deleting an endpoint that is gone is success. */
  async delete(): Promise<void> {
    await this.leave();
    const ctl = this.network.controller;
    await ctl.store.locked(() => ctl.store.remove('endpoints', endpointKey(this.network.name, this.name)));
  }
}
