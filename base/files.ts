import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { binding, isSystemError } from './binding.js';
import { BerthError, ErrorCode } from './errors.js';

/** Creates dir (and parents) with mode 0700 for berth's private state. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes a file so a reader sees the old content or the new, never a part: temp file, fsync, rename. */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    fchmodSync(fd, mode); // the mode asked for, whatever the umask
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

// Waiters in this process queue here, in order, rather than all polling the flock.
const inProcessTails = new Map<string, Promise<unknown>>();

/**
 * Holds an exclusive flock on lockPath while fn runs. A lock not had in time is
 * CNI code 11 (try again later), as the spec asks of a busy resource.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => T | Promise<T>,
  timeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
): Promise<T> {
  const previous = inProcessTails.get(lockPath) ?? Promise.resolve();
  const run = previous.then(
    () => holdFlock(lockPath, fn, timeoutMs),
    () => holdFlock(lockPath, fn, timeoutMs),
  );
  const tail = run.catch(() => undefined);
  inProcessTails.set(lockPath, tail);
  try {
    return await run;
  } finally {
    if (inProcessTails.get(lockPath) === tail) inProcessTails.delete(lockPath);
  }
}

async function holdFlock<T>(lockPath: string, fn: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true, mode: 0o700 });
  const fd = openSync(lockPath, 'a', 0o600);
  try {
    await acquire(fd, lockPath, timeoutMs);
    return await fn();
  } finally {
    closeSync(fd); // closing the descriptor releases the flock
  }
}

// Non-blocking tries with a growing pause between them: the wait never holds the event loop.
async function acquire(fd: number, lockPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 25)) {
    try {
      binding().flock(fd, true, 0);
      return;
    } catch (e) {
      if (!isSystemError(e, 'ETIMEDOUT')) throw e;
    }
    if (Date.now() >= deadline) {
      throw new BerthError(
        ErrorCode.TryAgainLater,
        `timed out after ${timeoutMs} ms waiting for the lock ${lockPath}`,
        `another berth process holds it; try again, or find the process with \`fuser ${lockPath}\``,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
