import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { binding, isSystemError } from '../base/binding.js';
import { InvalidArgumentError } from './errors.js';

/** Where `ip netns` keeps named namespaces, so `ip netns exec <name>` finds berth's too. */
export const NETNS_DIR = '/run/netns';

/** statfs f_type of the nsfs pseudo-filesystem that namespace files live on. */
const NSFS_MAGIC = 0x6e736673;

function validateNetnsName(name: string): string {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0') ||
    Buffer.byteLength(name) > 255
  ) {
    throw new InvalidArgumentError(
      `invalid netns name '${name}': must be 1-255 bytes, without '/', and not '.' or '..'`,
    );
  }
  return name;
}

/** Creates a named netns as `ip netns add` does (a bind mount at dir/name); returns its path. EEXIST if taken. */
export function createNamedNetns(name: string, dir = NETNS_DIR): string {
  return binding().createNetns(dir, validateNetnsName(name));
}

/** Removes a named netns, given by name (in dir) or by path. One that is not there counts as removed. */
export function deleteNamedNetns(nameOrPath: string, dir = NETNS_DIR): void {
  const path = nameOrPath.includes('/') ? nameOrPath : join(dir, validateNetnsName(nameOrPath));
  try {
    binding().deleteNetns(path);
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return;
    throw e;
  }
}

/** Whether path is a live network namespace (a leftover empty file in /run/netns is not). */
export function netnsExists(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch (e) {
    if (isSystemError(e, 'ENOENT') || isSystemError(e, 'ENOTDIR')) return false;
    throw e;
  }
}

/**
 * Which namespace a netns file is: its device and inode, as `ip netns identify` compares them (two
 * paths, such as /run/netns/x and /proc/<pid>/ns/net, are one netns when these match). null when
 * path is not there or cannot be looked at (/proc/1 of another user).
 */
export function netnsIdentity(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (e) {
    if (isSystemError(e, 'ENOENT') || isSystemError(e, 'ENOTDIR') || isSystemError(e, 'EACCES')) return null;
    throw e;
  }
}
