import { BerthError, ErrorCode } from '../../base/errors.js';
import type { AddressSource } from '../pipeline/addressing.js';
import type { Allocator } from './allocator.js';

/** berth's allocator as an attachment's address source, in-process: the library's networks. */
export function allocatorSource(
  allocator: Allocator,
  owner: string,
  requested: readonly string[],
  name: string,
): AddressSource {
  return {
    name,
    async acquire(ifname) {
      const allocations = await allocator.allocate(owner, ifname, requested);
      return { ips: allocations.map((a) => ({ address: a.address, gateway: a.gateway })), routes: [] };
    },
    async release(ifname) {
      await allocator.release(owner, ifname);
    },
    async check(ifname) {
      if ((await allocator.lookup(owner, ifname)).length > 0) return;
      throw new BerthError(
        ErrorCode.Internal,
        `${name}: ${owner} (${ifname}) holds no address`,
        'leave and join again',
      );
    },
  };
}
