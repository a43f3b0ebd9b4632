import type { NetworkRecord } from '../../model.js';
import type { BridgeSpec } from './kernel.js';

/** What a bridge attachment is made with: the CNI bridge's keys, or a berth network's record. */
export interface BridgeSettings {
  readonly bridge: string;
  /** 0: the kernel's default. */
  readonly mtu: number;
  readonly hairpin: boolean;
  readonly promiscuous: boolean;
  /** Replace a different address of the bridge in the way of a gateway address, instead of failing. */
  readonly forceAddress: boolean;
  /** The bridge holds each subnet's gateway address (an address without a gateway gets the subnet's first host). */
  readonly isGateway: boolean;
  /** A default route through each family's gateway. */
  readonly isDefaultGateway: boolean;
  /** Bring the sandbox's interface up (routes need it up, so a down one gets none). */
  readonly up: boolean;
  /** Duplicate address detection on the sandbox's IPv6 addresses. */
  readonly dad: boolean;
  /** Isolate the bridge port: it talks only to non-isolated ports. */
  readonly portIsolation: boolean;
}

/** A berth network's bridge: the gateway of its subnets, the default route through it, as Docker's. */
export function bridgeSettingsOf(net: NetworkRecord): BridgeSettings {
  return {
    bridge: net.bridgeName,
    mtu: net.mtu,
    hairpin: net.hairpin,
    promiscuous: net.promiscuous,
    forceAddress: false,
    isGateway: true,
    isDefaultGateway: true,
    up: true,
    dad: false,
    portIsolation: false,
  };
}

export function bridgeSpecOf(settings: BridgeSettings, gatewayAddresses: readonly string[]): BridgeSpec {
  return {
    bridgeName: settings.bridge,
    mtu: settings.mtu,
    hairpin: settings.hairpin,
    promiscuous: settings.promiscuous,
    gatewayAddresses,
    forceAddress: settings.forceAddress,
  };
}
