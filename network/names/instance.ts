import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isSystemError } from '../../base/binding.js';
import { ensurePrivateDir, readTextIfThere, tryFlock, writeFileAtomic } from '../../base/files.js';
import type { NameServiceStatus } from './server.js';

/**
 * The files of the one name service of a state dir, in <stateDir>/names: the lock its process
 * holds while it lives (with its PID in it), the status it writes when what it listens on changes,
 * and the log of a service a call started.
 */
export interface ServiceFiles {
  readonly dir: string;
  readonly lock: string;
  readonly status: string;
  readonly log: string;
}

export function serviceFiles(stateDir: string): ServiceFiles {
  const dir = join(stateDir, 'names');
  return {
    dir,
    lock: join(dir, 'service.lock'),
    status: join(dir, 'service.json'),
    log: join(dir, 'service.log'),
  };
}

/** The signal that asks a running service to look at its records now (SIGUSR1 is Node's debugger's). */
export const LOOK_NOW = 'SIGUSR2';

/** What the status file holds: the service's PID, with what it serves. */
export interface ServiceStatusFile extends NameServiceStatus {
  readonly pid: number;
}

/** A held lock: the file stays (it is never removed, so no one ever locks a file that is gone). */
export interface HeldLock {
  release(): void;
}

/** Takes the service lock within waitMs; undefined when another process holds it all that time. */
export async function takeServiceLock(files: ServiceFiles, waitMs: number): Promise<HeldLock | undefined> {
  ensurePrivateDir(files.dir);
  const fd = openSync(files.lock, constants.O_RDWR | constants.O_CREAT, 0o600);
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (tryFlock(fd)) {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      return { release: () => closeSync(fd) };
    }
    if (Date.now() >= deadline) {
      closeSync(fd);
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The PID of the running service, or undefined when none holds the lock. */
export function runningService(files: ServiceFiles): number | undefined {
  let fd: number;
  try {
    fd = openSync(files.lock, constants.O_RDONLY);
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return undefined;
    throw e;
  }
  try {
    if (tryFlock(fd)) return undefined;
  } finally {
    closeSync(fd);
  }
  const pid = Number.parseInt(readTextIfThere(files.lock) ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function writeServiceStatus(files: ServiceFiles, status: ServiceStatusFile): void {
  writeFileAtomic(files.status, `${JSON.stringify(status, null, 2)}\n`);
}

/** The status the service last wrote; undefined when there is none or it is damaged. */
export function readServiceStatus(files: ServiceFiles): ServiceStatusFile | undefined {
  const text = readTextIfThere(files.status);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ServiceStatusFile;
  } catch {
    return undefined;
  }
}
