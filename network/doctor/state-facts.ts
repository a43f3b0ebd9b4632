// The facts doctor gathers about the state: the one value the pure analysis reads.
import type { Backend, Owner } from '../../iptables/index.js';
import { driverOf } from '../drivers/index.js';
import type { Reservation } from '../ipam/store.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model.js';
import type { NameRecord, NamesNetwork } from '../names/model.js';
import type { Staleness } from '../ports.js';
import type { ShapingIfb } from '../shaping/ifb.js';

/** A network whose driver gives each sandbox an interface of its own (a veth, a macvlan): doctor looks for it. */
export const makesInterface = (n: NetworkRecord) => driverOf(n.driver).makesInterface;

/** What doctor reads from the records and the kernel; the analysis needs nothing else. */
export interface StateFacts {
  readonly networks: readonly NetworkRecord[];
  readonly sandboxes: readonly SandboxRecord[];
  readonly endpoints: readonly EndpointRecord[];
  /** The reservation folders under <stateDir>/ipam, by folder (network) name. */
  readonly reservations: ReadonlyMap<string, readonly Reservation[]>;
  /** The firewall records; `earlierBoot` when written in a boot that is over (nothing of them is in the kernel). */
  readonly firewall: readonly { readonly owner: Owner; readonly backend: Backend; readonly earlierBoot?: boolean }[];
  /** Firewall records that could not be read. */
  readonly firewallErrors: readonly string[];
  /** The owners of published ports (port records), for the port rules' firewall owners `ports:<owner>`. */
  readonly portOwners: readonly string[];
  /** The port records that stand for nothing in the kernel any more, and why (PortMapper.staleness). */
  readonly stalePorts: readonly {
    readonly owner: string;
    readonly label: string;
    readonly staleness: Staleness;
    readonly netnsPath?: string;
  }[];
  /** Whether each netns path the records name is a live netns. */
  readonly netnsAlive: ReadonlyMap<string, boolean>;
  /** The link names of the host netns. */
  readonly hostLinks: readonly string[];
  /** berth's IFB links in the host netns, which shape what comes out of attachments. */
  readonly ifbs: readonly ShapingIfb[];
  /** The link names inside each live netns that bridge endpoints are joined into. */
  readonly netnsLinks: ReadonlyMap<string, readonly string[]>;
  /** The name service's records and process; absent, nothing of names is judged. */
  readonly names?: NamesFacts;
}

export interface NamesFacts {
  /** Each folder of the name service's records: the network's settings (null when damaged) and records. */
  readonly networks: readonly {
    readonly network: string;
    readonly settings: NamesNetwork | null;
    readonly records: readonly NameRecord[];
  }[];
  /** The running service and what it listens on (address: network); undefined when none runs. */
  readonly service?: { readonly pid: number; readonly listening: Readonly<Record<string, string>> };
  readonly log: string;
}

/** The firewall owner of a container's published ports: `ports:<owner>`. */
export const PORTS_PREFIX = 'ports:';
