import { NetlinkHandle } from '../../netlink/index.js';
import type { HostAccess } from '../drivers/driver.js';

/** The host netns for a driver: one handle, opened on first use (a driver that makes nothing opens none); close() when done. */
export function openHost(netnsPath: string): HostAccess & { close(): void } {
  let handle: NetlinkHandle | undefined;
  return {
    netnsPath,
    handle: () => {
      handle ??= NetlinkHandle.open(netnsPath);
      return handle;
    },
    close: () => handle?.close(),
  };
}
