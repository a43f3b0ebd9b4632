import {
  type ChildProcess,
  type SpawnOptions,
  type SpawnSyncOptions,
  type SpawnSyncReturns,
  spawn,
  spawnSync,
} from 'node:child_process';
import { binding } from '../netlink/binding.js';

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

/** Runs a process inside the netns and waits for it. */
export function spawnSyncInNetns(
  netnsPath: string,
  command: string,
  args: readonly string[],
  options: SpawnSyncOptions = {},
): SpawnSyncReturns<string> {
  const opts = { encoding: 'utf8', ...options } as SpawnSyncOptions & { encoding: 'utf8' };
  if (!netnsPath) return spawnSync(command, args, opts);
  return binding().runInNetns(netnsPath, () => spawnSync(command, args, opts));
}
