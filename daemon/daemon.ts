import { fstatSync, type Stats, statSync, unlinkSync } from 'node:fs';
import { isSystemError } from '../base/binding.js';
import { asBerthError } from '../base/errors.js';
import { batchFirewallRemovals } from '../iptables/index.js';
import { LOOK_NOW } from '../network/names/instance.js';
import { prepareRunDir, takeInstanceLock } from './instance.js';
import { Library } from './library.js';
import { HostedNames } from './names.js';
import { canonicalDir, daemonPaths, netnsInode, RUN_DIR } from './paths.js';
import { CallServer } from './server.js';

export const DEFAULT_IDLE_MS = 60_000;
/**
 * How long a batch of firewall removals stays open for the DELs that come after its first: their
 * element deletes then share one nft transaction, and its one RCU grace period (about 15 ms).
 */
const REMOVAL_WINDOW_MS = 3;
/** How long a second daemon waits for the first's lock before it leaves the netns to it. */
const INSTANCE_WAIT_MS = 2_000;

export interface DaemonOptions {
  /** The folder of the CNI clients this daemon serves (its socket is named after it). */
  readonly pluginDir: string;
  /** Exit after this long without a call; 0 never. */
  readonly idleMs: number;
  /** The files of this daemon's code and its clients': when one is replaced (an upgrade), it retires. */
  readonly codeFiles: readonly string[];
  readonly runDir?: string;
  /** The instance lock, already held, from the client that started this daemon. */
  readonly lockFd?: number;
  readonly log?: (line: string) => void;
}

/** The idle time from --idle-timeout or BERTH_DAEMON_IDLE_MS, in ms; undefined for neither. */
export function parseIdleMs(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`the idle timeout "${value}" is not a whole number of milliseconds`);
  return Number(value);
}

/**
 * Serves CNI calls for the clients of one plugin folder in this process's netns, and the library's
 * calls (daemon/client.ts) made from that netns, until it is idle,
 * signalled (SIGTERM, SIGINT) or its code is replaced. It hosts the name services its calls start,
 * and is not idle while one of them serves. Resolves with the exit code: 0 after a
 * clean stop, 1 when another daemon serves this netns and folder already.
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const runDir = options.runDir ?? RUN_DIR;
  const dir = canonicalDir(options.pluginDir);
  prepareRunDir(runDir);
  const paths = daemonPaths(netnsInode(), dir, runDir);
  const outcome = await takeInstanceLock(paths.lock, INSTANCE_WAIT_MS, options.lockFd);
  if (!outcome.held) {
    log(`another berth daemon${outcome.holder ? ` (PID ${outcome.holder})` : ''} serves ${paths.socket}; leaving it`);
    return 1;
  }
  const { lock } = outcome;
  batchFirewallRemovals(REMOVAL_WINDOW_MS);
  const code = codeIdentity(options.codeFiles);
  let busy = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<number> | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const library = new Library(options.idleMs > 0 ? options.idleMs : undefined);
  const server = new CallServer({
    socketPath: paths.socket,
    log,
    library,
    onBusy: (starting) => {
      busy += starting ? 1 : -1;
      if (starting) {
        clearTimeout(idleTimer);
        if (codeIdentity(options.codeFiles) !== code) void stop(`${options.codeFiles.join(' or ')} was replaced`);
      } else if (busy === 0) {
        armIdle();
      }
    },
  });

  // The name services the calls start live here, and keep the daemon while they serve.
  const names = new HostedNames(log);
  names.install();
  const onLook = () => names.look();
  process.on(LOOK_NOW, onLook);

  const armIdle = () => {
    clearTimeout(idleTimer);
    if (options.idleMs > 0 && !stopping) {
      idleTimer = setTimeout(
        () => (names.size > 0 ? armIdle() : void stop(`no call for ${options.idleMs} ms`)),
        options.idleMs,
      );
    }
  };

  const stop = (why: string): Promise<number> => {
    stopping ??= (async () => {
      log(`berth daemon ${process.pid}: stopping (${why})`);
      clearTimeout(idleTimer);
      await server.close();
      await library.close();
      await names.stop();
      removeOwnLog(paths.log);
      lock.release();
      return 0;
    })();
    void stopping.then(finish);
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => void stop(signal);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // A daemon that a client started has no terminal; one under a service manager is told by SIGTERM.
  process.on('SIGHUP', () => {});

  try {
    await server.listen();
  } catch (e) {
    lock.release();
    throw e;
  }
  log(
    `berth daemon ${process.pid}: serving ${paths.socket} for ${dir}` +
      (options.idleMs > 0 ? `, until ${options.idleMs} ms without a call` : ''),
  );
  armIdle();
  const result = await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off(LOOK_NOW, onLook);
  return result;
}

/** What tells a replaced file from the one that was there: its inode, size and time, for each file. */
function codeIdentity(paths: readonly string[]): string {
  return paths
    .map((path) => {
      const st: Stats | undefined = statSync(path, { throwIfNoEntry: false });
      return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` : 'none';
    })
    .join(' ');
}

/** The log a client opened as this daemon's stderr holds nothing worth keeping after a clean stop. */
function removeOwnLog(path: string): void {
  try {
    if (fstatSync(2).ino === statSync(path).ino) unlinkSync(path);
  } catch (e) {
    if (!isSystemError(e, 'ENOENT')) process.stderr.write(`could not remove ${path}: ${asBerthError(e).message}\n`);
  }
}
