import { BerthError, ErrorCode } from '../base/errors.js';
import { type NetnsState, netnsState } from '../network/netns.js';

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
