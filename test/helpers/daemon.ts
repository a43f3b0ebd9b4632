/**
 * The berth daemons that tests start, found in /proc by the berth-daemon.js they run (and their netns)
 * and stopped by PID; their files in /run/berth go with them. The CNI
 * clients start a daemon for their folder in the netns they run in, so a test that runs plugins
 * starts daemons: TestNetns.cleanup() stops those of each netns it removes, and the suite's global
 * teardown those of this tree's dist/cni in any netns.
 *
 *   import { IN_PROCESS, runningDaemons, stopDaemons, waitForDaemon } from '../helpers/daemon.js';
 *
 *   const d = await waitForDaemon(host.path, DIST_CNI);   // { pid, socket, lock, log }
 *   stopDaemons({ netns: host.path });                     // SIGTERM, then SIGKILL; files removed
 *   runPlugin('berth-bridge', inv, conf, { env: IN_PROCESS });
 */
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readHolder } from '../../daemon/instance.js';
import { canonicalDir, DAEMON_BUNDLE, type DaemonPaths, daemonPaths, fnv1a32, RUN_DIR } from '../../daemon/paths.js';

/** The env that keeps a plugin call in-process, for tests whose plugin must see the test's own mount namespace. */
export const IN_PROCESS: Readonly<Record<string, string>> = { BERTH_DAEMON: '0' };

export interface RunningDaemon extends DaemonPaths {
  readonly pid: number;
  readonly netnsInode: number;
}

const DAEMON_FILE = /^(cni-(\d+)-([0-9a-f]{8}))\.(lock|sock|log)$/;
const STOP_WAIT_MS = 5_000;

type Filter = { readonly netns?: string; readonly pluginDir?: string };

/** The inode of the filter's netns; null when its file is gone (it cannot be named any more). */
function filterInode(filter: Filter): number | undefined | null {
  if (filter.netns === undefined) return undefined;
  return statSync(filter.netns, { throwIfNoEntry: false })?.ino ?? null;
}

/**
 * The PIDs of the berth daemons (processes running a berth-daemon.js) of a netns and/or plugin folder,
 * found in /proc: also one that is still starting and has not written its lock file yet.
 */
function daemonPids(filter: Filter): { pid: number; netnsInode: number }[] {
  const inode = filterInode(filter);
  if (inode === null) return [];
  const dir = filter.pluginDir === undefined ? undefined : canonicalDir(filter.pluginDir);
  const found: { pid: number; netnsInode: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const script = daemonScript(pid);
    if (script === undefined || (dir !== undefined && dirname(script) !== dir)) continue;
    const netnsInode = netnsInodeOf(pid);
    if (netnsInode === undefined || (inode !== undefined && netnsInode !== inode)) continue;
    found.push({ pid, netnsInode });
  }
  return found;
}

/** The berth-daemon.js a live process runs, if it runs one. */
function daemonScript(pid: number): string | undefined {
  try {
    const script = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .find((a) => a.endsWith(`/${DAEMON_BUNDLE}`));
    // A zombie (killed, not yet reaped by its parent, init) is gone for every purpose here.
    if (!script || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return undefined;
    return script;
  } catch {
    return undefined;
  }
}

function netnsInodeOf(pid: number): number | undefined {
  try {
    return Number(/^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1]);
  } catch {
    return undefined;
  }
}

/** The live daemons of a netns (a path) and/or a plugin folder, with their files. */
export function runningDaemons(filter: Filter = {}): RunningDaemon[] {
  return daemonPids(filter).flatMap(({ pid, netnsInode }) => {
    const script = daemonScript(pid);
    return script ? [{ ...daemonPaths(netnsInode, dirname(script)), pid, netnsInode }] : [];
  });
}

/** The files in /run/berth of a netns and/or folder that no live daemon has. */
function staleFiles(filter: Filter): string[] {
  const inode = filterInode(filter);
  if (inode === null) return [];
  const tag = filter.pluginDir === undefined ? undefined : fnv1a32(Buffer.from(canonicalDir(filter.pluginDir)));
  const live = new Set(runningDaemons().map((d) => d.lock.slice(0, -'.lock'.length)));
  let names: string[];
  try {
    names = readdirSync(RUN_DIR);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = DAEMON_FILE.exec(name);
    if (!m || (inode !== undefined && Number(m[2]) !== inode) || (tag !== undefined && m[3] !== tag)) return [];
    return live.has(join(RUN_DIR, m[1]!)) ? [] : [join(RUN_DIR, name)];
  });
}

/** The daemon serving pluginDir's clients in that netns, once it is up (its socket is there); throws after timeoutMs. */
export async function waitForDaemon(netns: string, pluginDir: string, timeoutMs = 10_000): Promise<RunningDaemon> {
  const deadline = Date.now() + timeoutMs;
  const paths = daemonPaths(statSync(netns).ino, canonicalDir(pluginDir));
  for (;;) {
    // The one holding the lock: a second one may be running and waiting for it.
    const holder = readHolder(paths.lock);
    const d = runningDaemons({ netns, pluginDir }).find((r) => r.pid === holder);
    if (d && existsQuiet(paths.socket)) return d;
    if (Date.now() > deadline) throw new Error(`no berth daemon for ${pluginDir} in ${netns} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function existsQuiet(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Waits (synchronously, bounded) until pid runs no daemon any more; whether it went. */
function waitGone(pid: number, ms: number): boolean {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (daemonScript(pid) !== undefined) {
    if (Date.now() > deadline) return false;
    Atomics.wait(pause, 0, 0, 10);
  }
  return true;
}

/**
 * Stops the daemons of a netns and/or folder: SIGTERM (a clean stop removes its files), SIGKILL when
 * that takes over STOP_WAIT_MS; then removes the files that killed daemons left. Returns the PIDs it
 * stopped.
 */
export function stopDaemons(filter: Filter = {}): number[] {
  const stopped: number[] = [];
  for (const { pid } of daemonPids(filter)) {
    try {
      process.kill(pid, 'SIGTERM');
      if (!waitGone(pid, STOP_WAIT_MS)) {
        process.kill(pid, 'SIGKILL');
        waitGone(pid, STOP_WAIT_MS);
      }
      stopped.push(pid);
    } catch {
      // gone by itself meanwhile
    }
  }
  for (const f of staleFiles(filter)) rmSync(f, { force: true });
  return stopped;
}
