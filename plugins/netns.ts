import { existsSync } from 'node:fs';
import { BerthError, ErrorCode } from '../base/errors.js';
import { netnsExists } from '../netlink/netns.js';

/** What a path given as CNI_NETNS turned out to be. */
export type NetnsState = 'netns' | 'missing' | 'not-netns';

export function netnsState(path: string): NetnsState {
  return netnsExists(path) ? 'netns' : existsSync(path) ? 'not-netns' : 'missing';
}

/**
 * ADD and CHECK need the container's netns, looked at before anything is reserved:
 * a missing one is an unknown container (3), anything else at that path a bad CNI_NETNS (4).
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
}
