import { BerthError, ErrorCode, TeardownErrors } from '../../base/errors.js';
import { type Link, type NetlinkHandle, type Qdisc, tbfDifferences } from '../../netlink/index.js';
import type { LinkInfo } from '../drivers/driver.js';
import { isGone, teardown, type UndoStack } from '../undo.js';
import { ifbAlias, ifbName, parseIfbAlias, type ShapingIfb, shapingIfbs } from './ifb.js';
import {
  type Bandwidth,
  type BandwidthKeys,
  DIRECTIONS,
  type Direction,
  frameOf,
  type Shaper,
  shaperOf,
} from './limits.js';
import { formatRate } from './units.js';

/**
 * Shaping in the host netns, as the reference bandwidth plugin does it: a TBF at the root of the
 * host end of the veth limits what goes into the container; an ingress qdisc on the host end with
 * a u32 filter that matches every packet redirects what comes out of the container to an IFB link,
 * whose root TBF limits it.
 */

/** The attachment being shaped. */
export interface ShapingTarget {
  /** The host end of its veth. */
  readonly hostLink: string;
  /** Its owner, which names its IFB (ifbName). */
  readonly owner: string;
  /** How errors name it, e.g. 'ctr1/eth0'. */
  readonly name: string;
}

/** The u32 filter's priority and the class it names, the reference's. */
const FILTER_PRIORITY = 1;
const FILTER_CLASS = '1:1';

const WHAT: Readonly<Record<Direction, string>> = {
  ingress: 'what goes into the container',
  egress: 'what comes out of the container',
};

function missingHostEnd(target: ShapingTarget): BerthError {
  return new BerthError(
    ErrorCode.Internal,
    `the host end ${target.hostLink} of ${target.name} is not in the host netns, so there is nothing to shape`,
    'shape an attachment that has a veth on the host (a bridge network)',
  );
}

/** The TBF of each direction limited, for a link of that MTU; refuses a limit the kernel cannot hold (code 7). */
export function shapersOn(
  link: Pick<Link, 'name' | 'mtu'>,
  bandwidth: Bandwidth,
  keys: BandwidthKeys,
): Partial<Record<Direction, Shaper>> {
  const out: Partial<Record<Direction, Shaper>> = {};
  for (const d of DIRECTIONS) {
    const limit = bandwidth[d];
    if (limit) out[d] = shaperOf(limit, keys[d], link.name, frameOf(link.mtu));
  }
  return out;
}

/**
 * Shapes the attachment; each change pushes its undo. Every limit is checked against the host
 * end's MTU before anything is made. Returns the IFB link when one was made (a CNI result lists it).
 */
export async function shape(
  h: NetlinkHandle,
  target: ShapingTarget,
  bandwidth: Bandwidth,
  keys: BandwidthKeys,
  undo: UndoStack,
  log: (message: string) => void,
): Promise<LinkInfo | undefined> {
  const link = await h.getLink(target.hostLink);
  if (!link) throw missingHostEnd(target);
  const shapers = shapersOn(link, bandwidth, keys);
  for (const d of DIRECTIONS) {
    const s = shapers[d];
    if (s?.cut) {
      log(
        `${keys[d].burst} ${bandwidth[d]?.burst} lasts longer at ${formatRate(s.rate)} than the kernel holds: ${target.name} gets ${s.burst}`,
      );
    }
  }
  if (shapers.ingress) {
    await h.addQdisc(link.index, shapers.ingress.tbf);
    undo.push(`the tbf qdisc on ${link.name}`, () => deleteQdiscIfThere(h, link.name, 'root'));
  }
  const egress = shapers.egress;
  if (!egress) return undefined;
  const ifb = ifbName(target.owner);
  // One of the same name is an earlier ADD of this attachment whose DEL did not finish: it shapes nothing now.
  if (await h.getLink(ifb)) {
    log(`removing IFB ${ifb} that an earlier attach of ${target.name} left`);
    await h.deleteLink(ifb);
  }
  await h.createIfb(ifb, { mtu: link.mtu });
  undo.push(`IFB ${ifb}`, () => deleteLinkIfThere(h, ifb));
  await h.setAlias(ifb, ifbAlias(link.name, target.owner));
  await h.setLinkUp(ifb);
  await h.addQdisc(ifb, egress.tbf);
  await h.addQdisc(link.index, { kind: 'ingress' });
  // Its filters go with it.
  undo.push(`the ingress qdisc on ${link.name}`, () => deleteQdiscIfThere(h, link.name, 'ingress'));
  await h.addFilter(link.index, {
    kind: 'u32',
    parent: 'ingress',
    priority: FILTER_PRIORITY,
    protocol: 'all',
    classid: FILTER_CLASS,
    redirectTo: ifb,
  });
  const made = await h.getLink(ifb);
  return { name: ifb, mac: made?.mac ?? '' };
}

async function deleteLinkIfThere(h: NetlinkHandle, name: string): Promise<void> {
  try {
    await h.deleteLink(name);
  } catch (e) {
    if (!isGone(e)) throw e;
  }
}

async function deleteQdiscIfThere(h: NetlinkHandle, link: string, parent: 'root' | 'ingress'): Promise<void> {
  try {
    await h.deleteQdisc(link, parent);
  } catch (e) {
    if (!isGone(e)) throw e;
  }
}

const isOurTbf = (q: Qdisc) => q.parent === 'root' && q.kind === 'tbf' && q.handle === '1:';

/**
 * Removes the attachment's shaping, best effort (what is gone is success): on each veth among the
 * host ends given that is still there, the ingress qdisc and a root TBF of ours; then the IFB.
 * Without host ends (they go with their veth anyway) only the IFB, whose alias names its host
 * end, and that host end's ingress qdisc.
 */
export async function unshape(h: NetlinkHandle, owner: string, hostLinks: readonly string[] = []): Promise<void> {
  const ifb = ifbName(owner);
  const ifbLink = await h.getLink(ifb);
  const fromAlias = parseIfbAlias(ifbLink?.alias)?.hostLink;
  const ends = [...new Set([...hostLinks, ...(fromAlias ? [fromAlias] : [])])];
  const steps = [];
  for (const end of ends) {
    const link = await h.getLink(end);
    // A bridge among the host interfaces of a CNI result is no host end.
    if (link?.type !== 'veth') continue;
    const qdiscs = await h.listQdiscs(link.index);
    if (qdiscs.some((q) => q.kind === 'ingress' && q.parent === 'ingress')) {
      steps.push({ what: `the ingress qdisc on ${end}`, run: () => deleteQdiscIfThere(h, end, 'ingress') });
    }
    if (hostLinks.includes(end) && qdiscs.some(isOurTbf)) {
      steps.push({ what: `the tbf qdisc on ${end}`, run: () => deleteQdiscIfThere(h, end, 'root') });
    }
  }
  if (ifbLink) steps.push({ what: `IFB ${ifb}`, run: () => deleteLinkIfThere(h, ifb) });
  const errors = await teardown(steps, isGone);
  if (errors.length > 0) throw new TeardownErrors(errors);
}

const notAsMade = (target: ShapingTarget, msg: string) =>
  new BerthError(ErrorCode.Internal, `bandwidth of ${target.name}: ${msg}`, 'DEL and ADD the container again');

/** That the kernel shapes as `bandwidth` says; the first difference throws, naming the qdisc or link. */
export async function checkShaping(
  h: NetlinkHandle,
  target: ShapingTarget,
  bandwidth: Bandwidth,
  keys: BandwidthKeys,
): Promise<void> {
  const link = await h.getLink(target.hostLink);
  if (!link) throw missingHostEnd(target);
  const shapers = shapersOn(link, bandwidth, keys);
  const qdiscs = await h.listQdiscs(link.index);
  if (shapers.ingress) {
    const root = qdiscs.find((q) => q.parent === 'root');
    const diff = tbfDifferences(shapers.ingress.tbf, root?.kind === 'noqueue' ? undefined : root);
    if (diff.length > 0) {
      throw notAsMade(target, `the tbf qdisc on ${link.name} that limits ${WHAT.ingress}: ${diff.join('; ')}`);
    }
  }
  if (!shapers.egress) return;
  const ifb = ifbName(target.owner);
  const ifbLink = await h.getLink(ifb);
  if (!ifbLink) throw notAsMade(target, `the IFB link ${ifb} that limits ${WHAT.egress} is gone`);
  const [ifbRoot] = (await h.listQdiscs(ifbLink.index)).filter((q) => q.parent === 'root');
  const diff = tbfDifferences(shapers.egress.tbf, ifbRoot?.kind === 'noqueue' ? undefined : ifbRoot);
  if (diff.length > 0) {
    throw notAsMade(target, `the tbf qdisc on IFB ${ifb} that limits ${WHAT.egress}: ${diff.join('; ')}`);
  }
  if (!qdiscs.some((q) => q.kind === 'ingress' && q.parent === 'ingress')) {
    throw notAsMade(target, `the ingress qdisc on ${link.name} that sends ${WHAT.egress} to IFB ${ifb} is gone`);
  }
  const filters = await h.listFilters(link.index, 'ingress');
  const redirects = filters.some(
    (f) =>
      f.matchesAll &&
      f.actions.some(
        (a) => a.mirred?.redirect && a.mirred.direction === 'egress' && a.mirred.ifindex === ifbLink.index,
      ),
  );
  if (!redirects) {
    throw notAsMade(target, `no filter on the ingress qdisc of ${link.name} redirects ${WHAT.egress} to IFB ${ifb}`);
  }
}

/** berth's IFB links in the netns, each with its host end and whether that is gone. */
export async function listShapingIfbs(h: NetlinkHandle): Promise<ShapingIfb[]> {
  return shapingIfbs(await h.listLinks());
}

/**
 * Removes the IFBs that shape nothing (their host end is gone) and those `stale` says belong to an
 * attachment that is gone, with the ingress qdisc of a host end still there. Every one is tried;
 * returns the names removed and the errors met.
 */
export async function collectIfbs(
  h: NetlinkHandle,
  stale: (ifb: ShapingIfb) => boolean,
): Promise<{ removed: string[]; errors: Error[] }> {
  const removed: string[] = [];
  const errors: Error[] = [];
  for (const ifb of await listShapingIfbs(h)) {
    if (!ifb.orphaned && !stale(ifb)) continue;
    const steps = [
      ...(ifb.orphaned
        ? []
        : [
            { what: `the ingress qdisc on ${ifb.hostLink}`, run: () => deleteQdiscIfThere(h, ifb.hostLink, 'ingress') },
          ]),
      { what: `IFB ${ifb.name}`, run: () => deleteLinkIfThere(h, ifb.name) },
    ];
    const failed = await teardown(steps, isGone);
    if (failed.length === 0) removed.push(ifb.name);
    errors.push(...failed);
  }
  return { removed, errors };
}
