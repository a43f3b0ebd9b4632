import { prefixesOverlap, subnetOf, tryParseCidr } from '../../../base/address.js';
import { BerthError, ErrorCode } from '../../../base/errors.js';
import type { Link, MacvlanMode, Route } from '../../../netlink/index.js';

/** What a macvlan's parent must be, judged from what the kernel reports: pure functions. */

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** The device of the first default route (IPv4's first, as the kernel lists them): the reference's choice of a missing master. */
export function defaultRouteDevice(routes: readonly Route[], links: readonly Link[]): string | undefined {
  const route = routes.find((r) => r.dst === 'default' && r.dev !== undefined);
  return links.find((l) => l.index === route?.dev)?.name;
}

export interface ParentWanted {
  readonly name: string;
  readonly mode: MacvlanMode;
  /** 0: the parent's. */
  readonly mtu: number;
}

/** Why `parent` cannot carry the macvlan (missing, a macvlan in another mode, an MTU below the one asked for); undefined when it can. */
export function parentProblem(parent: Link | null, want: ParentWanted, where: string): BerthError | undefined {
  if (!parent) {
    return invalid(
      `parent ${want.name} does not exist in ${where}`,
      'name the device that is on the LAN (ip link lists them), e.g. eth0',
    );
  }
  const mode = parent.macvlan?.mode;
  if (parent.type === 'macvlan' && mode !== want.mode) {
    return invalid(
      `parent ${want.name} is itself a macvlan in ${mode} mode, not ${want.mode}`,
      `use mode ${mode}, or the device under ${want.name}`,
    );
  }
  if (want.mtu > parent.mtu) {
    return invalid(
      `MTU ${want.mtu} is above the MTU ${parent.mtu} of parent ${want.name}`,
      `give at most ${parent.mtu}, or leave the MTU out to take the parent's`,
    );
  }
  return undefined;
}

/**
 * An address inside a subnet the host routes to a bridge other than the parent: a bridge network's
 * subnet (berth's, or a CNI bridge's). The host could not tell the two apart.
 */
export function bridgeClash(
  addresses: readonly string[],
  routes: readonly Route[],
  links: readonly Link[],
  parentIndex: number,
): BerthError | undefined {
  const bridges = new Map(links.filter((l) => l.type === 'bridge' && l.index !== parentIndex).map((l) => [l.index, l]));
  for (const address of addresses) {
    const subnet = tryParseCidr(subnetOf(address))!;
    for (const r of routes) {
      const bridge = r.dev === undefined ? undefined : bridges.get(r.dev);
      const dst = r.dst === 'default' ? undefined : tryParseCidr(r.dst);
      if (!bridge || !dst || !prefixesOverlap(subnet, dst)) continue;
      return invalid(
        `address ${address} is in ${r.dst}, which this host routes to bridge ${bridge.name}`,
        "a macvlan network takes its LAN's subnet, and no bridge network may use it: give each its own",
      );
    }
  }
  return undefined;
}
