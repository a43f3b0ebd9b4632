import { isDeepStrictEqual } from 'node:util';
import { tryParseIp } from '../../base/address.js';
import { validateDnsName } from '../../base/names.js';
import { sha256Hex } from '../../base/sha256.js';
import type { NameRecord } from '../names/model.js';

/**
 * Names across hosts: each host publishes the name records of its endpoints on an overlay
 * network with names to etcd, under its lease, and keeps the other hosts' records as imported
 * records beside its own, which its name service answers too. Pure: keys, values, and what to
 * write where; the agent reads both sides and applies the plans.
 *
 *   <prefix>names/<network>/<node>/<owner hash>   a PublishedValue, attached to the node's lease
 */

/** What a name key holds: the record without its netns, which means nothing on another host. */
export interface PublishedValue {
  readonly owner: string;
  readonly names: readonly string[];
  readonly addresses: readonly string[];
}

/** A name record as read from the store. */
export interface PublishedName extends PublishedValue {
  readonly network: string;
  readonly node: string;
  /** The etcd lease it is attached to, decimal. */
  readonly lease: string;
}

/** The last part of a name key: the owner (an endpoint id, or a CNI attachment's "container/ifname") hashed. */
export const ownerKeyOf = (owner: string): string => sha256Hex(owner).slice(0, 24);

/** A local record as it is published. */
export function publishedValueOf(record: NameRecord): PublishedValue {
  return { owner: record.owner, names: [...record.names], addresses: [...record.addresses] };
}

/**
 * A name key's value, checked as the name service needs it: an owner, at least one name (each a
 * lower-case DNS name) and at least one address; undefined when it is not one.
 */
export function parsePublishedValue(value: unknown): PublishedValue | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const listOf = (x: unknown, valid: (s: string) => boolean): x is string[] =>
    Array.isArray(x) && x.length > 0 && x.every((s) => typeof s === 'string' && valid(s));
  if (typeof v.owner !== 'string' || v.owner === '') return undefined;
  if (!listOf(v.names, isServedName) || !listOf(v.addresses, (a) => tryParseIp(a) !== undefined)) return undefined;
  return { owner: v.owner, names: v.names, addresses: v.addresses };
}

function isServedName(name: string): boolean {
  try {
    return validateDnsName(name) === name;
  } catch {
    return false;
  }
}

/** A record the other hosts can answer for: one with a name and an address. */
const publishable = (record: NameRecord): boolean => record.names.length > 0 && record.addresses.length > 0;

/** The owner of an imported record: the publishing node's name and its owner, so two hosts' owners never meet. */
export const importedOwnerOf = (node: string, owner: string): string => `${node}/${owner}`;

export interface PublishPlan {
  /** Records to put under this host's lease. */
  readonly put: readonly PublishedValue[];
  /** Owners whose keys to delete. */
  readonly remove: readonly string[];
}

/**
 * What this host must write to etcd so that its published records of a network are its local
 * ones: a record missing, changed, or under another lease (the old one lost) is put again. A
 * record without names or addresses is not published (and withdrawn if it was).
 */
export function planPublish(
  local: readonly NameRecord[],
  published: readonly PublishedName[],
  lease: string,
): PublishPlan {
  const byOwner = new Map(published.map((p) => [p.owner, p]));
  const wanted = local.filter(publishable).map(publishedValueOf);
  const put = wanted.filter((w) => {
    const p = byOwner.get(w.owner);
    return !p || p.lease !== lease || !isDeepStrictEqual(publishedValueOf(p), w);
  });
  const owners = new Set(wanted.map((w) => w.owner));
  return { put, remove: published.filter((p) => !owners.has(p.owner)).map((p) => p.owner) };
}

export interface ImportPlan {
  readonly put: readonly NameRecord[];
  /** Owners (imported ones) whose records to remove. */
  readonly remove: readonly string[];
}

/** What this host's imported records of a network must become: the other nodes' published records. */
export function planImport(remote: readonly PublishedName[], node: string, present: readonly NameRecord[]): ImportPlan {
  const wanted: NameRecord[] = remote
    .filter((r) => r.node !== node)
    .map((r) => ({
      owner: importedOwnerOf(r.node, r.owner),
      names: [...r.names],
      addresses: [...r.addresses],
      node: r.node,
    }));
  const have = new Map(present.map((r) => [r.owner, r]));
  const put = wanted.filter((w) => !isDeepStrictEqual(have.get(w.owner), w));
  const owners = new Set(wanted.map((w) => w.owner));
  return { put, remove: present.filter((r) => !owners.has(r.owner)).map((r) => r.owner) };
}
