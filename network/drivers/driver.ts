import { BerthError, ErrorCode } from '../../base/errors.js';
import type { NetlinkHandle } from '../../netlink/index.js';
import type { NetworkRecord, SandboxRecord } from '../model.js';
import type { Addressing, AssignedAddress, Route } from '../pipeline/addressing.js';
import type { UndoStack } from '../undo.js';
import { linklessConfig } from './configure.js';
import type { DriverConfig, NetworkRequest } from './options.js';

/**
 * What a driver is: the kernel steps of one kind of network. The pipeline
 * (network/pipeline/) orders IPAM, a driver's steps, lo, firewall, ports and
 * the record; a driver only makes, removes and checks its links, addresses and
 * routes, from the values it is given. `S` is the driver's settings, as the
 * request carries them.
 */
export interface Driver<S = unknown> {
  readonly name: string;
  /** Whether `createNetwork` takes it (container mode is a sandbox's way to share, not a network of its own). */
  readonly networks: boolean;
  /** Whether an attachment makes an interface in the sandbox: two on one ifname cannot both be there. */
  readonly makesInterface: boolean;
  /** Whether a network of it can have names: their service listens on a gateway of the host's (a bridge). */
  readonly names: boolean;
  /** A new network's options, checked the driver's way: its part of the network's config, or a BerthError that names the fix. */
  configure(request: NetworkRequest): DriverConfig;
  /** The library's settings of a network record, for an endpoint's join. */
  settingsOf(net: NetworkRecord): S;
  /** The host's interface toward its sandboxes (the bridge): where firewall rules and published ports point. */
  hostInterface(settings: S): string | undefined;
  /** Refuses a sandbox this driver cannot attach (a BerthError that names the fix); returns when it can. */
  admit(sandbox: SandboxRecord, network: string): void;
  /** The network's own kernel state when a network is created (a bridge): each change pushes its undo. */
  createNetwork(host: HostAccess, net: NetworkRecord, undo: UndoStack): Promise<{ readonly createdBridge?: boolean }>;
  /** Best-effort removal of the network's own kernel state; gone is success. */
  deleteNetwork(host: HostAccess, net: NetworkRecord): TeardownStep[];
  /** The attachment's links, addresses and routes; each change pushes its undo. */
  attach(host: HostAccess, step: LinkStep<S>, undo: UndoStack): Promise<Linked>;
  /** Best-effort removal of what attach made; gone is success. */
  detach(host: HostAccess, step: UnlinkStep): TeardownStep[];
  /** That the kernel still holds what attach made, as `expected` says; a BerthError naming the first difference. */
  check(host: HostAccess, step: CheckStep<S>): Promise<void>;
}

/** The host netns, as a driver reaches it: a handle opened on first use and closed when the pipeline is done. */
export interface HostAccess {
  readonly netnsPath: string;
  handle(): NetlinkHandle;
}

export interface TeardownStep {
  readonly what: string;
  run(): unknown;
}

export interface LinkStep<S> {
  readonly network: string;
  readonly settings: S;
  /** The name of the host end, for a driver that makes one (derived from the attachment, so a teardown without the sandbox finds it). */
  readonly hostLink: string;
  readonly netnsPath: string;
  readonly ifname: string;
  readonly mac?: string;
  /** What the address source gave; null when the attachment has none (layer 2 only, or a driver without addresses). */
  readonly addressing: Addressing | null;
}

/** An interface an attachment made or uses, host side ones without `sandbox`. */
export interface LinkInfo {
  readonly name: string;
  readonly mac: string;
  /** The netns path of an interface inside the sandbox. */
  readonly sandbox?: string;
}

export interface Linked {
  /** The sandbox's addresses, each with its gateway when it has one. */
  readonly ips: readonly AssignedAddress[];
  /** The routes inside the sandbox, each gateway resolved. */
  readonly routes: readonly Route[];
  /** Host side first, the sandbox's last, as a CNI result lists them. */
  readonly interfaces: readonly LinkInfo[];
  /** The host end of the attachment, recorded for teardown and doctor ('' when the driver makes none). */
  readonly hostLink: string;
  /** The MAC of the sandbox's interface ('' when the driver makes none). */
  readonly mac: string;
}

export interface UnlinkStep {
  readonly network: string;
  readonly hostLink: string;
  readonly netnsPath?: string;
  readonly ifname: string;
}

export interface CheckStep<S> {
  /** The attachment as errors name it, e.g. 'ctr1/eth0'. */
  readonly name: string;
  readonly settings: S;
  readonly hostLink: string;
  readonly netnsPath: string;
  readonly ifname: string;
  readonly expected: Expected;
}

/** What an attach reported: the sandbox interface's MAC (when known), its addresses and routes. */
export interface Expected {
  readonly mac?: string;
  readonly ips: readonly AssignedAddress[];
  readonly routes: readonly Route[];
}

/** What an attachment links when its driver makes nothing: the sandbox uses a network stack that is already there. */
const NOTHING_LINKED: Linked = { ips: [], routes: [], interfaces: [], hostLink: '', mac: '' };

/** A driver that makes nothing in the kernel (host, null, container): it admits sandboxes and checks, no more. */
export function linklessDriver(
  d: Pick<Driver<Record<string, never>>, 'name' | 'networks' | 'admit' | 'check'>,
): Driver<Record<string, never>> {
  return {
    makesInterface: false,
    names: false,
    configure: (request) => linklessConfig(d.name, request),
    settingsOf: () => ({}),
    hostInterface: () => undefined,
    createNetwork: async () => ({}),
    deleteNetwork: () => [],
    attach: async () => NOTHING_LINKED,
    detach: () => [],
    ...d,
  };
}

/** The admit of a driver that gives the sandbox an interface of its own: only a sandbox with a netns of its own (none mode). */
export function ownNetnsOnly(kind: string): Driver['admit'] {
  return (sb, network) => {
    if (sb.mode === 'none') return;
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `sandbox ${sb.name} is in ${sb.mode} mode and cannot join ${kind} network ${network}`,
      sb.mode === 'host'
        ? 'a host-mode sandbox uses the host network as is'
        : `connect sandbox ${sb.shareWith} instead`,
    );
  };
}
