import { sha256Hex } from '../../base/sha256.js';
import { type Link, rtnl } from '../../netlink/index.js';

/**
 * The IFB link that shapes what comes out of an attachment. Its name is derived from the
 * attachment's owner alone (a CNI attachment's `<network>/<containerId>/<ifname>`, a library
 * endpoint's ID), so a DEL without the netns or the ADD's result finds it; a hash keeps it within
 * the kernel's 15 bytes whatever the owner's length (the reference's `bwp` + hash does the same,
 * from the network and container ID). Its alias says it is berth's, the host end it shapes and,
 * when it fits, the owner: GC knows from the kernel alone which IFB belongs to which attachment.
 */

/** `bw` and 13 hex digits: 15 bytes, the most a link name has. */
export function ifbName(owner: string): string {
  return `bw${sha256Hex(`bandwidth\0${owner}`).slice(0, 13)}`;
}

const ALIAS_TAG = 'berth-bandwidth';

export interface IfbAlias {
  /** The host end whose ingress is redirected to the IFB. */
  readonly hostLink: string;
  /** The attachment's owner; absent when it was too long for the alias. */
  readonly owner?: string;
}

/** `berth-bandwidth <hostLink> <owner>`, the owner left out when the alias would pass the kernel's 255 bytes. */
export function ifbAlias(hostLink: string, owner: string): string {
  const full = `${ALIAS_TAG} ${hostLink} ${owner}`;
  return Buffer.byteLength(full) <= rtnl.IFALIAS_MAX && !/\s/.test(owner) ? full : `${ALIAS_TAG} ${hostLink}`;
}

/** What an IFB's alias says, or undefined for a link that is not one of berth's. */
export function parseIfbAlias(alias: string | undefined): IfbAlias | undefined {
  const parts = alias?.split(' ');
  if (!parts || parts[0] !== ALIAS_TAG || !parts[1] || parts.length > 3) return undefined;
  return { hostLink: parts[1], ...(parts[2] ? { owner: parts[2] } : {}) };
}

/** An IFB of berth's, with what its alias says. */
export interface ShapingIfb {
  readonly name: string;
  readonly hostLink: string;
  readonly owner?: string;
  /** Its host end is not among the links: it shapes nothing. */
  readonly orphaned: boolean;
}

/** berth's IFB links among the links of a netns. */
export function shapingIfbs(links: readonly Pick<Link, 'name' | 'type' | 'alias'>[]): ShapingIfb[] {
  const names = new Set(links.map((l) => l.name));
  return links.flatMap((l) => {
    const alias = l.type === 'ifb' ? parseIfbAlias(l.alias) : undefined;
    return alias ? [{ name: l.name, ...alias, orphaned: !names.has(alias.hostLink) }] : [];
  });
}
