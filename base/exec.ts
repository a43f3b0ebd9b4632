import {
  type ChildProcess,
  type SpawnOptions,
  type SpawnSyncOptions,
  type SpawnSyncReturns,
  spawn,
  spawnSync,
} from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { binding } from './binding.js';

// libuv forks on the calling thread, synchronously inside spawn(), so a child
// started within runInNetns is born in that netns while Node's thread returns home.

/** Starts a process inside the netns at netnsPath ('' = the current one). */
export function spawnInNetns(
  netnsPath: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  if (!netnsPath) return spawn(command, args, options);
  return binding().runInNetns(netnsPath, () => spawn(command, args, options));
}

/**
 * Runs a process inside the netns and waits for it. A process may exit without
 * reading its stdin (a Go CNI plugin answering VERSION, a tool refusing its
 * arguments); when it exits before the write, the write fails with EPIPE, which
 * is no failure of the run: its exit status and output are its answer.
 */
export function spawnSyncInNetns(
  netnsPath: string,
  command: string,
  args: readonly string[],
  options: SpawnSyncOptions = {},
): SpawnSyncReturns<string> {
  const opts = { encoding: 'utf8', ...options } as SpawnSyncOptions & { encoding: 'utf8' };
  const run = () => spawnSync(command, args, opts);
  const r = netnsPath ? binding().runInNetns(netnsPath, run) : run();
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && r.status !== null) {
    return { ...r, error: undefined };
  }
  return r;
}

// CNI runtimes often start plugins with a bare PATH; the sbin directories are where these tools live.
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of an executable on PATH or in the sbin directories, or null. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...SBIN_DIRS]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
