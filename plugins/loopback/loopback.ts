import { ipToBigint, tryParseIp, unmapped } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import {
  bringUpLoopback,
  checkLoopback,
  kernel,
  LOOPBACK,
  type LoopbackKernel,
  setLoopbackDown,
} from '../../network/loopback.js';
import { requireNetns } from '../netns.js';
import type { AddRequest, CheckRequest, CniPlugin, CniResult, DelRequest, PluginContext } from '../types.js';

/**
 * berth-loopback: brings up `lo` in the container's netns. Config-compatible
 * with the reference `loopback` plugin: it reads no keys of its own, ignores
 * CNI_IFNAME (only `lo` makes sense), answers ADD with lo and its first IPv4
 * and IPv6 address, passes a prevResult through unchanged, sets lo down on DEL,
 * and on CHECK wants lo up.
 */

/** What the reference reports for lo, which has no hardware address. */
export const LOOPBACK_MAC = '00:00:00:00:00:00';

/** Whether an address (without prefix) is a loopback address as Go's net.IP.IsLoopback sees it: 127/8, ::1, ::ffff:127/104. */
export function isLoopbackAddress(address: string): boolean {
  const parsed = tryParseIp(address);
  if (!parsed) return false;
  const ip = unmapped(parsed);
  return ip.family === 4 ? ip.bytes[0] === 127 : ipToBigint(ip) === 1n;
}

/**
 * The ADD result for lo with these addresses (as the kernel lists them, each
 * "address/prefix"): the first of each family, as the reference answers. An
 * address that is not a loopback one means something else configured lo, and
 * ADD refuses rather than report it as the container's loopback.
 */
export function loopbackResult(netnsPath: string, v4: readonly string[], v6: readonly string[]): CniResult {
  for (const cidr of [...v4, ...v6]) {
    const address = cidr.split('/')[0]!;
    if (!isLoopbackAddress(address)) {
      throw new BerthError(
        ErrorCode.Internal,
        `lo in ${netnsPath} has the non-loopback address ${cidr}`,
        `something other than the loopback plugin configured lo; remove the address (ip -n <netns> address del ${cidr} dev lo) or put it on another interface`,
      );
    }
  }
  const ips = [v4[0], v6[0]].filter((a) => a !== undefined).map((address) => ({ address, interface: 0 }));
  return {
    interfaces: [{ name: LOOPBACK, mac: LOOPBACK_MAC, sandbox: netnsPath }],
    ...(ips.length > 0 ? { ips } : {}),
  };
}

export function loopbackPlugin(k: LoopbackKernel = kernel): CniPlugin {
  return {
    async add(request: AddRequest): Promise<CniResult> {
      requireNetns(request.netns, k.inspect(request.netns));
      const { v4, v6 } = await bringUpLoopback(request.netns, k);
      const result = loopbackResult(request.netns, v4, v6);
      // Chained after another plugin, loopback must not replace that plugin's result.
      return request.config.prevResult ?? result;
    },
    del: (request: DelRequest, context: PluginContext) => setLoopbackDown(request.netns, (m) => context.log(m), k),
    async check(request: CheckRequest) {
      requireNetns(request.netns, k.inspect(request.netns));
      await checkLoopback(request.netns, k);
    },
  };
}
