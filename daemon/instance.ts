import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { tryFlock } from '../base/files.js';

/**
 * The folder of the sockets: made 0700 and kept so. A folder that is not a folder, or belongs to
 * another user, is refused: a socket there could be anyone's.
 */
export function prepareRunDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `${dir} is ${st.isDirectory() ? `owned by uid ${st.uid}` : 'not a directory'}`,
      `the berth daemon keeps its root-only socket there; remove ${dir} and run as root`,
    );
  }
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** The single-instance lock of one daemon: held while the process lives, and it holds the daemon's PID. */
export interface InstanceLock {
  /** Removes the lock file and lets the lock go (removal first, so no one waits on a removed file). */
  release(): void;
}

export type LockOutcome =
  | { readonly held: true; readonly lock: InstanceLock }
  | { readonly held: false; readonly holder: number | undefined };

/**
 * Takes the flock on `path` within waitMs and writes this PID into it. A client that starts a daemon
 * takes the lock first and hands it over as `inheritedFd`, so of many clients only one starts a
 * daemon. A file that an exiting holder removed meanwhile is not the lock any more: it is opened
 * again. The wait is short and bounded: a second daemon gives up to the first.
 */
export async function takeInstanceLock(path: string, waitMs: number, inheritedFd?: number): Promise<LockOutcome> {
  if (inheritedFd !== undefined) {
    try {
      if (sameFile(inheritedFd, path) && tryFlock(inheritedFd)) {
        return { held: true, lock: holdWithPid(inheritedFd, path) };
      }
      closeSync(inheritedFd);
    } catch {
      // No open file there after all: the lock is taken the usual way.
    }
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    let keep = false;
    try {
      if (tryFlock(fd)) {
        if (sameFile(fd, path)) {
          keep = true;
          return { held: true, lock: holdWithPid(fd, path) };
        }
        continue;
      }
    } finally {
      if (!keep) closeSync(fd);
    }
    if (Date.now() >= deadline) return { held: false, holder: readHolder(path) };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    return statSync(path).ino === fstatSync(fd).ino;
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return false;
    throw e;
  }
}

function holdWithPid(fd: number, path: string): InstanceLock {
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        unlinkSync(path);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The PID a lock file holds, if it holds one. */
export function readHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
