import type { NetworkConfig } from './config.js';
import type { DnsSettings, HostEntry } from './names/sandbox-files.js';

/** The records berth keeps in its state store: plain JSON, one file each. */

export type NetworkRecord = NetworkConfig & {
  readonly createdAt: string;
  /** berth made the bridge (and deletes it with the network); false: it was there already. */
  readonly createdBridge?: boolean;
};

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

export interface EndpointRecord {
  readonly name: string;
  readonly id: string;
  readonly network: string;
  /** Names it has on its network besides its sandbox's name (lower-case). */
  readonly aliases?: readonly string[];
  /** The sandbox it is joined to, with what the join made there. */
  readonly join?: {
    readonly sandbox: string;
    readonly netnsPath: string;
    readonly ifname: string;
    readonly hostVeth: string;
    readonly mac: string;
    readonly addresses: readonly string[];
  };
  readonly createdAt: string;
}
