import { BerthError, ErrorCode } from '../../base/errors.js';
import { NetlinkHandle } from '../../netlink/index.js';
import type { HostAccess, Linked, LinkInfo, TeardownStep } from '../drivers/driver.js';
import { checkShaping, collectIfbs, shape, unshape } from '../shaping/kernel.js';
import { shapes } from '../shaping/limits.js';
import { transaction, type UndoStack } from '../undo.js';
import { openHost } from './host.js';
import type { AttachmentIdentity, AttachRequest, CheckRequest, ShapingRequest } from './request.js';

/**
 * The pipeline's shaping step: the attachment's bandwidth limits on the host end its driver
 * made (a TBF there, an IFB named after the attachment for what comes out of the sandbox).
 */

/** Shapes the attachment when its request has limits; returns the IFB made. A driver without a host end is refused (code 7), undoing its links. */
export async function shapeAttachment(
  host: HostAccess,
  req: Pick<AttachRequest, 'identity' | 'network' | 'shaping' | 'log'>,
  linked: Linked,
  undo: UndoStack,
): Promise<LinkInfo | undefined> {
  const shaping = req.shaping;
  if (!shapes(shaping?.bandwidth)) return undefined;
  if (!linked.hostLink) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `bandwidth limits need a link on the host to shape, and a ${req.network.driver} network (${req.network.name}) makes none`,
      'limit bandwidth on a bridge network, or leave the limits out',
    );
  }
  const target = { hostLink: linked.hostLink, owner: req.identity.owner, name: req.identity.name };
  return shape(host.handle(), target, shaping.bandwidth, shaping.keys, undo, req.log);
}

/** The teardown of the attachment's shaping: its IFB, found by the attachment's owner (its host end goes with the driver's links). */
export function unshapeStep(host: HostAccess, identity: AttachmentIdentity): TeardownStep {
  return { what: `the shaping of ${identity.name}`, run: () => unshape(host.handle(), identity.owner) };
}

/** CHECK: the qdiscs and the IFB are as the limits say. */
export async function checkAttachmentShaping(
  host: HostAccess,
  req: Pick<CheckRequest, 'identity' | 'shaping'>,
): Promise<void> {
  const shaping = req.shaping;
  if (!shapes(shaping?.bandwidth)) return;
  const target = { hostLink: req.identity.hostLink, owner: req.identity.owner, name: req.identity.name };
  await checkShaping(host.handle(), target, shaping.bandwidth, shaping.keys);
}

/**
 * Shaping after another plugin made the attachment (berth-bandwidth chained after a bridge
 * plugin): the host end is found as the reference finds it, as the veth peer of the sandbox's
 * interface, and must be one of the host interfaces the previous plugin reported.
 */
export interface ChainedShaping {
  readonly hostNetnsPath: string;
  readonly identity: Pick<AttachmentIdentity, 'owner' | 'name'>;
  readonly netnsPath: string;
  readonly ifname: string;
  /** The host-side interfaces of the previous plugin's result. */
  readonly hostInterfaces: readonly string[];
  readonly shaping: ShapingRequest;
  readonly log: (message: string) => void;
}

async function hostEndOf(host: HostAccess, req: ChainedShaping): Promise<string> {
  const inside = NetlinkHandle.open(req.netnsPath);
  let peer: number | undefined;
  try {
    const link = await inside.getLink(req.ifname);
    if (!link) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `there is no interface ${req.ifname} in ${req.netnsPath} to shape`,
        'chain the bandwidth plugin after the plugin that makes it',
      );
    }
    peer = link.type === 'veth' ? link.peerIndex : undefined;
  } finally {
    inside.close();
  }
  const hostEnd = peer === undefined ? null : await host.handle().getLink(peer);
  if (!hostEnd || !req.hostInterfaces.includes(hostEnd.name)) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `interface ${req.ifname} in ${req.netnsPath} is not a veth whose host end the previous plugin reported (${req.hostInterfaces.join(', ') || 'none'})`,
      'chain the bandwidth plugin after a plugin that makes a veth pair, e.g. berth-bridge or bridge',
    );
  }
  return hostEnd.name;
}

/** Shapes an attachment another plugin made; a failure undoes what this made. Returns the IFB made. */
export async function shapeChained(req: ChainedShaping): Promise<LinkInfo | undefined> {
  if (!shapes(req.shaping.bandwidth)) return undefined;
  const host = openHost(req.hostNetnsPath);
  try {
    const hostLink = await hostEndOf(host, req);
    const target = { hostLink, owner: req.identity.owner, name: req.identity.name };
    return await transaction((undo) =>
      shape(host.handle(), target, req.shaping.bandwidth, req.shaping.keys, undo, req.log),
    );
  } finally {
    host.close();
  }
}

/** CHECK of an attachment another plugin made. */
export async function checkChained(req: Omit<ChainedShaping, 'log'>): Promise<void> {
  if (!shapes(req.shaping.bandwidth)) return;
  const host = openHost(req.hostNetnsPath);
  try {
    const hostLink = await hostEndOf(host, { ...req, log: () => undefined });
    const target = { hostLink, owner: req.identity.owner, name: req.identity.name };
    await checkShaping(host.handle(), target, req.shaping.bandwidth, req.shaping.keys);
  } finally {
    host.close();
  }
}

/**
 * Removes an attachment's shaping without its netns: the IFB named after it, and the qdiscs on
 * whichever of `hostLinks` (and the host end the IFB's alias names) is still a veth there.
 */
export async function unshapeChained(
  hostNetnsPath: string,
  owner: string,
  hostLinks: readonly string[],
): Promise<void> {
  const host = openHost(hostNetnsPath);
  try {
    await unshape(host.handle(), owner, hostLinks);
  } finally {
    host.close();
  }
}

/**
 * GC of shaping: removes the IFBs of attachments `stale` says are gone (by the owner in their alias)
 * and those whose host end is gone. Returns the errors met; every IFB is tried.
 */
export async function collectShaping(
  hostNetnsPath: string,
  stale: (owner: string) => boolean,
  log: (message: string) => void,
): Promise<Error[]> {
  const host = openHost(hostNetnsPath);
  try {
    const { removed, errors } = await collectIfbs(host.handle(), (ifb) => !!ifb.owner && stale(ifb.owner));
    for (const name of removed) log(`gc: removed IFB ${name}`);
    return errors;
  } finally {
    host.close();
  }
}
