import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { BerthError, ErrorCode, TeardownErrors } from '../base/errors.js';
import { validateDnsName } from '../base/names.js';
import { idFor, validateName } from './config.js';
import type { Controller } from './controller.js';
import { driverOf } from './drivers/index.js';
import { Endpoint } from './endpoint.js';
import { hasNetworkRules } from './firewall.js';
import { FileStore } from './ipam/file-store.js';
import { type EndpointRecord, endpointKey, type NetworkRecord, notFound, now } from './model.js';
import { openHost } from './pipeline/host.js';
import { type Bandwidth, shapes, validateBandwidth } from './shaping/limits.js';
import { isGone, teardown } from './undo.js';

export interface EndpointOptions {
  readonly name: string;
  /** Addresses to ask IPAM for, one per family, without prefix. */
  readonly ips?: readonly string[];
  readonly mac?: string;
  /** More names for its sandbox on this network (a network with names answers them too). */
  readonly aliases?: readonly string[];
  /**
   * Bandwidth limits, applied on each join: `ingress` into the sandbox, `egress` out of it, each a
   * rate in bits per second and an optional burst in bits (default: 10 ms at the rate, at least
   * 128 KiB and a frame). Refused with code 7, naming the key, before anything is made.
   */
  readonly bandwidth?: Bandwidth;
}

/** An overlay network of the cluster that this host holds no block of (yet): code 11, try again when the agent has one. */
export function notHere(name: string): BerthError {
  return new BerthError(
    ErrorCode.TryAgainLater,
    `overlay network ${name} has no block on this host yet`,
    "this host's agent takes one when it sees the network: start `berth agent --node NAME --address IP` here, or wait for it",
  );
}

/** libnetwork's Network: a driver and IPAM; its endpoints are the library's (CNI attachments have their own networks). */
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
    const bandwidth = options.bandwidth === undefined ? undefined : validateBandwidth(options.bandwidth);
    const { store } = this.controller;
    const rec = await store.locked(() => {
      const current = store.read<NetworkRecord>('networks', this.name);
      if (!current && this.record.driver === 'overlay') throw notHere(this.name);
      if (!current) throw notFound('network', this.name, 'it was removed; create it again');
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
        ...(shapes(bandwidth) ? { bandwidth } : {}),
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
    if (!rec || rec.cni) throw notFound('endpoint', name, `see the endpoints of network ${this.name}`);
    return new Endpoint(this, rec);
  }

  endpoints(): Endpoint[] {
    return this.endpointRecords().map((e) => new Endpoint(this, e));
  }

  private endpointRecords(): EndpointRecord[] {
    return this.controller.endpointRecords().filter((e) => e.network === this.name && !e.cni);
  }

  /**
   * Refuses while endpoints exist; removes what its driver made (the bridge), the rules and the
   * reservations folder. An overlay network goes from the cluster's store, for every host: each
   * host's agent removes its side there when nothing of that host uses it.
   */
  async delete(): Promise<void> {
    const ctl = this.controller;
    await ctl.store.locked(async () => {
      this.refuseInUse();
      if (this.record.driver === 'overlay') await (await ctl.cluster()).deleteNetwork(this.name);
      await this.tearDown();
    });
  }

  /** This host's side of an overlay network that the cluster no longer has: as delete(), the cluster's store left alone. */
  async removeHere(): Promise<void> {
    await this.controller.store.locked(async () => {
      this.refuseInUse();
      await this.tearDown();
    });
  }

  private refuseInUse(): void {
    const eps = this.controller.endpointRecords().filter(
      (e) =>
        (e.network === this.name && !e.cni) ||
        // The CNI plugin's attachments to an overlay network are of their own CNI network.
        (this.record.driver === 'overlay' && e.cni?.overlay === this.name),
    );
    if (eps.length > 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `network ${this.name} still has ${eps.length} endpoint(s): ${eps.map((e) => (e.cni ? `container ${e.cni.containerId}` : e.name)).join(', ')}`,
        'disconnect and remove them first',
      );
    }
  }

  private async tearDown(): Promise<void> {
    const ctl = this.controller;
    const driver = driverOf(this.record.driver);
    const host = openHost(ctl.hostNetnsPath);
    let errors: Error[];
    try {
      errors = await teardown(
        [
          ...(hasNetworkRules(this.record)
            ? [{ what: `firewall rules of ${this.name}`, run: () => ctl.firewall.removeNetwork(this.name) }]
            : []),
          ...driver.deleteNetwork(host, this.record),
        ],
        isGone,
      );
    } finally {
      host.close();
    }
    ctl.store.remove('networks', this.name);
    ctl.names.removeNetwork(this.name);
    // A network made again under this name starts with no reservation.
    const ipam = new FileStore(this.name, { dataDir: ctl.ipamDataDir });
    rmSync(ipam.dir, { recursive: true, force: true });
    rmSync(ipam.indexPath, { force: true });
    if (errors.length > 0) throw new TeardownErrors(errors);
  }
}
