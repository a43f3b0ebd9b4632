import type { Route } from '../ipam/config.js';

/** A route inside the sandbox; the fields past `gw` are CNI 1.1.0's and pass through as given. */
export type { Route } from '../ipam/config.js';

/** An address of the sandbox, with prefix ('10.89.0.2/24'), and its gateway when it has one. */
export interface AssignedAddress {
  readonly address: string;
  readonly gateway?: string;
}

/** A result's DNS settings, as an IPAM plugin or the network config gives them (every field optional). */
export interface Dns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

/** What an address source hands out for one attachment. */
export interface Addressing {
  readonly ips: readonly AssignedAddress[];
  readonly routes: readonly Route[];
  readonly dns?: Dns;
}

/**
 * Where an attachment's addresses come from: berth's allocator in-process (the library),
 * or an IPAM plugin that the CNI plugin reaches (in-process for berth-ipam, a delegated
 * executable otherwise). The caller supplies it; the pipeline calls it in its place.
 */
export interface AddressSource {
  /** How errors name it, e.g. 'IPAM berth-ipam'. */
  readonly name: string;
  /** Reserves the attachment's addresses on `ifname`. */
  acquire(ifname: string): Promise<Addressing>;
  /** Releases what the attachment on `ifname` holds; nothing held is success. */
  release(ifname: string): Promise<void>;
  /** That the reservation is still there. */
  check(ifname: string): Promise<void>;
}
