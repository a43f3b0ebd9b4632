import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { NetlinkHandle } from '../netlink/handle.js';
import { type NetnsState, netnsState } from './netns.js';

/** A sandbox's `lo`: up when an attachment asks for it, down when that attachment goes, checked up in between. */

export const LOOPBACK = 'lo';

/** The part of a NetlinkHandle these steps use, so they can be tested against a fake. */
export type LoopbackNetns = Pick<NetlinkHandle, 'getLink' | 'setLinkUp' | 'setLinkDown' | 'listAddresses' | 'close'>;

export interface LoopbackKernel {
  inspect(netnsPath: string): NetnsState;
  open(netnsPath: string): LoopbackNetns;
}

export const kernel: LoopbackKernel = {
  inspect: netnsState,
  open: (path) => NetlinkHandle.open(path),
};

/** Runs fn with a handle inside netnsPath, closed afterwards. */
async function inNetns<T>(k: LoopbackKernel, netnsPath: string, fn: (h: LoopbackNetns) => Promise<T>): Promise<T> {
  const h = k.open(netnsPath);
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

/** lo up and nothing more, in a netns the caller looked at already. */
export async function setLoopbackUp(netns: string, k: LoopbackKernel = kernel): Promise<void> {
  await inNetns(k, netns, async (h) => {
    try {
      await loUp(h, netns);
    } catch (e) {
      throw kernelFailure('bring up lo', netns, e);
    }
  });
}

/** lo up; returns its addresses of each family (as "address/prefix"), listed once it is up. */
export async function bringUpLoopback(
  netns: string,
  k: LoopbackKernel = kernel,
): Promise<{ readonly v4: readonly string[]; readonly v6: readonly string[] }> {
  return inNetns(k, netns, async (h) => {
    try {
      await loUp(h, netns);
      // Listed after the link is up: the kernel adds ::1 when lo comes up and removes it when lo goes down.
      const v4 = await h.listAddresses(LOOPBACK, 4);
      const v6 = await h.listAddresses(LOOPBACK, 6);
      return { v4: v4.map((a) => a.cidr), v6: v6.map((a) => a.cidr) };
    } catch (e) {
      throw kernelFailure('bring up lo', netns, e);
    }
  });
}

/** lo down; a netns that is gone, or goes while this runs, is nothing to do (said through `log`). */
export async function setLoopbackDown(
  netns: string | undefined,
  log: (message: string) => void,
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
    log(`network namespace ${netns} is ${what}: nothing to do`);
    return;
  }
  try {
    await inNetns(k, netns, async (h) => {
      if (await h.getLink(LOOPBACK)) await h.setLinkDown(LOOPBACK);
    });
  } catch (e) {
    // The netns can vanish between the look and the open; then there is nothing left to undo.
    if (isSystemError(e, 'ENOENT')) {
      log(`network namespace ${netns} went away during DEL: nothing to do`);
      return;
    }
    throw kernelFailure('set lo down', netns, e);
  }
}

/** lo is there and up. */
export async function checkLoopback(netns: string, k: LoopbackKernel = kernel): Promise<void> {
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
