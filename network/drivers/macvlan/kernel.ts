import { BerthError, ErrorCode } from '../../../base/errors.js';
import { type Link, NetlinkHandle, netnsExists } from '../../../netlink/index.js';
import { isGone, type UndoStack } from '../../undo.js';
import { planBridge } from '../bridge/plan.js';
import type { CheckStep, HostAccess, Linked, LinkStep } from '../driver.js';
import { addRouteAfterOthers, checkAddressesAndRoutes, notAsMade } from '../sandbox.js';
import { bridgeClash, defaultRouteDevice, parentProblem } from './parent.js';
import type { MacvlanSettings } from './settings.js';

const HOST = 'the host netns';

/** Runs fn with a handle where the parent is: the host netns, or the sandbox's when the parent is in there. */
async function onParentSide<T>(
  host: HostAccess,
  settings: MacvlanSettings,
  netnsPath: string,
  fn: (h: NetlinkHandle, where: string) => Promise<T>,
): Promise<T> {
  if (!settings.parentInSandbox) return fn(host.handle(), HOST);
  const h = NetlinkHandle.open(netnsPath);
  try {
    return await fn(h, netnsPath);
  } finally {
    h.close();
  }
}

/** The parent the settings name (or, named by none, the device of the default route), checked it can carry the macvlan. */
export async function findParent(h: NetlinkHandle, settings: MacvlanSettings, where: string): Promise<Link> {
  let name = settings.parent;
  if (!name) {
    const found = defaultRouteDevice(await h.listRoutes(), await h.listLinks());
    if (!found) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `no parent device is given, and ${where} has no default route to take the device of`,
        'name the device that is on the LAN ("master" in a CNI config), e.g. eth0',
      );
    }
    name = found;
  }
  const parent = await h.getLink(name);
  const problem = parentProblem(parent, { name, mode: settings.mode, mtu: settings.mtu }, where);
  if (problem) throw problem;
  return parent!;
}

/**
 * A macvlan on the parent, born in the sandbox under its final name, with the addresses and
 * routes of the plan; no bridge, no host end. Refused, with nothing made, when the parent cannot
 * carry it or an address is in the subnet of a bridge of the host.
 */
export async function attachMacvlan(
  host: HostAccess,
  step: LinkStep<MacvlanSettings>,
  undo: UndoStack,
): Promise<Linked> {
  const { settings, netnsPath, ifname } = step;
  // The gateway is the LAN's router: it stays off every device of this host.
  const plan = planBridge({ isGateway: false, isDefaultGateway: settings.defaultRoute }, step.addressing);
  await onParentSide(host, settings, netnsPath, async (h, where) => {
    const parent = await findParent(h, settings, where);
    const hh = host.handle();
    const clash = bridgeClash(
      plan.ips.map((ip) => ip.address),
      await hh.listRoutes(),
      await hh.listLinks(),
      settings.parentInSandbox ? 0 : parent.index,
    );
    if (clash) throw clash;
    await h.createMacvlan(ifname, parent.index, {
      mode: settings.mode,
      ...(settings.parentInSandbox ? {} : { netnsPath }),
      ...(settings.mtu ? { mtu: settings.mtu } : {}),
      ...(step.mac ? { mac: step.mac } : {}),
    });
  });
  undo.push(`macvlan ${ifname} in ${netnsPath}`, () => deleteMacvlan(netnsPath, ifname));

  const inside = NetlinkHandle.open(netnsPath);
  try {
    if (plan.ips.length > 0) {
      // As the reference: the LAN hears of the new MAC behind an address at once (a gratuitous ARP, an unsolicited NA).
      await inside.setInterfaceSysctl(4, ifname, 'arp_notify', '1').catch(() => undefined);
      await inside.setInterfaceSysctl(6, ifname, 'ndisc_notify', '1').catch(() => undefined);
    }
    for (const ip of plan.ips) await inside.addAddress(ifname, ip.address, { noDad: true });
    await inside.setLinkUp(ifname);
    for (const r of plan.routes) {
      await addRouteAfterOthers(inside, { dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}) }, ifname);
    }
    const mac = (await inside.getLink(ifname))?.mac ?? '';
    return {
      ips: plan.ips,
      routes: plan.routes,
      interfaces: [{ name: ifname, mac, sandbox: netnsPath }],
      hostLink: '',
      mac,
    };
  } finally {
    inside.close();
  }
}

/**
 * Deletes the sandbox's macvlan of that name. A link of another kind under the name is not this
 * attachment's (an ADD that failed on a taken ifname) and stays. A gone netns or link is success.
 */
export async function deleteMacvlan(netnsPath: string, ifname: string): Promise<void> {
  if (!netnsExists(netnsPath)) return;
  const inside = NetlinkHandle.open(netnsPath);
  try {
    const link = await inside.getLink(ifname);
    if (link?.type === 'macvlan') await inside.deleteLink(link.index);
  } catch (e) {
    if (!isGone(e)) throw e;
  } finally {
    inside.close();
  }
}

/** The kernel still holds what the attach made: the parent, the macvlan on it in its mode, its MAC, addresses and routes. */
export async function checkMacvlanAttachment(host: HostAccess, step: CheckStep<MacvlanSettings>): Promise<void> {
  const { settings, netnsPath, ifname, expected } = step;
  const parent = await onParentSide(host, settings, netnsPath, (h, where) => findParent(h, settings, where));
  const inside = NetlinkHandle.open(netnsPath);
  try {
    const link = await inside.getLink(ifname);
    if (!link) throw notAsMade(`interface ${ifname} is missing in ${netnsPath}`);
    if (link.type !== 'macvlan') {
      throw notAsMade(`interface ${ifname} in ${netnsPath} is a ${link.type} link, not a macvlan`);
    }
    if (link.macvlan?.mode !== settings.mode) {
      throw notAsMade(
        `macvlan ${ifname} in ${netnsPath} is in ${link.macvlan?.mode} mode, the config says ${settings.mode}`,
      );
    }
    if (link.parentIndex !== parent.index) {
      throw notAsMade(`macvlan ${ifname} in ${netnsPath} is not on parent ${parent.name}`);
    }
    if (expected.mac && link.mac !== expected.mac) {
      throw notAsMade(`interface ${ifname} has MAC ${link.mac}, prevResult says ${expected.mac}`);
    }
    await checkAddressesAndRoutes(inside, link, netnsPath, expected);
  } finally {
    inside.close();
  }
}
