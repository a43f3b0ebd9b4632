import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { type CollectedRun, findExecutable, SBIN_DIRS, spawnCollectInNetns, spawnSyncInNetns } from '../base/exec.js';

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The package that ships each tool berth runs, for the "install it" hint. */
const PACKAGE: Readonly<Record<string, string>> = {
  nft: 'nftables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  'ip6tables-save': 'iptables',
  'ip6tables-restore': 'iptables',
};

export function notFound(name: string): BerthError {
  return new BerthError(
    ErrorCode.IOFailure,
    `${name} not found on PATH or in ${SBIN_DIRS.join(', ')}`,
    `install ${PACKAGE[name] ?? name} (e.g. \`apt-get install ${PACKAGE[name] ?? name}\`), or choose the other firewall backend`,
  );
}

export const COMMAND_TIMEOUT_MS = 30_000;

/**
 * Runs one command to completion, with `input` on stdin, inside the netns at
 * netnsPath ('' = the current one). The child is forked while the thread is in
 * the netns, so it lives there; Node's thread is back home when this returns.
 * A missing tool or netns throws; a non-zero exit is returned for the caller to word.
 */
export function runCommand(
  netnsPath: string,
  name: string,
  args: readonly string[],
  input = '',
  timeoutMs = COMMAND_TIMEOUT_MS,
): CommandResult {
  const file = executable(name);
  let result: CollectedRun;
  try {
    result = spawnSyncInNetns(netnsPath, file, args, spawnOptions(input, timeoutMs));
  } catch (e) {
    throw netnsFailure(netnsPath, e);
  }
  return outcome(name, args, timeoutMs, result);
}

const spawnOptions = (input: string, timeoutMs: number) => ({
  input,
  timeout: timeoutMs,
  maxBuffer: MAX_OUTPUT,
  env: toolEnv(),
});

/** runCommand without blocking the event loop: a long-lived process serves other calls while the tool runs. */
export async function runCommandAsync(
  netnsPath: string,
  name: string,
  args: readonly string[],
  input = '',
  timeoutMs = COMMAND_TIMEOUT_MS,
): Promise<CommandResult> {
  const file = executable(name);
  let run: Promise<CollectedRun>;
  try {
    run = spawnCollectInNetns(netnsPath, file, args, spawnOptions(input, timeoutMs));
  } catch (e) {
    throw netnsFailure(netnsPath, e);
  }
  return outcome(name, args, timeoutMs, await run);
}

const MAX_OUTPUT = 256 * 1024 * 1024;

function executable(name: string): string {
  const file = findExecutable(name);
  if (!file) throw notFound(name);
  return file;
}

// Messages in English whatever the host's locale, so errors read the same everywhere.
const toolEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C' });

/** A failure to start the tool in the netns, said as the netns' (a path that names none), else as it is. */
function netnsFailure(netnsPath: string, e: unknown): unknown {
  if (!isSystemError(e, 'ENOENT') && !isSystemError(e, 'EINVAL')) return e;
  return new BerthError(
    ErrorCode.IOFailure,
    `network namespace ${netnsPath} cannot be entered (${(e as Error).message})`,
    'check that the path names an existing netns (e.g. /run/netns/<name>)',
    { cause: e },
  );
}

/** A run's outcome as a CommandResult, or the BerthError that says why the tool did not run to its end. */
function outcome(name: string, args: readonly string[], timeoutMs: number, result: CollectedRun): CommandResult {
  if (result.error) {
    if (isSystemError(result.error, 'ETIMEDOUT')) {
      throw new BerthError(
        ErrorCode.TryAgainLater,
        `${name} ${args.join(' ')} did not finish within ${timeoutMs} ms`,
        'the kernel or another firewall tool is busy; try again',
        { cause: result.error },
      );
    }
    if (isSystemError(result.error, 'ENOENT')) throw notFound(name);
    throw new BerthError(ErrorCode.IOFailure, `${name} could not be run: ${result.error.message}`, '', {
      cause: result.error,
    });
  }
  return { status: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** The line of a batch a tool's "line N" message points at, quoted, or ''. */
export function quoteFailedLine(stderr: string, batch: string): string {
  const m = /line (\d+)/.exec(stderr);
  if (!m) return '';
  const line = batch.split('\n')[Number(m[1]) - 1];
  return line === undefined ? '' : ` (line ${m[1]}: ${line})`;
}

/** A failed command as a BerthError naming the command, its stderr (and the batch line it blames) and a fix. */
export function commandFailed(
  name: string,
  args: readonly string[],
  r: CommandResult,
  fix: string,
  batch = '',
): BerthError {
  const stderr = r.stderr.trim().replace(/\s*\n\s*/g, ' | ');
  return new BerthError(
    ErrorCode.IOFailure,
    `${[name, ...args].join(' ')} exited with status ${r.status}: ${stderr || '(no message)'}${batch ? quoteFailedLine(r.stderr, batch) : ''}`,
    fix,
  );
}
