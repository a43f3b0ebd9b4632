import { BerthError, ErrorCode } from '../../../base/errors.js';
import type { MacvlanMode } from '../../../netlink/index.js';
import type { NetworkRecord } from '../../model.js';

/** What a macvlan attachment is made with: the reference macvlan plugin's keys, or a berth network's record. */
export interface MacvlanSettings {
  /** The device on the LAN; '' takes the device of the default route (the reference's missing master). */
  readonly parent: string;
  readonly mode: MacvlanMode;
  /** 0: the parent's. */
  readonly mtu: number;
  /** The parent is in the sandbox's netns, not the host's (the reference's linkInContainer). */
  readonly parentInSandbox: boolean;
  /** A default route per family through its subnet's gateway; else the address source's routes alone (the reference's way). */
  readonly defaultRoute: boolean;
}

/** A berth macvlan network: its parent and mode, its MTU, the LAN's gateway as the default route, as Docker's. */
export function macvlanSettingsOf(net: NetworkRecord): MacvlanSettings {
  if (!net.macvlan) {
    throw new BerthError(
      ErrorCode.Internal,
      `the record of macvlan network ${net.name} names no parent`,
      `remove the network and create it again with its parent: berth network create ${net.name} --driver macvlan --parent DEV`,
    );
  }
  return { ...net.macvlan, mtu: net.mtu, parentInSandbox: false, defaultRoute: true };
}
