import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { BerthError, ErrorCode } from '../base/errors.js';
import { cannotRun, commandNotFound } from '../base/exec.js';
import { validateName } from '../network/config.js';
import type { Controller } from '../network/controller.js';
import { destroySandbox } from '../network/doctor/repairs.js';
import { attachmentNames } from '../network/names/network.js';
import type { DnsSettings, HostEntry } from '../network/names/sandbox-files.js';
import type { Network } from '../network/network.js';
import type { PortSpec } from '../network/portspec.js';
import type { Sandbox } from '../network/sandbox.js';
import type { Bandwidth } from '../network/shaping/limits.js';
import { assertNetnsNameFree, connect } from './attach.js';
import { requireBridgeForLimits } from './bandwidth.js';
import type { RunNetwork } from './modes.js';
import { UsageError } from './usage.js';

export interface RunOptions {
  readonly network: RunNetwork;
  /** The sandbox's name; default run-<random>. */
  readonly name?: string;
  readonly keep: boolean;
  readonly publish: readonly PortSpec[];
  /** More names for the sandbox on its network. */
  readonly aliases?: readonly string[];
  /** Its own resolv.conf settings and hosts lines (a sandbox of its own netns only). */
  readonly dns?: DnsSettings;
  readonly hosts?: readonly HostEntry[];
  /** Limits of the sandbox's bandwidth on its network (a bridge network). */
  readonly bandwidth?: Bandwidth | undefined;
  readonly command: readonly string[];
}

/** What `run` tells the user besides the process's own output (on stderr: stdout is the process's). */
export type RunNotice = (line: string) => void;

/** The signals a user sends berth to reach the process. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Statuses a shell gives when it cannot start a command; berth gives the same. */
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

/** The exit status of a process as a shell reports it: its code, or 128 + the number of the signal that ended it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}

/** Refuses what cannot work before anything is made, so bad input changes nothing. */
function check(ctl: Controller, options: RunOptions, name: string): Network | undefined {
  if (options.command.length === 0) {
    throw new UsageError('berth run needs a command', 'put it after --, e.g. berth run --network web -- ip addr');
  }
  if (ctl.store.read('sandboxes', validateName(name, 'sandbox'))) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `a sandbox named ${JSON.stringify(name)} already exists`,
      `choose another --name, or remove it with berth sandbox rm ${name}`,
    );
  }
  const n = options.network;
  const net = n.mode === 'network' ? ctl.network(n.network) : undefined;
  if (n.mode === 'container') ctl.sandbox(n.shareWith);
  if (n.mode === 'none' || (net && net.driver !== 'host')) assertNetnsNameFree(ctl, name);
  if (options.aliases?.length && net?.driver !== 'bridge') {
    throw new UsageError(
      `--alias names the sandbox on a bridge network's name service, and --network ${n.mode === 'network' ? n.network : n.mode} is not one`,
      'give --network the name of a bridge network, or leave out --alias',
    );
  }
  if (net?.record.dns) attachmentNames(name, options.aliases);
  if ((options.dns || options.hosts) && (n.mode === 'host' || n.mode === 'container' || net?.driver === 'host')) {
    throw new UsageError(
      `--dns, --dns-search, --dns-option and --add-host give a sandbox of its own netns its files, and --network ${n.mode === 'network' ? n.network : n.mode} shares another's`,
      'leave them out, or give them where that netns was made',
    );
  }
  if (options.bandwidth) requireBridgeForLimits(net?.driver ?? '', n.mode === 'network' ? n.network : n.mode);
  if (options.publish.length > 0 && net?.driver !== 'bridge' && net?.driver !== 'overlay') {
    throw new UsageError(
      `-p publishes ports of a bridge network, and --network ${n.mode === 'network' ? n.network : n.mode} is not one`,
      'give --network the name of a bridge network, or leave out -p',
    );
  }
  return net;
}

async function createSandbox(ctl: Controller, options: RunOptions, name: string, net?: Network): Promise<Sandbox> {
  const n = options.network;
  if (n.mode === 'container') return ctl.createSandbox({ name, mode: 'container', shareWith: n.shareWith });
  if (n.mode === 'host' || net?.driver === 'host') return ctl.createSandbox({ name, mode: 'host' });
  return ctl.createSandbox({
    name,
    mode: 'none',
    ...(options.dns ? { dns: options.dns } : {}),
    ...(options.hosts ? { hosts: options.hosts } : {}),
  });
}

/** Waits for the process; a command that cannot start is 127 or 126, as in a shell. */
function waitFor(child: ChildProcess, command: string, notice: RunNotice): Promise<number> {
  return new Promise((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill; the exit event still comes
      if (e.code === 'ENOENT') {
        notice(commandNotFound(command));
        resolve(EXIT_NOT_FOUND);
      } else {
        notice(cannotRun(command, e.message));
        resolve(EXIT_CANNOT_EXECUTE);
      }
    });
    child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
  });
}

/**
 * `berth run`: a new sandbox (joined to a network, or in host, none or
 * container mode), the command started inside it with the terminal's stdio,
 * SIGINT/SIGTERM/SIGHUP passed on to it; when it ends, the sandbox is removed
 * (unless keep) and its exit status returned.
 */
export async function runInSandbox(ctl: Controller, options: RunOptions, notice: RunNotice): Promise<number> {
  const name = options.name ?? `run-${randomBytes(4).toString('hex')}`;
  const net = check(ctl, options, name);

  let child: ChildProcess | undefined;
  let early: NodeJS.Signals | undefined;
  // Installed before anything is made: a Ctrl-C while the sandbox is set up or
  // torn down must not kill berth half-way and leave the sandbox behind. One
  // during setup means the command never starts.
  const onSignal = (signal: NodeJS.Signals) => {
    if (!child) early ??= signal;
    else if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, onSignal);
  try {
    const sb = await createSandbox(ctl, options, name, net);
    let status: number;
    try {
      if (net) {
        const ep = await connect(net, sb, {
          ...(options.aliases?.length ? { aliases: options.aliases } : {}),
          ...(options.bandwidth ? { bandwidth: options.bandwidth } : {}),
        });
        if (options.publish.length > 0) await ep.publish(options.publish);
      }
      const [command, ...args] = options.command as [string, ...string[]];
      if (early) {
        status = exitStatus(null, early);
      } else {
        child = sb.spawn(command, args, { stdio: 'inherit' });
        status = await waitFor(child, command, notice);
      }
    } catch (e) {
      await destroySandbox(ctl, sb).catch((err) =>
        notice(`berth: removing sandbox ${name} failed too: ${String(err)}`),
      );
      throw e;
    }
    if (options.keep) {
      notice(`berth: kept sandbox ${name}; remove it with: berth sandbox rm ${name}`);
    } else {
      try {
        await destroySandbox(ctl, sb);
      } catch (e) {
        // The process's status still goes back: the leftovers are for `berth gc`.
        const msg = e instanceof BerthError ? `${e.msg} (${e.details})` : String(e);
        notice(`berth: removing sandbox ${name} failed: ${msg}; berth gc removes what is left`);
      }
    }
    return status;
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, onSignal);
  }
}
