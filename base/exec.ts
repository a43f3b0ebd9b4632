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
import { binding, bindingFile } from './binding.js';

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

/** What berth says when a command cannot start, as a shell would: exit 127 not found, 126 anything else. */
const NOT_FOUND = 'command not found: %s (check its name, or give its full path)';
const CANNOT_RUN = 'cannot run %s: %m';
export const commandNotFound = (command: string): string => `berth: ${NOT_FOUND.replace('%s', command)}`;
export const cannotRun = (command: string, message: string): string =>
  `berth: ${CANNOT_RUN.replace('%s', command).replace('%m', message)}`;

/** A file bound over another in the process's own mount namespace. */
export interface BindMount {
  readonly source: string;
  readonly target: string;
}

// Node cannot run code between fork and exec, so a short-lived Node in the netns makes the mount
// namespace and then becomes the command by exec (same PID, same stdio). A file that cannot be
// bound is said and left as the host's, as `ip netns exec` does.
const BIND_AND_EXEC = `
const [bindingPath, bindsJson, file, ...args] = process.argv.slice(1);
const say = (line) => require('fs').writeSync(2, 'berth: ' + line + '\\n');
const b = require(bindingPath);
try {
  b.unshareMountNamespace();
} catch (e) {
  say('cannot make a mount namespace: ' + e.message);
  process.exit(126);
}
for (const { source, target } of JSON.parse(bindsJson)) {
  try {
    b.bindMount(source, target);
  } catch (e) {
    say('cannot bind ' + source + ' over ' + target + ' (' + e.code + '); the process sees the host\\'s');
  }
}
try {
  b.exec(file, [file, ...args]);
} catch (e) {
  if (e.code === 'ENOENT') say(${JSON.stringify(NOT_FOUND)}.replace('%s', file));
  else say(${JSON.stringify(CANNOT_RUN)}.replace('%s', file).replace('%m', e.message));
  process.exit(e.code === 'ENOENT' ? 127 : 126);
}
`;

/**
 * Starts a process inside the netns with files bound over others in a mount namespace of its
 * own (a sandbox's resolv.conf and hosts over /etc's, as `ip netns exec` does); nothing it mounts
 * reaches the host. Without binds it is spawnInNetns. A command that cannot start exits 127 or 126
 * with berth's line on stderr, instead of an 'error' event.
 */
export function spawnInNetnsWithBinds(
  netnsPath: string,
  binds: readonly BindMount[],
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  if (binds.length === 0) return spawnInNetns(netnsPath, command, args, options);
  const args0 = ['-e', BIND_AND_EXEC, bindingFile(), JSON.stringify(binds), command, ...args];
  return spawnInNetns(netnsPath, process.execPath, args0, options);
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

/** What a process that ran to its end gave back, as spawnSync has it. */
export interface CollectedRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The process could not start, or was killed for its time (ETIMEDOUT), or wrote over maxBuffer (ENOBUFS). */
  readonly error?: Error;
}

/**
 * spawnSyncInNetns without blocking the event loop, for a long-lived process (the daemon) that
 * serves other calls meanwhile: `input` on stdin, stdout and stderr collected, killed (SIGKILL)
 * past `timeout` ms. A netns that cannot be entered throws, as spawnSyncInNetns does.
 */
export function spawnCollectInNetns(
  netnsPath: string,
  command: string,
  args: readonly string[],
  options: {
    readonly input?: string;
    readonly timeout: number;
    readonly maxBuffer: number;
    readonly env?: NodeJS.ProcessEnv;
  },
): Promise<CollectedRun> {
  const child = spawnInNetns(netnsPath, command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
  });
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let error: Error | undefined;
    const stop = (code: string, message: string) => {
      error ??= Object.assign(new Error(message), { code, syscall: `spawn ${command}` });
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop('ETIMEDOUT', `${command} timed out after ${options.timeout} ms`),
      options.timeout,
    );
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxBuffer) stop('ENOBUFS', `${command} wrote more than ${options.maxBuffer} bytes`);
      else into.push(chunk);
    };
    child.stdout!.on('data', collect(out));
    child.stderr!.on('data', collect(err));
    // A process may exit without reading its stdin: the EPIPE is no failure of the run (see spawnSyncInNetns).
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.input ?? '');
    child.on('error', (e) => {
      error ??= e;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(error ? { error } : {}),
      });
    });
  });
}
