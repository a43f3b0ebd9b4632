/**
 * Runs CNI plugins the way runtimes do, for end-to-end tests: a built plugin
 * as a process with the CNI_* environment and its config on stdin
 * (`runPlugin`), or a whole conflist through libcni (`runCnitool`).
 *
 *   import { CniWorkspace, cnitool, runCnitool, runPlugin } from '../helpers/cni.js';
 *
 *   const add = runPlugin('berth-loopback', { command: 'ADD', netns: ns.path }, { cniVersion: '1.1.0', name: 'n', type: 'berth-loopback' });
 *   expect(add.code).toBe(0);
 *   expect(add.json).toMatchObject({ interfaces: [{ name: 'lo' }] });
 *
 *   // A plugin that changes the host (a bridge, firewall rules) runs inside a netns playing the host:
 *   runPlugin('berth-bridge', { command: 'ADD', netns: c.path }, conf, { hostNetns: host.path });
 *
 *   const ws = new CniWorkspace();                       // temp NETCONFPATH and libcni cache dir
 *   ws.writeConflist({ cniVersion: '1.0.0', name: 'lo-net', plugins: [{ type: 'berth-loopback' }] });
 *   const r = runCnitool('add', 'lo-net', ns.path, ws.options());
 *   ws.remove();                                         // in afterEach
 *
 * Plugins come from dist/cni (run `node scripts/build.mjs` first; `npm test`
 * does) and Debian's reference plugins from /usr/lib/cni. The environment
 * given to a plugin is PATH plus the CNI_* variables and what a test adds,
 * nothing inherited, so a test sees what a runtime would give; and BERTH_DAEMON
 * when the run sets it, so one run of a test file goes through the daemon and
 * another in-process (vitest.config.ts).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binding } from '../../base/binding.js';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** berth's built plugins. */
export const DIST_CNI = join(ROOT, 'dist', 'cni');
/** The built berth command. */
export const DIST_BERTH = join(ROOT, 'dist', 'bin', 'berth');
/**
 * How the CNI clients run the plugins in this test run: through the daemon (unset, the default) or
 * in-process (BERTH_DAEMON=0, the vitest project "in-process"). Given to every plugin and cnitool.
 */
const MODE_ENV: Readonly<Record<string, string>> =
  process.env.BERTH_DAEMON === undefined ? {} : { BERTH_DAEMON: process.env.BERTH_DAEMON };
/** Debian's containernetworking-plugins (installed by scripts/setup.sh). */
export const REFERENCE_CNI = '/usr/lib/cni';
/** The CNI_PATH a runtime would give: berth's plugins first, then the reference ones. */
export const DEFAULT_CNI_PATH: readonly string[] = [DIST_CNI, REFERENCE_CNI];

const PLUGIN_TIMEOUT_MS = 30_000;
const CNITOOL_TIMEOUT_MS = 60_000;
// A fresh machine installs Go from apt before the first build.
const CNITOOL_BUILD_TIMEOUT_MS = 10 * 60_000;

const BUILD_SCRIPT = join(ROOT, 'scripts', 'build-cnitool.sh');
const CNITOOL_SOURCE = join(ROOT, 'test', 'tools', 'cnitool', 'main.go');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'berth');

export type PluginCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface PluginInvocation {
  readonly command: PluginCommand | (string & {});
  /** Default 'berth-test-<pid>'; '' leaves CNI_CONTAINERID unset. */
  readonly containerId?: string;
  /** Unset when absent. */
  readonly netns?: string;
  /** Default 'eth0'; '' leaves CNI_IFNAME unset. */
  readonly ifname?: string;
  /** CNI_ARGS, as the raw string or as pairs. */
  readonly args?: string | Readonly<Record<string, string>>;
  /** CNI_PATH; default DEFAULT_CNI_PATH. */
  readonly path?: string | readonly string[];
}

export interface RunOptions {
  /** More environment for the process (wins over the CNI_* defaults). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /**
   * The netns the process runs in (a path such as /run/netns/x): a test's
   * "host", so the bridges, veths, sysctls and firewall rules a plugin makes
   * land there and never in the machine's own netns. Default: the test's own.
   */
  readonly hostNetns?: string;
  /** A command the process is started under, e.g. ['unshare', '--mount', '--', 'sh', '-c', '...; exec "$0"']. */
  readonly wrapper?: readonly string[];
}

export interface ProcessRun {
  /** The exit status. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON; undefined when stdout is empty or is not JSON. */
  readonly json: unknown;
}

/**
 * A copy of the built plugins (dist/cni, the binding and package.json beside) for a test file that
 * runs many of them: other work rebuilds dist/ (deleting it first) while tests run, and a plugin
 * missing for a moment would fail a test for nothing. Returns the copy's cni folder; remove its
 * parent when done.
 */
export function snapshotPlugins(): string {
  const dist = join(DIST_CNI, '..');
  const copy = mkdtempSync(join(tmpdir(), 'berth-dist-'));
  for (let attempt = 1; ; attempt++) {
    try {
      for (const part of ['package.json', 'native', 'cni'])
        cpSync(join(dist, part), join(copy, part), { recursive: true });
      return join(copy, 'cni');
    } catch (e) {
      if (attempt === 10) throw e;
      spawnSync('sleep', ['1']);
    }
  }
}

/** A plugin's executable: a bare name is one of dist/cni, anything with a '/' is used as it is. */
export function pluginPath(exe: string): string {
  return exe.includes('/') ? exe : join(DIST_CNI, exe);
}

/**
 * Runs one plugin invocation as a process. `config` is the stdin: an object is
 * written as JSON, a string as it is (for malformed input). Throws when the
 * process could not run or did not finish in time; a plugin's own failure is
 * a result with a non-zero code.
 */
export function runPlugin(
  exe: string,
  invocation: PluginInvocation,
  config: unknown,
  options: RunOptions = {},
): ProcessRun {
  const file = pluginPath(exe);
  if (!existsSync(file)) {
    throw new Error(`plugin ${file} does not exist: run \`node scripts/build.mjs\` (npm test builds first)`);
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...MODE_ENV };
  env.CNI_COMMAND = invocation.command;
  const containerId = invocation.containerId ?? `berth-test-${process.pid}`;
  if (containerId !== '') env.CNI_CONTAINERID = containerId;
  if (invocation.netns !== undefined) env.CNI_NETNS = invocation.netns;
  const ifname = invocation.ifname ?? 'eth0';
  if (ifname !== '') env.CNI_IFNAME = ifname;
  if (invocation.args !== undefined) env.CNI_ARGS = formatCniArgs(invocation.args);
  env.CNI_PATH = joinPath(invocation.path ?? DEFAULT_CNI_PATH);
  Object.assign(env, options.env);
  const stdin = typeof config === 'string' ? config : JSON.stringify(config);
  return spawnChecked(file, [], {
    env,
    input: stdin,
    timeoutMs: options.timeoutMs ?? PLUGIN_TIMEOUT_MS,
    ...(options.hostNetns ? { netns: options.hostNetns } : {}),
    ...(options.wrapper ? { wrapper: options.wrapper } : {}),
  });
}

function formatCniArgs(args: string | Readonly<Record<string, string>>): string {
  if (typeof args === 'string') return args;
  return Object.entries(args)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

function joinPath(path: string | readonly string[]): string {
  return typeof path === 'string' ? path : path.join(':');
}

function spawnChecked(
  file: string,
  argv: readonly string[],
  opts: {
    env: Record<string, string>;
    input: string;
    timeoutMs: number;
    netns?: string;
    wrapper?: readonly string[];
  },
): ProcessRun {
  const [command, ...args] = [...(opts.wrapper ?? []), file, ...argv];
  const r = spawnSyncInNetns(opts.netns ?? '', command!, args, {
    env: opts.env,
    input: opts.input,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
      throw new Error(`${file} ${argv.join(' ')} did not finish within ${opts.timeoutMs} ms; stderr: ${r.stderr}`);
    }
    throw new Error(`could not run ${file}: ${r.error.message}`, { cause: r.error });
  }
  if (r.status === null) {
    throw new Error(`${file} ${argv.join(' ')} was killed by ${r.signal}; stderr: ${r.stderr}`);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let cnitoolPath: string | undefined;

/**
 * The path of the libcni client of test/tools/cnitool, built by
 * scripts/build-cnitool.sh on first use and kept under node_modules/.cache/berth
 * in a file named after the digest of its source and build script: a change to
 * either builds a new one, and checkouts that share node_modules each keep
 * their own. A file lock keeps concurrent test runs from building it twice.
 */
export function cnitool(): string {
  if (cnitoolPath !== undefined) return cnitoolPath;
  const path = join(CACHE_DIR, `cnitool-${cnitoolDigest()}`);
  if (!existsSync(path)) buildCnitool(path);
  cnitoolPath = path;
  return path;
}

function cnitoolDigest(): string {
  const hash = createHash('sha256');
  for (const file of [BUILD_SCRIPT, CNITOOL_SOURCE]) hash.update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

function buildCnitool(path: string): void {
  mkdirSync(CACHE_DIR, { recursive: true });
  const lockFd = openSync(join(CACHE_DIR, 'cnitool.lock'), 'a', 0o600);
  try {
    binding().flock(lockFd, true, CNITOOL_BUILD_TIMEOUT_MS);
    // Another run may have built it while this one waited for the lock.
    if (existsSync(path)) return;
    const partial = `${path}.${process.pid}.tmp`;
    const r = spawnSync(BUILD_SCRIPT, [partial], {
      // Go's build cache beside the tool, so a rebuild after a change to the source is quick.
      env: { ...process.env, GOCACHE: join(CACHE_DIR, 'go-build') },
      encoding: 'utf8',
      timeout: CNITOOL_BUILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.error || r.status !== 0) {
      rmSync(partial, { force: true });
      throw new Error(
        `building cnitool with ${BUILD_SCRIPT} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}): ${r.stderr}${r.stdout}`,
      );
    }
    renameSync(partial, path);
  } finally {
    closeSync(lockFd); // releases the flock
  }
}

export type CnitoolVerb = 'add' | 'check' | 'del' | 'version' | 'validate' | 'libinfo';

export interface CnitoolOptions extends RunOptions {
  /** NETCONFPATH: the directory holding the conflist. */
  readonly confDir: string;
  /**
   * CNI_CACHE_DIR: where libcni keeps ADD results, which CHECK and DEL read
   * back, so use the same one for every verb of an attachment. Defaults to
   * /var/lib/cni otherwise; a test always gives its own.
   */
  readonly cacheDir: string;
  /** CNI_PATH; default DEFAULT_CNI_PATH. */
  readonly cniPath?: string | readonly string[];
  /** CNI_IFNAME; cnitool's default is eth0. */
  readonly ifname?: string;
  /** CNI_CONTAINERID; cnitool's default derives one from the netns path. */
  readonly containerId?: string;
  /** CNI_ARGS. */
  readonly args?: string | Readonly<Record<string, string>>;
  /** CAP_ARGS: capability arguments (portMappings, ips, mac, ...), which libcni gives to plugins that declare them. */
  readonly capArgs?: Readonly<Record<string, unknown>>;
  /** CNI_RAW_DIR: cnitool saves each plugin call's stdin, stdout and wall time there. */
  readonly rawDir?: string;
}

/**
 * Runs `cnitool <verb> <network> <netnsPath>` (netnsPath is ignored by
 * version/validate/libinfo, where `network` is the plugin type or network
 * name). On failure cnitool prints the CNI error object on stdout and exits 1;
 * a failing plugin's raw output is one JSON line on stderr (tag "pluginFailure").
 */
export function runCnitool(verb: CnitoolVerb, network: string, netnsPath: string, options: CnitoolOptions): ProcessRun {
  const { env, argv } = cnitoolCall(verb, network, netnsPath, options);
  return spawnChecked(cnitool(), argv, {
    env,
    input: '',
    timeoutMs: options.timeoutMs ?? CNITOOL_TIMEOUT_MS,
    ...(options.hostNetns ? { netns: options.hostNetns } : {}),
    ...(options.wrapper ? { wrapper: options.wrapper } : {}),
  });
}

/**
 * runCnitool without waiting: the run as a promise, so many run at once as a runtime starting a
 * node's pods runs them. It rejects when the process did not finish within timeoutMs (then it is killed).
 */
export function startCnitool(
  verb: CnitoolVerb,
  network: string,
  netnsPath: string,
  options: CnitoolOptions,
): Promise<ProcessRun> {
  const { env, argv } = cnitoolCall(verb, network, netnsPath, options);
  const timeoutMs = options.timeoutMs ?? CNITOOL_TIMEOUT_MS;
  const child = spawnInNetns(options.hostNetns ?? '', cnitool(), argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`cnitool ${argv.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === null) reject(new Error(`cnitool ${argv.join(' ')} was killed by ${signal}; stderr: ${stderr}`));
      else resolve({ code, stdout, stderr, json: parseJson(stdout) });
    });
  });
}

function cnitoolCall(
  verb: CnitoolVerb,
  network: string,
  netnsPath: string,
  options: CnitoolOptions,
): { env: Record<string, string>; argv: string[] } {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    ...MODE_ENV,
    CNI_PATH: joinPath(options.cniPath ?? DEFAULT_CNI_PATH),
    NETCONFPATH: options.confDir,
    CNI_CACHE_DIR: options.cacheDir,
  };
  if (options.ifname !== undefined) env.CNI_IFNAME = options.ifname;
  if (options.containerId !== undefined) env.CNI_CONTAINERID = options.containerId;
  if (options.args !== undefined) env.CNI_ARGS = formatCniArgs(options.args);
  if (options.capArgs !== undefined) env.CAP_ARGS = JSON.stringify(options.capArgs);
  if (options.rawDir !== undefined) env.CNI_RAW_DIR = options.rawDir;
  Object.assign(env, options.env);
  const argv =
    verb === 'libinfo'
      ? [verb]
      : verb === 'version' || verb === 'validate'
        ? [verb, network]
        : [verb, network, netnsPath];
  return { env, argv };
}

/**
 * A temp directory for one test's CNI files: `netd/` for conflists (NETCONFPATH)
 * and `cache/` for libcni's result cache. remove() deletes it all.
 */
export class CniWorkspace {
  readonly dir: string;
  readonly confDir: string;
  readonly cacheDir: string;

  constructor(label = 'cni') {
    this.dir = mkdtempSync(join(tmpdir(), `berth-${label}-`));
    this.confDir = join(this.dir, 'netd');
    this.cacheDir = join(this.dir, 'cache');
    mkdirSync(this.confDir);
    mkdirSync(this.cacheDir);
  }

  /** Writes a conflist as <name>.conflist; libcni finds it by its `name`. Returns the file's path. */
  writeConflist(conflist: { readonly name: string } & Readonly<Record<string, unknown>>): string {
    const file = join(this.confDir, `${conflist.name}.conflist`);
    writeFileSync(file, `${JSON.stringify(conflist, null, 2)}\n`);
    return file;
  }

  /** The options runCnitool needs for this workspace, with more merged in. */
  options(more: Omit<CnitoolOptions, 'confDir' | 'cacheDir'> = {}): CnitoolOptions {
    return { ...more, confDir: this.confDir, cacheDir: this.cacheDir };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
