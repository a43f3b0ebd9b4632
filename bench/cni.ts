import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamedNetns, deleteNamedNetns } from '../netlink/netns.js';
import { cnitool, DIST_CNI, REFERENCE_CNI } from '../test/helpers/cni.js';
import type { Measurement } from './measure.js';

/** Which containers of the network are timed: a few around each point, for a p50 and a p95. */
export interface CniBenchOptions {
  /** Inclusive ranges of container numbers (1-based); the network is filled up to the last one. */
  readonly windows: readonly (readonly [number, number])[];
  /** How many untimed ADDs or DELs run at once while filling and emptying the network. */
  readonly fillConcurrency: number;
  /** The whole run is aborted (and cleaned up) past this. */
  readonly deadlineMs: number;
}

export const DEFAULT_CNI_BENCH: CniBenchOptions = {
  windows: [
    [1, 5],
    [48, 52],
    [198, 202],
  ],
  fillConcurrency: 2,
  deadlineMs: 8 * 60_000,
};

const CALL_TIMEOUT_MS = 60_000;
const SUBNET = '10.99.0.0/16';

interface Chain {
  readonly label: string;
  /** Where the plugins are; berth's are copied first (see snapshotBuild). */
  readonly cniPath: string;
  /** Each plugin's executable name, for the per-plugin rows. */
  readonly plugins: readonly string[];
  readonly conflist: (dir: string) => Record<string, unknown>;
}

/** The same network for both chains, podman's defaults: a gateway on the bridge, masquerade, a default route. */
const bridgeKeys = { bridge: 'bbr0', isGateway: true, ipMasq: true };
const ipamKeys = { ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] };

const CHAINS: readonly Chain[] = [
  {
    label: 'berth',
    cniPath: DIST_CNI,
    plugins: ['berth-bridge', 'berth-loopback'],
    conflist: (dir) => ({
      cniVersion: '1.0.0',
      name: 'bench',
      plugins: [
        {
          type: 'berth-bridge',
          ...bridgeKeys,
          stateDir: join(dir, 'state'),
          ipam: { type: 'berth-ipam', dataDir: join(dir, 'ipam'), ...ipamKeys },
        },
        { type: 'berth-loopback' },
      ],
    }),
  },
  {
    label: 'reference',
    cniPath: REFERENCE_CNI,
    plugins: ['bridge', 'loopback'],
    conflist: (dir) => ({
      cniVersion: '1.0.0',
      name: 'bench',
      plugins: [
        { type: 'bridge', ...bridgeKeys, ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ...ipamKeys } },
        { type: 'loopback' },
      ],
    }),
  },
];

interface Setup {
  readonly chain: Chain;
  readonly dir: string;
  readonly hostName: string;
  readonly containers: Map<number, string>;
  /** Per verb and window: whole cnitool calls; per verb and plugin: the plugin processes inside them. */
  readonly calls: Map<string, number[]>;
  readonly plugins: Map<string, number[]>;
}

type Verb = 'add' | 'del';

/**
 * ADD and DEL latency through libcni (cnitool) for the first, 50th and 200th
 * container of one network, berth's chain (berth-bridge with berth-ipam,
 * berth-loopback) and, when /usr/lib/cni has it, the reference chain (bridge
 * with host-local, loopback), interleaved container by container so both see
 * the same machine. Each chain has a throwaway host netns where cnitool runs
 * (`ip netns exec`), holding the bridge, its rules and the host veths; the
 * containers' namespaces are made and removed here. A DEL is timed while the
 * network still holds the containers below it (the network empties from the
 * top), so "DEL at 200" has 200 neighbours, as "ADD at 200" had 199.
 */
export async function benchCni(options: CniBenchOptions = DEFAULT_CNI_BENCH): Promise<Measurement[]> {
  const deadline = Date.now() + options.deadlineMs;
  const tool = cnitool();
  const chains = CHAINS.filter(
    (c) => c.label === 'berth' || ['bridge', 'host-local', 'loopback'].every((p) => existsSync(join(c.cniPath, p))),
  );
  const total = Math.max(...options.windows.map(([, last]) => last));
  const timed = (n: number) => options.windows.findIndex(([first, last]) => n >= first && n <= last);
  const tag = `bb-${process.pid}-cni`;
  const root = mkdtempSync(join(tmpdir(), 'berth-bench-cni-'));
  const setups: Setup[] = [];
  try {
    const berthCni = snapshotBuild(root);
    for (const listed of chains) {
      const chain = listed.label === 'berth' ? { ...listed, cniPath: berthCni } : listed;
      const dir = join(root, chain.label);
      for (const d of ['netd', 'cache', 'raw']) mkdirSync(join(dir, d), { recursive: true });
      writeFileSync(join(dir, 'netd', 'bench.conflist'), JSON.stringify(chain.conflist(dir)));
      const hostName = `${tag}-${chain.label}-host`;
      createNamedNetns(hostName);
      setups.push({ chain, dir, hostName, containers: new Map(), calls: new Map(), plugins: new Map() });
    }

    const call = (s: Setup, verb: Verb, n: number, rawDir?: string) => {
      const argv = ['netns', 'exec', s.hostName, tool, verb, 'bench', s.containers.get(n)!];
      return { argv, env: cnitoolEnv(s, n, rawDir) };
    };
    const timedCall = (s: Setup, verb: Verb, n: number, w: number) => {
      checkDeadline(deadline);
      const rawDir = join(s.dir, 'raw', `${verb}-${n}`);
      const { argv, env } = call(s, verb, n, rawDir);
      const begin = process.hrtime.bigint();
      const r = spawnSync('ip', argv, { env, encoding: 'utf8', timeout: CALL_TIMEOUT_MS, killSignal: 'SIGKILL' });
      const ms = Number(process.hrtime.bigint() - begin) / 1e6;
      expectSuccess(s, verb, n, r.status, r.stdout, `${r.stderr}${r.error?.message ?? ''}`);
      push(s.calls, `${verb}/${w}`, ms);
      for (const [plugin, pms] of pluginTimes(rawDir)) push(s.plugins, `${verb}/${plugin}`, pms);
      rmSync(rawDir, { recursive: true, force: true });
    };
    const untimedCalls = (verb: Verb, ns: readonly number[]) =>
      pool(
        ns.flatMap((n) => setups.map((s) => () => spawnCall(s, verb, n, call(s, verb, n), deadline))),
        options.fillConcurrency,
      );

    // Fill up, timing the ADDs of the windows one at a time.
    let pending: number[] = [];
    for (let n = 1; n <= total; n++) {
      for (const s of setups) s.containers.set(n, createNamedNetns(`${tag}-${s.chain.label}-c${n}`));
      const w = timed(n);
      if (w < 0) {
        pending.push(n);
        continue;
      }
      await untimedCalls('add', pending);
      pending = [];
      for (const s of setups) timedCall(s, 'add', n, w);
    }
    await untimedCalls('add', pending);

    // Empty from the top, timing the DELs of the windows.
    pending = [];
    for (let n = total; n >= 1; n--) {
      const w = timed(n);
      if (w < 0) {
        pending.push(n);
        continue;
      }
      await untimedCalls('del', pending);
      pending = [];
      for (const s of setups) timedCall(s, 'del', n, w);
    }
    await untimedCalls('del', pending);
    for (const s of setups) expectEmpty(s);

    const out: Measurement[] = [];
    for (const verb of ['add', 'del'] as const) {
      for (const [w, [first, last]] of options.windows.entries()) {
        for (const s of setups) {
          const samples = s.calls.get(`${verb}/${w}`) ?? [];
          out.push({
            what: `cni ${verb.toUpperCase()} ${s.chain.label}, containers ${first}-${last} (cnitool)`,
            ops: samples.length,
            seconds: samples.reduce((a, b) => a + b, 0) / 1000,
            samples,
          });
        }
      }
      for (const s of setups) {
        for (const plugin of s.chain.plugins) {
          const samples = s.plugins.get(`${verb}/${plugin}`) ?? [];
          out.push({
            what: `  of which ${plugin} ${verb.toUpperCase()} process, all windows`,
            ops: samples.length,
            seconds: samples.reduce((a, b) => a + b, 0) / 1000,
            samples,
          });
        }
      }
    }
    out.push(netnsExecOverhead(setups[0]!.hostName, 20));
    return out;
  } finally {
    // Removing the namespaces takes whatever a failed run left in the kernel with them:
    // veths, bridges, addresses, nftables and iptables rules all live inside.
    for (const s of setups) {
      for (const path of s.containers.values()) deleteNamedNetns(path);
      deleteNamedNetns(s.hostName);
    }
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Copies the built plugins with their native binding and package.json (same
 * layout as dist/) into the run's temp dir, so that a rebuild of dist/ during
 * the minutes of a run cannot pull the executables away half-way.
 */
function snapshotBuild(root: string): string {
  const dist = join(DIST_CNI, '..');
  const copy = join(root, 'dist');
  for (const part of ['cni', 'native', 'package.json']) {
    if (!existsSync(join(dist, part)))
      throw new Error(`${join(dist, part)} is missing: run \`node scripts/build.mjs\``);
    cpSync(join(dist, part), join(copy, part), { recursive: true });
  }
  return join(copy, 'cni');
}

function cnitoolEnv(s: Setup, n: number, rawDir?: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_PATH: s.chain.cniPath,
    NETCONFPATH: join(s.dir, 'netd'),
    CNI_CACHE_DIR: join(s.dir, 'cache'),
    CNI_CONTAINERID: `bench-${n}`,
    ...(rawDir ? { CNI_RAW_DIR: rawDir } : {}),
  };
}

function spawnCall(
  s: Setup,
  verb: Verb,
  n: number,
  c: { argv: string[]; env: NodeJS.ProcessEnv },
  deadline: number,
): Promise<void> {
  checkDeadline(deadline);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', c.argv, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: CALL_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        expectSuccess(s, verb, n, code, stdout, stderr);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** A call that did not do its work must not count as a fast one. */
function expectSuccess(s: Setup, verb: Verb, n: number, code: number | null, stdout: string, stderr: string): void {
  const ok = code === 0 && (verb === 'del' ? stdout === '' : /"address":\s*"10\.99\./.test(stdout));
  if (!ok) {
    throw new Error(
      `${s.chain.label}: cnitool ${verb} of container ${n} failed (exit ${code}): ${stdout.trim()} ${stderr.trim()}`,
    );
  }
  if (verb === 'del') deleteNamedNetns(s.containers.get(n)!);
}

/** After the last DEL: no veth left on the bridge and no address reserved. */
function expectEmpty(s: Setup): void {
  const links = spawnSync('ip', ['-n', s.hostName, '-o', 'link', 'show', 'master', 'bbr0'], { encoding: 'utf8' });
  if (links.status !== 0 || links.stdout.trim() !== '') {
    throw new Error(`${s.chain.label}: links left on the bridge after every DEL: ${links.stdout}${links.stderr}`);
  }
  const ipamDir = join(s.dir, 'ipam', 'bench');
  const reserved = existsSync(ipamDir) ? readdirSync(ipamDir).filter((f) => f.startsWith('10.')) : [];
  if (reserved.length > 0) throw new Error(`${s.chain.label}: addresses still reserved: ${reserved.join(' ')}`);
}

/** The plugin processes of one cnitool call, from the wall times cnitool saved in CNI_RAW_DIR. */
function pluginTimes(rawDir: string): [string, number][] {
  if (!existsSync(rawDir)) return [];
  return readdirSync(rawDir)
    .filter((f) => f.endsWith('.ms'))
    .map((f) => {
      const plugin = f.replace(/^\d+-/, '').replace(/-[A-Z]+\.ms$/, '');
      return [plugin, Number(readFileSync(join(rawDir, f), 'utf8'))] as [string, number];
    });
}

/** What `ip netns exec` alone adds to every timed call. */
function netnsExecOverhead(hostName: string, runs: number): Measurement {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const begin = process.hrtime.bigint();
    const r = spawnSync('ip', ['netns', 'exec', hostName, 'true'], { timeout: CALL_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`ip netns exec ${hostName} true failed: ${r.stderr}`);
    samples.push(Number(process.hrtime.bigint() - begin) / 1e6);
  }
  return {
    what: '`ip netns exec HOST true` (in every row above)',
    ops: runs,
    seconds: samples.reduce((a, b) => a + b, 0) / 1000,
    samples,
  };
}

function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function checkDeadline(deadline: number): void {
  if (Date.now() > deadline) throw new Error('cni bench: past its deadline; aborted (everything it made is removed)');
}

/** Runs the tasks at most `limit` at a time; the first failure is thrown after the running ones finish. */
async function pool(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure;
}
