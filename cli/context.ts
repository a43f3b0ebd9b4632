import { join } from 'node:path';
import { BerthError, ErrorCode } from '../base/errors.js';
import { Controller } from '../network/controller.js';
import { netnsExists } from '../network/netns.js';
import { UsageError } from './usage.js';

/** The options every command takes, after yargs. */
export interface GlobalArgs {
  readonly 'state-dir': string;
  readonly 'host-netns'?: string;
  /** etcd's client URL(s), for overlay networks. */
  readonly etcd?: string;
}

export { DEFAULT_STATE_DIR } from '../network/state.js';

import { DEFAULT_STATE_DIR } from '../network/state.js';

/** Root, or an error that says so before anything is touched. */
export function requireRoot(command: string): void {
  if (process.getuid?.() === 0) return;
  throw new BerthError(
    ErrorCode.InvalidEnvironment,
    `berth ${command} needs root: it changes network namespaces, links and ${DEFAULT_STATE_DIR}`,
    `run it as root, e.g. sudo berth ${command}`,
  );
}

/** A netns given by path, or by name in /run/netns as `ip netns` names them; '' is the netns berth runs in. */
export function resolveHostNetns(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  const path = value.includes('/') ? value : join('/run/netns', value);
  if (!netnsExists(path)) {
    throw new UsageError(
      `--host-netns ${value}: ${path} is not a network namespace`,
      'give the path of a netns such as /run/netns/NAME (see `ip netns list`), or leave it out for the current one',
    );
  }
  return path;
}

const opened: Controller[] = [];

/** The Controller over the global options, for a command that needs root; closeControllers() lets go of it. */
export async function openController(argv: GlobalArgs, command: string): Promise<Controller> {
  requireRoot(command);
  const hostNetnsPath = resolveHostNetns(argv['host-netns']);
  const ctl = await Controller.open({
    stateDir: argv['state-dir'],
    hostNetnsPath,
    ...(argv.etcd ? { etcd: argv.etcd } : {}),
  });
  opened.push(ctl);
  return ctl;
}

/** Closes what the commands opened (a connection to etcd would keep the process alive). */
export async function closeControllers(): Promise<void> {
  for (const ctl of opened.splice(0)) await ctl.close();
}
