import { closeSync, existsSync, openSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { spawnInNetns } from '../../base/exec.js';
import { ensurePrivateDir } from '../../base/files.js';
import { netnsIdentity } from '../../netlink/netns.js';
import { LOOK_NOW, readServiceStatus, runningService, serviceFiles } from './instance.js';
import { NamesStore } from './store.js';

/** The bundle of the name service's process, beside the CNI plugins in dist/cni. */
export const NAMES_BUNDLE = 'berth-names.js';

const READY_TIMEOUT_MS = 5_000;
const LOG_LIMIT_BYTES = 1 << 20;

function moduleDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

/**
 * Files the service's bundle may be, in order: $BERTH_NAMES_SERVICE, beside this bundle (dist/cni
 * and a copy of it), dist/cni seen from dist/lib or dist/bin, and a source tree's dist/cni.
 */
export function serviceBundleCandidates(dir = moduleDir()): string[] {
  const fromEnv = process.env.BERTH_NAMES_SERVICE;
  return [
    ...(fromEnv ? [fromEnv] : []),
    join(dir, NAMES_BUNDLE),
    join(dir, '..', 'cni', NAMES_BUNDLE),
    join(dir, '..', '..', 'dist', 'cni', NAMES_BUNDLE),
  ];
}

/**
 * Starts a state dir's name service inside this process, in its netns: a resident berth process
 * (berth daemon) hosts them so, rather than each in a process of its own.
 */
export type NameServiceHost = (stateDir: string) => Promise<void>;

let inProcessHost: NameServiceHost | undefined;

/** Makes this process the host of the name services its calls need in its own netns; undefined stops that. */
export function hostNameServices(host: NameServiceHost | undefined): void {
  inProcessHost = host;
}

export interface EnsureOptions {
  /** The netns that plays the host: the service listens there. '' is this process's. */
  readonly hostNetnsPath: string;
  /** Wait until the service listens on an address of this network. */
  readonly network?: string;
}

/**
 * Makes sure the state dir's name service runs when some network has names: starts it, detached,
 * in the host netns when no process holds its lock (or in this process, when it hosts them), and waits until it serves (and listens for
 * `network`, when given). A call finds a killed service gone and starts another; the records are
 * in the state dir, so nothing is lost. Returns the service's PID, or undefined when no network
 * has names.
 */
export async function ensureNameService(stateDir: string, options: EnsureOptions): Promise<number | undefined> {
  const files = serviceFiles(stateDir);
  const store = NamesStore.in(stateDir);
  if (store.networks().length === 0) return undefined;
  const network = options.network;
  const want = network ? (store.network(network)?.listen ?? []) : [];
  const current = () => (network ? store.changedAt(network) : undefined);
  let pid = runningService(files);
  if (pid !== undefined && serves(files, pid, want, network, current())) return pid;
  if (pid !== undefined) poke(pid);
  let started = false;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    pid = runningService(files);
    if (pid === undefined && !started) {
      // A host that fails shows as the wait's timeout, which names the log.
      if (inProcessHost && isOwnNetns(options.hostNetnsPath)) void inProcessHost(stateDir).catch(() => undefined);
      else start(stateDir, options.hostNetnsPath);
      started = true;
    }
    if (pid !== undefined && serves(files, pid, want, network, current())) return pid;
    if (Date.now() >= deadline) {
      throw new BerthError(
        ErrorCode.IOFailure,
        pid === undefined
          ? `berth's name service did not start within ${READY_TIMEOUT_MS} ms`
          : `berth's name service (PID ${pid}) does not serve ${network ? `network ${network} on ${want.join(' or ')}` : 'yet'} after ${READY_TIMEOUT_MS} ms`,
        `see its log, ${files.log} (a CNI bridge must hold the gateway: "isGateway": true)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Whether the host netns is this process's: '' or a path to the same netns, as the library's
 * calls through the daemon name the netns the daemon runs in.
 */
function isOwnNetns(hostNetnsPath: string): boolean {
  return hostNetnsPath === '' || netnsIdentity(hostNetnsPath) === netnsIdentity('/proc/self/ns/net');
}

/**
 * Whether the service's status says it serves: listens on one of the addresses (when any), and
 * serves the network's records as they are now (its folder's mtime `changedAt`).
 */
function serves(
  files: ReturnType<typeof serviceFiles>,
  pid: number,
  addresses: readonly string[],
  network: string | undefined,
  changedAt: number | undefined,
): boolean {
  const status = readServiceStatus(files);
  if (status?.pid !== pid) return false;
  if (addresses.length > 0 && !addresses.some((a) => a in status.listening)) return false;
  return network === undefined || changedAt === undefined || status.loaded?.[network] === changedAt;
}

/**
 * Asks the service to look at its records now; one that is gone meanwhile is started by the wait's
 * next round. Only a berth process is signalled: a lock file read as its holder was writing could
 * hold the PID of one before it, which another process may have by now.
 */
function poke(pid: number): void {
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berth')) return;
    process.kill(pid, LOOK_NOW);
  } catch {
    // gone: runningService() sees it next
  }
}

function start(stateDir: string, hostNetnsPath: string): void {
  const bundle = serviceBundleCandidates().find((p) => existsSync(p));
  if (!bundle) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `berth's name service (${NAMES_BUNDLE}) was not found; looked in ${serviceBundleCandidates().join(', ')}`,
      'build berth (npm run build), or set BERTH_NAMES_SERVICE to the file',
    );
  }
  const files = serviceFiles(stateDir);
  ensurePrivateDir(files.dir);
  keepSmall(files.log);
  const log = openSync(files.log, 'a', 0o600);
  try {
    const child = spawnInNetns(hostNetnsPath, process.execPath, [bundle, '--state-dir', stateDir], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    // A failed start shows as the wait's timeout, which names the log.
    child.on('error', () => undefined);
    child.unref();
  } finally {
    closeSync(log);
  }
}

function keepSmall(path: string): void {
  try {
    if (statSync(path).size > LOG_LIMIT_BYTES) truncateSync(path, 0);
  } catch {
    // no log yet
  }
}
