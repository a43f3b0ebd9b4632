import { existsSync } from 'node:fs';
import { binding, isSystemError } from '../base/binding.js';
import { NetlinkHandle } from '../netlink/handle.js';
import { netnsExists, netnsIdentity } from '../netlink/netns.js';

/** Network namespaces as berth's callers meet them: what a path is, and named ones made and removed. */

export { netnsExists } from '../netlink/netns.js';

/**
 * What a path given as a container's netns (CNI_NETNS) turned out to be: a container's netns, nothing, something that is
 * no netns, or one of the two that are never a container's: the netns the plugin runs in (`own`,
 * where it makes the host side of an attachment) and the host's (`host`, PID 1's, when the plugin
 * runs elsewhere, as under a test's netns playing the host); `denied` when it may not be looked at.
 */
export type NetnsState = 'netns' | 'missing' | 'not-netns' | 'own' | 'host' | 'denied';

/** The namespaces a container's netns is compared with, as paths. */
export interface HostNetns {
  readonly own: string;
  readonly host: string;
}

export const HOST_NETNS: HostNetns = { own: '/proc/self/ns/net', host: '/proc/1/ns/net' };

export function netnsState(path: string, hosts: HostNetns = HOST_NETNS): NetnsState {
  try {
    if (!netnsExists(path)) return existsSync(path) ? 'not-netns' : 'missing';
  } catch (e) {
    if (isSystemError(e, 'EACCES')) return 'denied';
    throw e;
  }
  const id = netnsIdentity(path);
  if (id !== null && id === netnsIdentity(hosts.own)) return 'own';
  if (id !== null && id === netnsIdentity(hosts.host)) return 'host';
  return 'netns';
}

/** A named netns (dir/name, as `ip netns add` makes it); EEXIST when the name is taken. Returns its path. */
export function createNetns(dir: string, name: string): string {
  return binding().createNetns(dir, name);
}

/** A named netns (dir/name, as `ip netns add` makes it) with lo up; EEXIST when the name is taken. Returns its path. */
export async function createNetnsWithLoopback(dir: string, name: string): Promise<string> {
  const path = createNetns(dir, name);
  try {
    const inside = NetlinkHandle.open(path);
    try {
      await inside.setLinkUp('lo');
    } finally {
      inside.close();
    }
  } catch (e) {
    binding().deleteNetns(path);
    throw e;
  }
  return path;
}

/** Removes a named netns by its path. */
export function deleteNetns(path: string): void {
  binding().deleteNetns(path);
}

/** The names of the links in a netns ('' is the current one). */
export async function linkNames(netnsPath: string): Promise<string[]> {
  const h = NetlinkHandle.open(netnsPath);
  try {
    return (await h.listLinks()).map((l) => l.name);
  } finally {
    h.close();
  }
}

/** Both ends of a wire between two namespaces: a link name and an address with prefix in each. */
export interface WireEnd {
  readonly netnsPath: string;
  readonly ifname: string;
  readonly address: string;
}

/**
 * A veth pair between two namespaces, addressed and up, with lo up on both sides: an
 * uplink between a netns that plays the host and one that plays a machine outside it.
 */
export async function wireNamespaces(a: WireEnd, b: WireEnd): Promise<void> {
  const ha = NetlinkHandle.open(a.netnsPath);
  const hb = NetlinkHandle.open(b.netnsPath);
  try {
    await ha.createVeth(a.ifname, b.ifname, { peerNetnsPath: b.netnsPath });
    for (const [h, end] of [
      [ha, a],
      [hb, b],
    ] as const) {
      await h.addAddress(end.ifname, end.address);
      await h.setLinkUp(end.ifname);
      await h.setLinkUp('lo');
    }
  } finally {
    ha.close();
    hb.close();
  }
}
