import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSyncInNetns } from '../base/exec.js';
import { type Measurement, percentile } from './measure.js';

// Both from bench/ and from the dist/bench bundle, the project root is two levels up.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST_CNI = join(ROOT, 'dist', 'cni');
const REFERENCE_CNI = '/usr/lib/cni';

interface Target {
  readonly what: string;
  readonly file: string;
  readonly args: readonly string[];
  /** What a correct answer's stdout contains, so a broken plugin is not timed as a fast one. */
  readonly expect?: string;
  /** Variables on top of PATH and CNI_COMMAND. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Debian's CA bundle: set as NODE_EXTRA_CA_CERTS in many users' shells, and so in what their runtime passes on. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Start-up cost of a CNI plugin process, which every ADD, DEL and podman's
 * VERSION calls pay: `CNI_COMMAND=VERSION` of berth's plugins next to a bare
 * `node -e 0` (the floor for a Node executable) and the reference Go plugin.
 * Runs round-robin so that a busy moment of the machine hits all alike.
 */
export function benchStartup(runs: number): Measurement[] {
  const targets: Target[] = [{ what: 'node -e 0', file: process.execPath, args: ['-e', '0'] }];
  for (const exe of ['berth-bridge', 'berth-ipam', 'berth-loopback']) {
    const file = join(DIST_CNI, exe);
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`node scripts/build.mjs\``);
    targets.push({ what: `${exe} VERSION`, file, args: [], expect: 'supportedVersions' });
  }
  if (existsSync(CA_BUNDLE)) {
    const env = { NODE_EXTRA_CA_CERTS: CA_BUNDLE };
    targets.push({
      what: 'node -e 0, NODE_EXTRA_CA_CERTS set',
      file: process.execPath,
      args: ['-e', '0'],
      env,
    });
    targets.push({
      what: 'berth-bridge VERSION, NODE_EXTRA_CA_CERTS set',
      file: join(DIST_CNI, 'berth-bridge'),
      args: [],
      expect: 'supportedVersions',
      env,
    });
  }
  if (existsSync(join(REFERENCE_CNI, 'bridge'))) {
    targets.push({
      what: `${REFERENCE_CNI}/bridge VERSION (Go)`,
      file: join(REFERENCE_CNI, 'bridge'),
      args: [],
      expect: 'supportedVersions',
    });
  }
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'VERSION' };
  const input = '{"cniVersion":"1.0.0"}';
  const once = (t: Target) => {
    const r = spawnSyncInNetns('', t.file, t.args, {
      env: { ...env, ...t.env },
      input,
      timeout: 10_000,
      killSignal: 'SIGKILL',
    });
    if (r.error || r.status !== 0 || (t.expect && !r.stdout.includes(t.expect))) {
      throw new Error(
        `${t.what}: exit ${r.status ?? r.signal} ${r.error?.message ?? ''} stdout ${r.stdout} stderr ${r.stderr}`,
      );
    }
  };
  // One untimed run each: the first reads the files from disk.
  for (const t of targets) once(t);
  const samples = targets.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, t] of targets.entries()) {
      const begin = process.hrtime.bigint();
      once(t);
      samples[k]!.push(Number(process.hrtime.bigint() - begin) / 1e6);
    }
  }
  return targets.map((t, k) => {
    const s = samples[k]!;
    return {
      what: `start-up: ${t.what} (${runs} runs)`,
      ops: runs,
      seconds: s.reduce((a, b) => a + b, 0) / 1000,
      samples: s,
    };
  });
}

/** An executable answering VERSION, for versionCpu. */
export interface VersionTarget {
  readonly what: string;
  readonly file: string;
}

/** CPU and wall time of one executable's VERSION, per call. */
export interface VersionCost {
  readonly what: string;
  readonly cpuMs: number;
  readonly wallP50Ms: number;
}

/** Linux reports times in /proc in USER_HZ ticks, 100 a second on every architecture it runs on. */
const TICK_MS = 10;

/** user + sys of this process's children that have been waited for, in ms (/proc/self/stat cutime + cstime). */
function reapedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

/**
 * CPU (user + sys) per call of each target answering CNI_COMMAND=VERSION, as hyperfine counts it: the
 * kernel's count of this process's reaped children, read around blocks of runs, the targets taking
 * turns block by block. The count is kept in ticks of 10 ms, so each target runs `runs` times for an
 * error under 20 ms / runs per call. Nothing else of this process may run children meanwhile.
 */
export function versionCpu(targets: readonly VersionTarget[], runs: number, blocks = 4): VersionCost[] {
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'VERSION' };
  const once = (t: VersionTarget) => {
    // A Go plugin may exit before it reads stdin: spawnSyncInNetns takes the EPIPE for what it is.
    const r = spawnSyncInNetns('', t.file, [], { env, input: '{"cniVersion":"1.0.0"}', timeout: 10_000 });
    if (r.error || r.status !== 0 || !r.stdout.includes('supportedVersions')) {
      throw new Error(
        `${t.what} VERSION: exit ${r.status ?? r.signal} ${r.error?.message ?? ''} ${r.stdout} ${r.stderr}`,
      );
    }
  };
  for (const t of targets) once(t);
  const cpu = targets.map(() => 0);
  const walls = targets.map(() => [] as number[]);
  const perBlock = Math.ceil(runs / blocks);
  for (let b = 0; b < blocks; b++) {
    for (const [k, t] of targets.entries()) {
      const before = reapedChildrenCpuMs();
      for (let i = 0; i < perBlock; i++) {
        const begin = process.hrtime.bigint();
        once(t);
        walls[k]!.push(Number(process.hrtime.bigint() - begin) / 1e6);
      }
      cpu[k]! += reapedChildrenCpuMs() - before;
    }
  }
  return targets.map((t, k) => ({
    what: t.what,
    cpuMs: cpu[k]! / walls[k]!.length,
    wallP50Ms: percentile(walls[k]!, 50),
  }));
}
