import { ipToBigint, tryParseIp, unmapped } from '../../base/address.js';
import { isSystemError } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { NetlinkHandle } from '../../netlink/handle.js';
import { type NetnsState, netnsState, requireNetns } from '../netns.js';
import type { AddRequest, CheckRequest, CniPlugin, CniResult, DelRequest, PluginContext } from '../types.js';

/**
 * berth-loopback: brings up `lo` in the container's netns. Config-compatible
 * with the reference `loopback` plugin: it reads no keys of its own, ignores
 * CNI_IFNAME (only `lo` makes sense), answers ADD with lo and its first IPv4
 * and IPv6 address, passes a prevResult through unchanged, sets lo down on DEL,
 * and on CHECK wants lo up.
 */

export const LOOPBACK = 'lo';
/** What the reference reports for lo, which has no hardware address. */
export const LOOPBACK_MAC = '00:00:00:00:00:00';

/** The part of a NetlinkHandle this plugin uses, so the logic can be tested against a fake. */
export type LoopbackNetns = Pick<NetlinkHandle, 'getLink' | 'setLinkUp' | 'setLinkDown' | 'listAddresses' | 'close'>;

export type { NetnsState } from '../netns.js';

export interface LoopbackKernel {
  inspect(netnsPath: string): NetnsState;
  open(netnsPath: string): LoopbackNetns;
}

export const kernel: LoopbackKernel = {
  inspect: netnsState,
  open: (path) => NetlinkHandle.open(path),
};

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

/** Runs fn with a handle inside netnsPath, closed afterwards. */
async function inNetns<T>(kernel: LoopbackKernel, netnsPath: string, fn: (h: LoopbackNetns) => Promise<T>): Promise<T> {
  const h = kernel.open(netnsPath);
  try {
    return await fn(h);
  } finally {
    h.close();
  }
}

function kernelFailure(what: string, netnsPath: string, e: unknown): BerthError {
  if (e instanceof BerthError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BerthError(ErrorCode.Internal, `could not ${what} in ${netnsPath}: ${message}`, '', { cause: e });
}

async function requireLo(h: LoopbackNetns, netnsPath: string) {
  const lo = await h.getLink(LOOPBACK);
  if (!lo) {
    throw new BerthError(
      ErrorCode.Internal,
      `network namespace ${netnsPath} has no interface named lo`,
      'every network namespace has lo; CNI_NETNS may name something other than a container netns',
    );
  }
  return lo;
}

async function loUp(h: LoopbackNetns, netns: string): Promise<void> {
  await requireLo(h, netns);
  await h.setLinkUp(LOOPBACK);
}

/** lo up and nothing more, for a plugin that checked the netns itself and reports no lo (the bridge's "loopback"). */
export async function setLoopbackUp(netns: string, k: LoopbackKernel = kernel): Promise<void> {
  await inNetns(k, netns, async (h) => {
    try {
      await loUp(h, netns);
    } catch (e) {
      throw kernelFailure('bring up lo', netns, e);
    }
  });
}

/** ADD's work: lo up in the netns; the result names lo and its first address of each family. */
async function bringUpLoopback(netns: string, k: LoopbackKernel = kernel): Promise<CniResult> {
  requireNetns(netns, k.inspect(netns));
  const [v4, v6] = await inNetns(k, netns, async (h) => {
    try {
      await loUp(h, netns);
      // Listed after the link is up: the kernel adds ::1 when lo comes up and removes it when lo goes down.
      const four = await h.listAddresses(LOOPBACK, 4);
      const six = await h.listAddresses(LOOPBACK, 6);
      return [four.map((a) => a.cidr), six.map((a) => a.cidr)];
    } catch (e) {
      throw kernelFailure('bring up lo', netns, e);
    }
  });
  return loopbackResult(netns, v4, v6);
}

/** DEL's work: lo down; a netns that is gone, or goes while this runs, is nothing to do. */
export async function setLoopbackDown(
  netns: string | undefined,
  context: PluginContext,
  k: LoopbackKernel = kernel,
): Promise<void> {
  if (netns === undefined) return;
  const state = k.inspect(netns);
  if (state !== 'netns') {
    // The host's lo is no container's to set down: ADD refused that netns, so there is nothing to undo.
    const what: string = {
      missing: 'gone',
      'not-netns': 'not a netns any more',
      own: "the host's",
      host: "the host's",
      denied: 'not to be looked at',
    }[state];
    context.log(`network namespace ${netns} is ${what}: nothing to do`);
    return;
  }
  try {
    await inNetns(k, netns, async (h) => {
      if (await h.getLink(LOOPBACK)) await h.setLinkDown(LOOPBACK);
    });
  } catch (e) {
    // The netns can vanish between the look and the open; then there is nothing left to undo.
    if (isSystemError(e, 'ENOENT')) {
      context.log(`network namespace ${netns} went away during DEL: nothing to do`);
      return;
    }
    throw kernelFailure('set lo down', netns, e);
  }
}

/** CHECK's work: lo is there and up. */
export async function checkLoopback(netns: string, k: LoopbackKernel = kernel): Promise<void> {
  requireNetns(netns, k.inspect(netns));
  const lo = await inNetns(k, netns, async (h) => {
    try {
      return await requireLo(h, netns);
    } catch (e) {
      throw kernelFailure('look up lo', netns, e);
    }
  });
  if (!lo.up) {
    throw new BerthError(
      ErrorCode.Internal,
      `lo in ${netns} is down`,
      'ADD brought lo up; something set it down since (DEL and ADD the container again)',
    );
  }
}

export function loopbackPlugin(k: LoopbackKernel = kernel): CniPlugin {
  return {
    async add(request: AddRequest): Promise<CniResult> {
      const result = await bringUpLoopback(request.netns, k);
      // Chained after another plugin, loopback must not replace that plugin's result.
      return request.config.prevResult ?? result;
    },
    del: (request: DelRequest, context: PluginContext) => setLoopbackDown(request.netns, context, k),
    check: (request: CheckRequest) => checkLoopback(request.netns, k),
  };
}
