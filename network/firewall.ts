import { type Backend, type Firewall, openFirewall } from '../iptables/index.js';
import type { Rules } from '../iptables/model.js';
import { hostInterfaceOf } from './drivers/index.js';
import type { NetworkRecord } from './model.js';

/** Whether a network has rules of its own: one whose driver has a host interface (a bridge) does. */
export function hasNetworkRules(net: NetworkRecord): boolean {
  return hostInterfaceOf(net) !== undefined;
}

/**
 * A bridge network's rules, as Docker has them: its bridge (forwarding, isolation) and masquerade of its subnets.
 * An overlay's block is masqueraded only leaving the whole overlay: between hosts' blocks, addresses stay.
 */
export function networkRules(net: NetworkRecord): Rules {
  const subnets = net.subnets.map((s) => s.subnet);
  return {
    bridges: [{ name: net.bridgeName, subnets, isolate: net.isolate }],
    masquerade: net.masquerade
      ? subnets.map((subnet) => ({ source: subnet, subnet: net.overlay?.subnet ?? subnet }))
      : [],
  };
}

/** The firewall of a Controller, opened on first use so networks without rules never start `nft`. */
export class NetworkFirewall {
  private opened?: Promise<Firewall>;

  constructor(
    private readonly options: {
      readonly hostNetnsPath: string;
      readonly recordDir: string;
      readonly backend?: Backend;
    },
  ) {}

  firewall(): Promise<Firewall> {
    this.opened ??= openFirewall(this.options);
    return this.opened;
  }

  async addNetwork(net: NetworkRecord): Promise<void> {
    await (await this.firewall()).apply({ kind: 'network', id: net.name }, networkRules(net));
  }

  async removeNetwork(name: string): Promise<void> {
    await (await this.firewall()).remove({ kind: 'network', id: name });
  }
}
