import { BerthError, ErrorCode } from '../base/errors.js';
import type { NetworkConfig } from './drivers/options.js';
import type { DnsSettings, HostEntry } from './names/sandbox-files.js';
import type { Bandwidth } from './shaping/limits.js';

/** The records berth keeps in its state store: plain JSON, one file each. */

export type NetworkRecord = NetworkConfig & {
  readonly createdAt: string;
  /** berth made the bridge (and deletes it with the network); false: it was there already. */
  readonly createdBridge?: boolean;
  /** An overlay network's cluster-wide side; its `subnets` are this host's block of it. */
  readonly overlay?: OverlayShare;
};

/** An overlay network as this host takes part in it: the cluster's definition and, once the agent took one, this host's block. */
export interface OverlayShare {
  /** The whole overlay subnet, of every host: traffic inside it is not masqueraded. */
  readonly subnet: string;
  readonly vni: number;
  /** The VXLAN device (the agent's). */
  readonly vxlan: string;
  /** Absent until this host's agent holds a block of the network. */
  readonly host?: {
    readonly node: string;
    readonly block: string;
    /** This host's underlay address. */
    readonly underlay: string;
    readonly vtepMac: string;
  };
}

export type SandboxMode = 'none' | 'host' | 'container';

export interface SandboxRecord {
  readonly name: string;
  readonly id: string;
  readonly mode: SandboxMode;
  readonly netnsPath: string;
  /** berth created the netns and deletes it when the last sandbox using it is destroyed. */
  readonly ownsNetns: boolean;
  /** container mode: the sandbox whose netns this one shares. */
  readonly shareWith?: string;
  /** Resolver settings given at creation; absent, the name services of its networks or the host's. */
  readonly dns?: DnsSettings;
  /** Lines for its hosts file besides localhost and its own addresses. */
  readonly hosts?: readonly HostEntry[];
  readonly createdAt: string;
}

/**
 * An endpoint, and the attachment it is in: the one record of an attachment, whoever made it.
 * The library's endpoints exist before and after their join; an attachment that a runtime made
 * through berth's CNI plugins is an endpoint of its CNI network, joined for as long as it exists.
 */
export interface EndpointRecord {
  readonly name: string;
  readonly id: string;
  readonly network: string;
  /** Names it has on its network besides its sandbox's name (lower-case). */
  readonly aliases?: readonly string[];
  /** Its bandwidth limits, applied on each join. */
  readonly bandwidth?: Bandwidth;
  /** The sandbox it is joined to, with what the join made there. */
  readonly join?: AttachmentState;
  /** Set when a runtime made the attachment through berth's CNI plugins: its names there. */
  readonly cni?: CniAttachmentNames;
  readonly createdAt: string;
}

/** What an attachment made, as its record keeps it. */
export interface AttachmentState {
  /** The library's sandbox name; a CNI container's ID. */
  readonly sandbox: string;
  readonly netnsPath: string;
  readonly ifname: string;
  /** The host end of its veth ('' when its driver makes none). */
  readonly hostVeth: string;
  readonly mac: string;
  /** With prefix, e.g. '10.89.0.2/24'. */
  readonly addresses: readonly string[];
}

export interface CniAttachmentNames {
  readonly containerId: string;
  readonly ifName: string;
  /** The driver and its host interface: a CNI network has no network record to read them from. */
  readonly driver: string;
  readonly bridge?: string;
  /** The owner of its firewall rules and published ports. */
  readonly owner: string;
  /** An attachment to an overlay network: that network, whose reservations hold its addresses (by `owner`). */
  readonly overlay?: string;
}

/** The state store's name of an endpoint record. */
export const endpointKey = (network: string, name: string) => `${network}.${name}`;

/** A record's time of creation. */
export const now = () => new Date().toISOString();

/** The error for a name no record has: code 3, naming it and where to look. */
export const notFound = (what: string, name: string, fix: string) =>
  new BerthError(ErrorCode.UnknownContainer, `no ${what} named ${JSON.stringify(name)}`, fix);
