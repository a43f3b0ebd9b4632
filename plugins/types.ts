import type { Dns, Route } from '../network/pipeline/addressing.js';

/**
 * The CNI protocol as berth's plugins see it: the verbs, the spec versions, the
 * result in its newest shape (1.1.0) and the validated requests that `skel`
 * hands to a plugin. Wire shapes of older versions live in `skel/result.ts` only;
 * everything a plugin touches is the current shape.
 */

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

/** The spec versions berth speaks. 0.1.0 and 0.2.0 had another result shape (ip4/ip6) and are refused. */
export type CniVersion = '0.3.0' | '0.3.1' | '0.4.0' | '1.0.0' | '1.1.0';

/** An interface made by the attachment. `mtu`, `socketPath` and `pciID` exist from 1.1.0 on. */
export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly mtu?: number;
  /** The netns path for an interface inside the container; absent for a host interface. */
  readonly sandbox?: string;
  readonly socketPath?: string;
  readonly pciID?: string;
}

export interface CniIPConfig {
  /** Address with prefix length, e.g. "10.88.0.5/16". */
  readonly address: string;
  readonly gateway?: string;
  /** Index into the result's `interfaces`; absent in an IPAM plugin's result. */
  readonly interface?: number;
}

/** A route. `mtu`, `advmss`, `priority`, `table` and `scope` exist from 1.1.0 on. */
export type CniRoute = Route;

export type CniDns = Dns;

/** An ADD result in the current shape; `skel` writes it in the version the config asked for. */
export interface CniResult {
  readonly interfaces?: readonly CniInterface[];
  readonly ips?: readonly CniIPConfig[];
  readonly routes?: readonly CniRoute[];
  readonly dns?: CniDns;
}

/** CNI_ARGS as key → value, in the order given. */
export type CniArgs = ReadonlyMap<string, string>;

/** One attachment that GC must keep: the runtime still uses it. */
export interface CniAttachment {
  readonly containerId: string;
  readonly ifName: string;
}

/** The validated network configuration from stdin. */
export interface NetConf {
  /** The version the config asked for, which is also the version of every answer. */
  readonly cniVersion: CniVersion;
  readonly name: string;
  readonly type: string;
  /** The config's `args` object (e.g. `args.cni.ips`), `{}` when absent. */
  readonly args: Readonly<Record<string, unknown>>;
  /** Capability arguments from the runtime (portMappings, ips, mac, ...), `{}` when absent. */
  readonly runtimeConfig: Readonly<Record<string, unknown>>;
  /** The previous plugin's result, converted to the current shape. */
  readonly prevResult?: CniResult;
  /** The whole decoded object, for the plugin's own keys (bridge, ipam, ...), which it validates itself. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface AddRequest {
  readonly command: 'ADD';
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: CniArgs;
  readonly path: readonly string[];
  readonly config: NetConf;
}

export interface DelRequest {
  readonly command: 'DEL';
  readonly containerId: string;
  /** Absent when the runtime no longer has the netns: DEL must still release what it can. */
  readonly netns?: string;
  readonly ifName: string;
  readonly args: CniArgs;
  readonly path: readonly string[];
  readonly config: NetConf;
}

export interface CheckRequest {
  readonly command: 'CHECK';
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: CniArgs;
  readonly path: readonly string[];
  /** CHECK compares against the ADD's result, so the spec makes `prevResult` mandatory here. */
  readonly config: NetConf & { readonly prevResult: CniResult };
}

export interface StatusRequest {
  readonly command: 'STATUS';
  readonly path: readonly string[];
  readonly config: NetConf;
}

export interface GcRequest {
  readonly command: 'GC';
  readonly path: readonly string[];
  readonly config: NetConf;
  /** Everything not in this list that the plugin holds for this network is stale. */
  readonly validAttachments: readonly CniAttachment[];
}

export type CniRequest = AddRequest | DelRequest | CheckRequest | StatusRequest | GcRequest;

/** What `skel` gives a plugin besides the request. */
export interface PluginContext {
  /** One line of log on stderr (stdout belongs to the protocol). */
  log(message: string): void;
  /**
   * The environment the runtime gave this call. A delegated plugin gets it rather than the process's
   * own, which in the daemon is the environment of whoever started the daemon.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A CNI plugin: one function per verb. A plugin without state to collect or
 * without readiness conditions leaves out `gc` or `status`; the verb then succeeds.
 * Throw a `BerthError` to choose the CNI code; anything else becomes 999.
 */
export interface CniPlugin {
  add(request: AddRequest, context: PluginContext): Promise<CniResult>;
  del(request: DelRequest, context: PluginContext): Promise<void>;
  check(request: CheckRequest, context: PluginContext): Promise<void>;
  status?(request: StatusRequest, context: PluginContext): Promise<void>;
  gc?(request: GcRequest, context: PluginContext): Promise<void>;
}
