import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The native side: only what JavaScript cannot do. Failures throw errors shaped
 * like Node's own (`code` such as 'EEXIST', negative `errno`, `syscall`, `path`).
 * A `netnsPath` of '' means the netns the calling thread is in.
 */
export interface NativeBinding {
  /** setns(target) -> socket(AF_NETLINK, protocol) -> bind -> setns(back), in one call. */
  openSocket(protocol: number, netnsPath?: string, groups?: number): number;
  send(fd: number, data: Buffer): number;
  /** One datagram, or null when nothing arrived within timeoutMs (-1 waits forever). */
  recv(fd: number, timeoutMs: number): Buffer | null;
  /**
   * sendto, then every datagram until the one that ends request seq (its ACK or error, its dump's
   * NLMSG_DONE) or timeoutMs, on a libuv pool thread: the event loop runs on meanwhile. Resolves
   * with the datagrams received, which lack the end when the time ran out.
   */
  exchange(fd: number, data: Buffer, seq: number, timeoutMs: number): Promise<Buffer[]>;
  close(fd: number): void;
  /** Runs fn synchronously with the thread inside the netns; what fn starts synchronously lands there. */
  runInNetns<T>(netnsPath: string, fn: () => T): T;
  writeFileInNetns(netnsPath: string, file: string, data: string): void;
  readFileInNetns(netnsPath: string, file: string): string;
  /** Creates dir/name as `ip netns add` does (unshare in a throwaway thread, bind mount); returns the path. */
  createNetns(dir: string, name: string): string;
  deleteNetns(path: string): void;
  /** Throws code ETIMEDOUT when the lock is not had within timeoutMs. */
  flock(fd: number, exclusive: boolean, timeoutMs: number): void;
  funlock(fd: number): void;
  /**
   * A mount namespace of the calling thread's own, / made a recursive slave first so that nothing
   * mounted in it reaches the host. Only for a process that is about to exec.
   */
  unshareMountNamespace(): void;
  bindMount(source: string, target: string): void;
  /** execvp with signals and the mask at their defaults; returns only by throwing. */
  exec(file: string, argv: readonly string[]): never;
}

/** An error from the binding or the kernel, shaped like Node's system errors. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** An error from a system call (Node's, the binding's, the kernel's), not a programming error that merely has a `code`. */
export function isSystemError(e: unknown, code?: string): e is SystemError {
  if (!(e instanceof Error)) return false;
  const { code: c, syscall } = e as Partial<SystemError>;
  return typeof c === 'string' && typeof syscall === 'string' && (code === undefined || c === code);
}

export const BINDING_FILE = 'berth_netlink.node';

function moduleDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

/**
 * Files the binding may be, in order: $BERTH_BINDING, beside a bundle (dist/cni and any copy of
 * its files, such as /opt/cni/bin), and a source tree's dist/native (beside dist/bin and dist/lib).
 */
export function bindingCandidates(dir = moduleDir()): string[] {
  const fromEnv = process.env.BERTH_BINDING;
  return [...(fromEnv ? [fromEnv] : []), join(dir, BINDING_FILE), join(dir, '..', 'native', BINDING_FILE)];
}

/**
 * The folders holding binding.gyp with its build/ and prebuilds/: netlink/ beside this file's base/
 * in the source tree, and the package's netlink/ seen from a bundle in dist/<part>/.
 */
export function addonDirs(dir = moduleDir()): string[] {
  return [join(dir, '..', 'netlink'), join(dir, '..', '..', 'netlink')];
}

/**
 * The binding this process loads: the first candidate that exists, else what node-gyp-build picks
 * in an addon folder (a build from source first, then the prebuild for this platform, arch and libc).
 * node-gyp-build is required here, not imported: a bundle would evaluate an import at start-up, and
 * a plugin beside its binding never needs it.
 */
export function findBinding(dir = moduleDir()): string | undefined {
  const found = bindingCandidates(dir).find((p) => existsSync(p));
  if (found) return found;
  const require = createRequire(join(dir, 'x.js'));
  for (const addonDir of addonDirs(dir)) {
    try {
      return (require('node-gyp-build') as { path(dir: string): string }).path(addonDir);
    } catch {
      // no node-gyp-build here, or no build nor fitting prebuild in addonDir: the next folder
    }
  }
  return undefined;
}

let loaded: NativeBinding | undefined;

/** The file of the binding this process loads, or an error that says where it looked. */
export function bindingFile(): string {
  const found = findBinding();
  if (!found) {
    throw new Error(
      `berth's native binding (${BINDING_FILE}) was not found; looked in ${bindingCandidates().join(', ')} and in build/ and prebuilds/ under ${addonDirs().join(', ')}. Run \`npm ci\` (it builds the binding) or set BERTH_BINDING to its path.`,
    );
  }
  return found;
}

export function binding(): NativeBinding {
  if (loaded) return loaded;
  const require = createRequire(join(moduleDir(), 'x.js'));
  loaded = require(bindingFile()) as NativeBinding;
  return loaded;
}
