import { existsSync } from 'node:fs';
import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { netnsExists, netnsIdentity } from '../netlink/netns.js';

/**
 * What a path given as CNI_NETNS turned out to be: a container's netns, nothing, something that is
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

const HOST_FIX =
  "give the container's own netns (/run/netns/<name>, or /proc/<pid>/ns/net of a process inside the container); " +
  'a container that shares the host network needs no CNI ADD';

/**
 * ADD and CHECK need the container's netns, looked at before anything is reserved: a missing one is
 * an unknown container (3); anything else at that path, or the host's own netns, a bad CNI_NETNS (4):
 * moving the container interface there would take the host's interface of that name, its addresses
 * and routes.
 */
export function requireNetns(path: string, state: NetnsState = netnsState(path)): void {
  if (state === 'missing') {
    throw new BerthError(
      ErrorCode.UnknownContainer,
      `network namespace ${path} does not exist`,
      'the container is gone or CNI_NETNS names the wrong path',
    );
  }
  if (state === 'not-netns') {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${path} is not a network namespace`,
      'CNI_NETNS must be a netns file such as /run/netns/<name> or /proc/<pid>/ns/net; a plain file there is what a netns leaves when it is unmounted',
    );
  }
  if (state === 'denied') {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${path} may not be looked at (permission denied)`,
      'run the plugin as root, and give a netns it may open: /run/netns/<name>, or /proc/<pid>/ns/net of a process in the container',
    );
  }
  if (state === 'own') {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${path} is the network namespace the plugin runs in (the host's), not a container's`,
      HOST_FIX,
    );
  }
  if (state === 'host') {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${path} is the host's network namespace (that of PID 1), not a container's`,
      HOST_FIX,
    );
  }
}
