import type { Backend, Firewall } from '../../iptables/index.js';
import type { Expected, Linked, LinkInfo } from '../drivers/driver.js';
import type { NetworkSpec } from '../drivers/index.js';
import type { EndpointRecord } from '../model.js';
import type { PortMapper, PublishTarget } from '../ports.js';
import type { PortSpec } from '../portspec.js';
import type { Bandwidth, BandwidthKeys } from '../shaping/limits.js';
import type { StateStore } from '../state.js';
import type { AddressSource, Dns } from './addressing.js';

/**
 * What the attachment pipeline is asked to do, in one value each (as netavark hands its drivers
 * everything at once): who the attachment is, the network and its driver's settings, the
 * sandbox's netns and interface, where addresses come from, lo, the firewall, published ports and
 * the record. The CNI plugins, the library's Endpoint and the command build these; the pipeline
 * (attach.ts, detach.ts, check.ts) holds the order of the steps.
 */

/** Who the attachment is, in every place that names it. */
export interface AttachmentIdentity {
  /** The owner of its firewall rules and published ports: `<network>/<containerId>/<ifname>` for a CNI attachment, the endpoint ID for the library's. */
  readonly owner: string;
  /** How errors name it, e.g. 'ctr1/eth0'. */
  readonly name: string;
  /** The host end's name, for a driver that makes one: derived from the attachment, so a teardown without the sandbox finds it. */
  readonly hostLink: string;
}

/** How the pipeline reaches the firewall: where its per-owner records are, and the firewall of a backend (undefined: the one that works here). */
export interface FirewallAccess {
  readonly recordDir: string;
  open(backend?: Backend): Promise<Firewall>;
}

export type RulesPolicy =
  /** The network's own rules, made when it was created, cover its attachments (the library's networks). */
  | { readonly kind: 'network' }
  /** Rules of the attachment alone, as the CNI bridge makes them: masquerade of its addresses, isolation of its bridge. */
  | {
      readonly kind: 'attachment';
      readonly masquerade: boolean;
      readonly isolate: boolean;
      readonly backend: Backend | undefined;
    };

export interface PortsRequest {
  readonly mapper: PortMapper;
  /** The backend of the mapper's firewall: the attachment's own rules go in the ports' batch when it is theirs too. */
  readonly backend: Backend | undefined;
  readonly specs: readonly PortSpec[];
  /** Where published traffic goes, from what the attachment got: the caller names it, and refuses what has no address. */
  target(linked: Linked): PublishTarget;
}

/**
 * The attachment's names: the name service's records of them (and, for the library's sandboxes,
 * the resolv.conf and hosts that name them). The caller supplies them, as it does addresses.
 */
export interface NamesStep {
  /** Serves the attachment's names at the addresses it got, and waits until they are served. */
  publish(at: { readonly netnsPath: string; readonly linked: Linked }): Promise<void>;
  /** Stops serving them, and rewrites what names them from the records as they are now. */
  withdraw(at: { readonly netnsPath: string | undefined }): void | Promise<void>;
  /** That they are served (CNI CHECK). */
  check(): Promise<void>;
}

/** Bandwidth limits of the attachment, on the host end of its link (network/shaping/). */
export interface ShapingRequest {
  readonly bandwidth: Bandwidth;
  /** How errors name the limits' numbers: the keys the user wrote them under. */
  readonly keys: BandwidthKeys;
}

/** The record the attachment is kept in: the endpoint of the library, or one the CNI plugin makes for the attachment. */
export interface RecordRequest {
  readonly store: StateStore;
  /** The endpoint as it is before the attach (no `join`). */
  readonly endpoint: Omit<EndpointRecord, 'join'>;
  /** The sandbox the record says it is in: the library's sandbox name, a CNI container's ID. */
  readonly sandbox: string;
}

export interface AttachRequest {
  readonly identity: AttachmentIdentity;
  /** The netns that plays the host ('' = the one this process is in). */
  readonly hostNetnsPath: string;
  readonly network: NetworkSpec;
  readonly netnsPath: string;
  readonly ifname: string;
  /** The MAC the sandbox's interface is to have. */
  readonly mac?: string;
  /** Absent: an attachment without addresses (layer 2 only, or a driver that takes none). */
  readonly addresses?: Pick<AddressSource, 'name' | 'acquire' | 'release'>;
  /** Bring the sandbox's lo up too (and down again on detach). */
  readonly loopback: boolean;
  readonly rules: RulesPolicy;
  /** Needed with attachment rules or ports. */
  readonly firewall?: FirewallAccess;
  readonly shaping?: ShapingRequest;
  readonly ports?: PortsRequest;
  readonly names?: Pick<NamesStep, 'publish' | 'withdraw'>;
  readonly record?: RecordRequest;
  /** A line of log (a CNI plugin's stderr). */
  readonly log: (message: string) => void;
}

/** What an attach made: the driver's links and routes, DNS from the address source, the IFB of its shaping, the record written. */
export interface Attachment extends Linked {
  readonly dns?: Dns;
  /** The IFB link that shapes what comes out of the sandbox, when that is limited. */
  readonly ifb?: LinkInfo;
  readonly record?: EndpointRecord;
}

export interface DetachRecord {
  readonly store: StateStore;
  readonly network: string;
  readonly name: string;
  /**
   * 'endpoint': the library's endpoint outlives its join; the steps after the ports run holding the
   * store's lock, on the record as read there, and nothing joined is nothing to do. 'attachment': a CNI
   * attachment's record goes with it, and its absence (an attachment made before records, a failed ADD)
   * stops nothing.
   */
  readonly kind: 'endpoint' | 'attachment';
  /** Throws when the record is not what the caller means to detach (the library's: joined to another sandbox). */
  readonly expect?: (current: EndpointRecord | null) => void;
}

export interface DetachRequest {
  readonly identity: AttachmentIdentity;
  readonly hostNetnsPath: string;
  /** The driver alone: a teardown needs no settings, so a config that failed its ADD does not fail its DEL. */
  readonly network: { readonly name: string; readonly driver: string };
  /** What the caller knows; a record of the attachment, when there is one, wins. Absent: the netns is gone. */
  readonly netnsPath?: string;
  readonly ifname?: string;
  readonly addresses?: Pick<AddressSource, 'name' | 'release'>;
  readonly loopback: boolean;
  /** Removes the attachment's own rules, by their record: given when it may have any. */
  readonly firewall?: FirewallAccess;
  readonly ports?: { readonly mapper: PortMapper };
  /** Withdrawn once the record is settled. */
  readonly names?: Pick<NamesStep, 'withdraw'>;
  readonly record?: DetachRecord;
  readonly log: (message: string) => void;
}

export interface CheckRequest {
  readonly identity: AttachmentIdentity;
  readonly hostNetnsPath: string;
  readonly network: NetworkSpec;
  readonly netnsPath: string;
  readonly ifname: string;
  /** What the attach reported (a CNI CHECK's prevResult). */
  readonly expected: Expected;
  readonly addresses?: Pick<AddressSource, 'name' | 'check'>;
  readonly loopback: boolean;
  readonly rules: RulesPolicy;
  readonly firewall?: FirewallAccess;
  readonly shaping?: ShapingRequest;
  readonly ports?: Pick<PortsRequest, 'mapper' | 'backend' | 'specs'>;
  readonly names?: Pick<NamesStep, 'check'>;
}
