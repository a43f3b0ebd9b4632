import { familyOf } from '../../base/address.js';
import { isSystemError } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { NetlinkHandle } from '../../netlink/index.js';
import type { Expected } from './driver.js';

/** The sandbox's side of an attachment, as every driver that gives it an interface sets it up and checks it. */

export interface RouteSpec {
  /** 'default', or a prefix ('0.0.0.0/0' and '::/0' are the default routes). */
  readonly dst: string;
  readonly gateway?: string;
}

/** A CHECK's finding: the attachment is not as its ADD left it. */
export const notAsMade = (msg: string, fix = 'DEL and ADD the container again') =>
  new BerthError(ErrorCode.Internal, msg, fix);

/**
 * Adds the route through dev. When another interface already has a route to the
 * same destination (a sandbox on two networks has two default routes), this one
 * goes after it, with the next metric, instead of failing: the first stays
 * preferred and the second takes over when the first interface leaves.
 */
export async function addRouteAfterOthers(inside: NetlinkHandle, route: RouteSpec, dev: string): Promise<void> {
  try {
    await inside.addRoute({ ...route, dev });
    return;
  } catch (e) {
    if (!isSystemError(e, 'EEXIST')) throw e;
  }
  const isDefault = route.dst === 'default' || route.dst === '0.0.0.0/0' || route.dst === '::/0';
  const family = familyOf(isDefault ? (route.gateway ?? route.dst) : route.dst);
  const dst = isDefault ? 'default' : route.dst;
  const same = (await inside.listRoutes({ family })).filter((r) => r.dst === dst);
  const metric = Math.max(0, ...same.map((r) => r.metric ?? 0)) + 1;
  await inside.addRoute({ ...route, dev, metric });
}

/** That the sandbox's interface still has the addresses the attach reported, and the sandbox its routes. */
export async function checkAddressesAndRoutes(
  inside: NetlinkHandle,
  link: { readonly index: number; readonly name: string },
  netnsPath: string,
  expected: Expected,
): Promise<void> {
  const addresses = new Set((await inside.listAddresses(link.index)).map((a) => a.cidr));
  for (const ip of expected.ips) {
    if (!addresses.has(ip.address)) throw notAsMade(`address ${ip.address} is missing on ${link.name} in ${netnsPath}`);
  }
  const routes = [...(await inside.listRoutes({ family: 4 })), ...(await inside.listRoutes({ family: 6 }))];
  for (const r of expected.routes) {
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
    const found = routes.some((k) => k.dst === dst && (!r.gw || k.gateway === r.gw));
    if (!found) throw notAsMade(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${netnsPath}`);
  }
}
