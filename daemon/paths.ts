import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the daemons keep their sockets, locks and logs: root's only (0700). */
export const RUN_DIR = '/run/berth';

/** The daemon's bundle, beside the clients that start it. */
export const DAEMON_BUNDLE = 'berth-daemon.js';

/**
 * 32-bit FNV-1a of the bytes, as 8 hex digits: a short tag for a folder's path in a file name
 * (netlink/src/cni-client.c computes the same).
 */
export function fnv1a32(data: Buffer): string {
  let h = 0x811c9dc5;
  for (const byte of data) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The files of the daemon that serves the plugins of one folder in one network namespace. One per
 * netns, because the plugins' kernel work happens in the daemon's netns, which must be the caller's;
 * one per folder, because a daemon runs the code of its own folder, and a client must reach the code
 * it was installed with (two installs, or two checkouts running tests, each get theirs).
 */
export interface DaemonPaths {
  readonly socket: string;
  /** The single-instance flock; holds the daemon's PID. */
  readonly lock: string;
  /** The daemon's stdout and stderr when a client started it. */
  readonly log: string;
}

export function daemonPaths(netnsInode: number, pluginDir: string, runDir = RUN_DIR): DaemonPaths {
  const base = join(runDir, `cni-${netnsInode}-${fnv1a32(Buffer.from(pluginDir))}`);
  return { socket: `${base}.sock`, lock: `${base}.lock`, log: `${base}.log` };
}

/** The inode of a network namespace (a file under /proc/<pid>/ns/ or /run/netns/). */
export function netnsInode(path = '/proc/self/ns/net'): number {
  return statSync(path).ino;
}

/** A folder as the client names it: its real path, symlinks resolved. */
export const canonicalDir = (dir: string): string => realpathSync(dir);

/**
 * The CNI plugins' folder of this install: dist/cni beside the bundle this code runs from (dist/lib,
 * dist/bin), or the build's dist/cni when it runs from the sources.
 */
export function defaultPluginDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'cni'), join(here, '..', 'dist', 'cni')];
  return candidates.find((d) => existsSync(join(d, DAEMON_BUNDLE))) ?? candidates[0]!;
}
