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

const FILE = 'berth_netlink.node';

function moduleDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

/** Where the compiled binding may be: beside a bundle, in dist/native, or in the source tree's build. */
export function bindingCandidates(dir = moduleDir()): string[] {
  const fromEnv = process.env.BERTH_BINDING;
  return [
    ...(fromEnv ? [fromEnv] : []),
    join(dir, FILE),
    join(dir, '..', 'native', FILE),
    join(dir, 'build', 'Release', FILE),
    join(dir, '..', 'netlink', 'build', 'Release', FILE),
  ];
}

let loaded: NativeBinding | undefined;

export function binding(): NativeBinding {
  if (loaded) return loaded;
  const candidates = bindingCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `berth's native binding (${FILE}) was not found; looked in ${candidates.join(', ')}. Run \`npm ci\` (it builds the binding) or set BERTH_BINDING to its path.`,
    );
  }
  const require = createRequire(join(moduleDir(), 'x.js'));
  loaded = require(found) as NativeBinding;
  return loaded;
}
