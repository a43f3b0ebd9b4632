import type { MacvlanMode } from '../../netlink/index.js';

/** The drivers' names; the registry (index.ts) holds exactly these, which tsc checks. */
export type DriverName = 'bridge' | 'host' | 'null' | 'container' | 'macvlan' | 'overlay';

/** What a caller asks for when creating a network; everything but the name is optional. */
export interface NetworkOptions {
  readonly name: string;
  readonly driver?: DriverName;
  readonly subnet?: string;
  readonly gateway?: string;
  readonly subnet6?: string;
  readonly gateway6?: string;
  readonly bridgeName?: string;
  readonly mtu?: number;
  /** MASQUERADE traffic from the subnet to outside it. Default true. */
  readonly masquerade?: boolean;
  /** Drop traffic between this bridge network and other berth bridge networks. Default true, as Docker. */
  readonly isolate?: boolean;
  readonly hairpin?: boolean;
  readonly promiscuous?: boolean;
  /**
   * Names on this network: a name service on the gateway answers the sandboxes' names and
   * aliases to the network's sandboxes (bridge networks only). true, or a domain that names are
   * also answered under and that the sandboxes search. Default off in the library; the berth
   * command turns it on.
   */
  readonly dns?: boolean | { readonly domain?: string };
  /** macvlan: the device on the LAN, and how its sandboxes reach each other (default bridge). */
  readonly macvlan?: { readonly parent: string; readonly mode?: MacvlanMode };
  /** overlay: the VXLAN network identifier (default: the lowest free one). */
  readonly vni?: number;
  /** overlay: the size of each host's block of the subnet (default 24). */
  readonly blockPrefix?: number;
}

export interface SubnetConfig {
  readonly subnet: string; // canonical CIDR
  readonly gateway: string; // address only
  readonly prefixLength: number;
}

/** A validated network: every default resolved, every value checked. */
export interface NetworkConfig {
  readonly name: string;
  readonly id: string;
  readonly driver: DriverName;
  readonly bridgeName: string;
  readonly subnets: readonly SubnetConfig[];
  readonly mtu: number;
  readonly masquerade: boolean;
  readonly isolate: boolean;
  readonly hairpin: boolean;
  readonly promiscuous: boolean;
  /** Names are on; absent, off. */
  readonly dns?: { readonly domain?: string };
  /** A macvlan network's parent device and mode. */
  readonly macvlan?: { readonly parent: string; readonly mode: MacvlanMode };
}

/** A new network as its driver is asked to check it: what every network has is checked already. */
export interface NetworkRequest {
  readonly options: NetworkOptions;
  /** Checked, and no other network's. */
  readonly name: string;
  readonly id: string;
  /** The networks that exist. */
  readonly existing: readonly NetworkConfig[];
  /** The options' subnets (without one, the first free /24 of berth's pool), checked against every network's. */
  subnets(): SubnetConfig[];
}

/** A driver's part of a network's config: all but what every network has. */
export type DriverConfig = Omit<NetworkConfig, 'name' | 'id' | 'driver'>;
