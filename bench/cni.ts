import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamedNetns, deleteNamedNetns } from '../netlink/netns.js';
import { cnitool, DIST_CNI, REFERENCE_CNI } from '../test/helpers/cni.js';
import { stopDaemons } from '../test/helpers/daemon.js';
import type { Measurement } from './measure.js';

/** One network of plugins run through cnitool; berth's come from a snapshot of dist/cni, the reference ones from /usr/lib/cni. */
export interface Chain {
  /** Short, [a-z0-9-]: part of namespace and directory names. */
  readonly id: string;
  /** How the rows name it. */
  readonly label: string;
  readonly source: 'berth' | 'reference';
  /** The conflist, with its state and IPAM data under dir. */
  readonly conflist: (dir: string) => { readonly plugins: readonly Readonly<Record<string, unknown>>[] };
}

/** Which containers of the network are timed: a few around each point, for a p50 and a p95. */
export interface CniBenchOptions {
  /** Starts each row and the namespace names ('cni', 'ports'). */
  readonly name: string;
  /** Run side by side, container by container; a reference chain whose plugins are not installed is left out. */
  readonly chains: readonly Chain[];
  /**
   * When set, container n publishes one port: host port firstHostPort + n - 1 (tcp) to its port 80,
   * as CAP_ARGS portMappings on ADD and DEL (a runtime gives them on both).
   */
  readonly firstHostPort?: number;
  /** Inclusive ranges of container numbers (1-based); the network is filled up to the last one. */
  readonly windows: readonly (readonly [number, number])[];
  /** How many untimed ADDs or DELs run at once while filling and emptying the network. */
  readonly fillConcurrency: number;
  /** The whole run is aborted (and cleaned up) past this. */
  readonly deadlineMs: number;
}

const CALL_TIMEOUT_MS = 60_000;
const SUBNET = '10.99.0.0/16';
const CONTAINER_PORT = 80;

/** The same network for every chain, podman's defaults: a gateway on the bridge, masquerade, a default route. */
const bridgeKeys = { bridge: 'bbr0', isGateway: true, ipMasq: true };
const ipamKeys = { ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] };
const portMappings = { capabilities: { portMappings: true } };
const berthIpam = (dir: string) => ({ type: 'berth-ipam', dataDir: join(dir, 'ipam'), ...ipamKeys });
const hostLocal = (dir: string) => ({ type: 'host-local', dataDir: join(dir, 'ipam'), ...ipamKeys });
const conflist = (...plugins: Record<string, unknown>[]) => ({ cniVersion: '1.0.0', name: 'bench', plugins });
/** berth's all-in-one plugin, lo included, with more keys. */
const allInOne = (dir: string, more: Record<string, unknown> = {}) =>
  conflist({
    type: 'berth',
    ...bridgeKeys,
    loopback: true,
    stateDir: join(dir, 'state'),
    ipam: berthIpam(dir),
    ...more,
  });

/** Bridge, IPAM and loopback, no published ports: berth's chain and the reference one. */
export const BRIDGE_CHAINS: readonly Chain[] = [
  {
    id: 'berth',
    label: 'berth',
    source: 'berth',
    conflist: (dir) =>
      conflist(
        { type: 'berth-bridge', ...bridgeKeys, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
        { type: 'berth-loopback' },
      ),
  },
  {
    id: 'berth-lo',
    label: 'berth-bridge with loopback: true',
    source: 'berth',
    conflist: (dir) =>
      conflist({
        type: 'berth-bridge',
        ...bridgeKeys,
        loopback: true,
        stateDir: join(dir, 'state'),
        ipam: berthIpam(dir),
      }),
  },
  {
    id: 'reference',
    label: 'reference',
    source: 'reference',
    conflist: (dir) => conflist({ type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) }, { type: 'loopback' }),
  },
];

/** The same network with published ports: berth in one process (lo too), berth's chain of three, the reference chain. */
export const PORT_CHAINS: readonly Chain[] = [
  {
    id: 'aio',
    label: 'berth all-in-one',
    source: 'berth',
    conflist: (dir) => allInOne(dir, portMappings),
  },
  {
    id: 'chain',
    label: 'berth chain',
    source: 'berth',
    conflist: (dir) =>
      conflist(
        { type: 'berth-bridge', ...bridgeKeys, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
        { type: 'berth-portmap', ...portMappings, stateDir: join(dir, 'state') },
        { type: 'berth-loopback' },
      ),
  },
  {
    id: 'ref',
    label: 'reference',
    source: 'reference',
    conflist: (dir) =>
      conflist(
        { type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) },
        { type: 'portmap', ...portMappings },
        { type: 'loopback' },
      ),
  },
];

/** Both directions limited, with the reference plugin's keys, in the config (no capability: the bench gives no CAP_ARGS for it). */
const limits = { ingressRate: 100_000_000, ingressBurst: 1_000_000, egressRate: 100_000_000, egressBurst: 1_000_000 };

/**
 * The same network with both directions of every container limited: berth in one process, with and
 * without the limits (what the shaping step adds), berth's chain, and the reference chain with its
 * bandwidth plugin.
 */
export const BANDWIDTH_CHAINS: readonly Chain[] = [
  {
    id: 'aio',
    label: 'berth all-in-one, no limits',
    source: 'berth',
    conflist: (dir) => allInOne(dir),
  },
  {
    id: 'aio-bw',
    label: 'berth all-in-one',
    source: 'berth',
    conflist: (dir) => allInOne(dir, limits),
  },
  {
    id: 'chain-bw',
    label: 'berth chain',
    source: 'berth',
    conflist: (dir) =>
      conflist(
        { type: 'berth-bridge', ...bridgeKeys, loopback: true, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
        { type: 'berth-bandwidth', ...limits },
      ),
  },
  {
    id: 'ref-bw',
    label: 'reference',
    source: 'reference',
    conflist: (dir) =>
      conflist(
        { type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) },
        { type: 'bandwidth', ...limits },
        { type: 'loopback' },
      ),
  },
];

const windows = [
  [1, 5],
  [48, 52],
  [198, 202],
] as const;

export const DEFAULT_CNI_BENCH: CniBenchOptions = {
  name: 'cni',
  chains: BRIDGE_CHAINS,
  windows,
  fillConcurrency: 2,
  deadlineMs: 8 * 60_000,
};

export const BANDWIDTH_CNI_BENCH: CniBenchOptions = {
  name: 'bandwidth',
  chains: BANDWIDTH_CHAINS,
  windows: windows.slice(0, 2),
  fillConcurrency: 2,
  deadlineMs: 10 * 60_000,
};

export const PORTS_CNI_BENCH: CniBenchOptions = {
  name: 'ports',
  chains: PORT_CHAINS,
  firstHostPort: 30001,
  windows,
  fillConcurrency: 2,
  deadlineMs: 12 * 60_000,
};

/** The plugins libcni runs (one process each per call), in order. */
const pluginsOf = (c: Chain) => c.conflist('').plugins.map((p) => String(p.type));

/** Every executable the chain needs in its CNI_PATH, delegated IPAM included. */
function executablesOf(c: Chain): string[] {
  return c.conflist('').plugins.flatMap((p) => {
    const ipam = p.ipam as { type?: unknown } | undefined;
    return [String(p.type), ...(typeof ipam?.type === 'string' ? [ipam.type] : [])];
  });
}

interface Setup {
  readonly chain: Chain;
  readonly cniPath: string;
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
 * container of one network, for each chain of the options, interleaved
 * container by container so all see the same machine: with BRIDGE_CHAINS,
 * berth's chain (berth-bridge with berth-ipam, berth-loopback) and, when
 * /usr/lib/cni has it, the reference one (bridge with host-local, loopback);
 * with PORT_CHAINS and a firstHostPort, the same network where every container
 * publishes one port. Each chain has a throwaway host netns where cnitool runs
 * (`ip netns exec`), holding the bridge, its rules and the host veths; the
 * containers' namespaces are made and removed here. A DEL is timed while the
 * network still holds the containers below it (the network empties from the
 * top), so "DEL at 200" has 200 neighbours, as "ADD at 200" had 199.
 */
export async function benchCni(options: CniBenchOptions = DEFAULT_CNI_BENCH): Promise<Measurement[]> {
  const deadline = Date.now() + options.deadlineMs;
  const tool = cnitool();
  const chains = options.chains.filter((c) => {
    if (c.source === 'berth') return true;
    const missing = executablesOf(c).filter((p) => !existsSync(join(REFERENCE_CNI, p)));
    if (missing.length > 0) console.error(`${options.name}: ${c.label} left out: ${REFERENCE_CNI} has no ${missing}`);
    return missing.length === 0;
  });
  const total = Math.max(...options.windows.map(([, last]) => last));
  const timed = (n: number) => options.windows.findIndex(([first, last]) => n >= first && n <= last);
  const hostPort = (n: number) => (options.firstHostPort === undefined ? undefined : options.firstHostPort + n - 1);
  const tag = `bb-${process.pid}-${options.name}`;
  const root = mkdtempSync(join(tmpdir(), `berth-bench-${options.name}-`));
  const setups: Setup[] = [];
  try {
    const berthCni = chains.some((c) => c.source === 'berth') ? snapshotBuild(root) : '';
    for (const chain of chains) {
      const dir = join(root, chain.id);
      for (const d of ['netd', 'cache', 'raw']) mkdirSync(join(dir, d), { recursive: true });
      writeFileSync(join(dir, 'netd', 'bench.conflist'), JSON.stringify(chain.conflist(dir)));
      const hostName = `${tag}-${chain.id}-host`;
      createNamedNetns(hostName);
      const cniPath = chain.source === 'berth' ? berthCni : REFERENCE_CNI;
      setups.push({ chain, cniPath, dir, hostName, containers: new Map(), calls: new Map(), plugins: new Map() });
    }

    const call = (s: Setup, verb: Verb, n: number, rawDir?: string) => {
      const argv = ['netns', 'exec', s.hostName, tool, verb, 'bench', s.containers.get(n)!];
      return { argv, env: cnitoolEnv(s, n, hostPort(n), rawDir) };
    };
    const timedCall = (s: Setup, verb: Verb, n: number, w: number) => {
      checkDeadline(options.name, deadline);
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
        ns.flatMap((n) => setups.map((s) => () => spawnCall(s, verb, n, call(s, verb, n), options.name, deadline))),
        options.fillConcurrency,
      );

    // Fill up, timing the ADDs of the windows one at a time.
    let pending: number[] = [];
    for (let n = 1; n <= total; n++) {
      for (const s of setups) s.containers.set(n, createNamedNetns(`${tag}-${s.chain.id}-c${n}`));
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
    const allPorts = Array.from({ length: total }, (_, i) => hostPort(i + 1)).filter((p) => p !== undefined);
    for (const s of setups) expectPublished(s, allPorts, true);
    // `ip netns exec` copies the mount table, which holds every named netns: it costs more when the network is full.
    const execWhenFull = netnsExecOverhead(setups[0]!.hostName, 20, `${total * setups.length} container netns`);

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
    for (const s of setups) {
      expectEmpty(s);
      expectPublished(s, allPorts, false);
    }

    const ports = options.firstHostPort === undefined ? '' : ', 1 port each';
    const out: Measurement[] = [];
    for (const verb of ['add', 'del'] as const) {
      for (const [w, [first, last]] of options.windows.entries()) {
        for (const s of setups) {
          const samples = s.calls.get(`${verb}/${w}`) ?? [];
          out.push({
            what: `${options.name} ${verb.toUpperCase()} ${s.chain.label}, containers ${first}-${last} (cnitool${ports})`,
            ops: samples.length,
            seconds: samples.reduce((a, b) => a + b, 0) / 1000,
            samples,
          });
        }
      }
      for (const s of setups) {
        for (const plugin of pluginsOf(s.chain)) {
          const samples = s.plugins.get(`${verb}/${plugin}`) ?? [];
          out.push({
            what: `  of which ${plugin} ${verb.toUpperCase()} (${s.chain.label}), all windows`,
            ops: samples.length,
            seconds: samples.reduce((a, b) => a + b, 0) / 1000,
            samples,
          });
        }
      }
    }
    out.push(execWhenFull, netnsExecOverhead(setups[0]!.hostName, 20, 'none'));
    return out;
  } finally {
    // Removing the namespaces takes whatever a failed run left in the kernel with them:
    // veths, bridges, addresses, nftables and iptables rules all live inside.
    // A berth daemon the plugins started in a host keeps that netns alive: it goes first.
    for (const s of setups) {
      for (const path of s.containers.values()) deleteNamedNetns(path);
      stopDaemons({ netns: `/run/netns/${s.hostName}` });
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

function cnitoolEnv(s: Setup, n: number, hostPort: number | undefined, rawDir?: string): NodeJS.ProcessEnv {
  const mapping = { hostPort, containerPort: CONTAINER_PORT, protocol: 'tcp' };
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_PATH: s.cniPath,
    NETCONFPATH: join(s.dir, 'netd'),
    CNI_CACHE_DIR: join(s.dir, 'cache'),
    CNI_CONTAINERID: `bench-${n}`,
    ...(hostPort === undefined ? {} : { CAP_ARGS: JSON.stringify({ portMappings: [mapping] }) }),
    ...(rawDir ? { CNI_RAW_DIR: rawDir } : {}),
  };
}

function spawnCall(
  s: Setup,
  verb: Verb,
  n: number,
  c: { argv: string[]; env: NodeJS.ProcessEnv },
  bench: string,
  deadline: number,
): Promise<void> {
  checkDeadline(bench, deadline);
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

/** After the last DEL: no veth left on the bridge, no IFB and no address reserved. */
function expectEmpty(s: Setup): void {
  const links = spawnSync('ip', ['-n', s.hostName, '-o', 'link', 'show', 'master', 'bbr0'], { encoding: 'utf8' });
  if (links.status !== 0 || links.stdout.trim() !== '') {
    throw new Error(`${s.chain.label}: links left on the bridge after every DEL: ${links.stdout}${links.stderr}`);
  }
  const ifbs = spawnSync('ip', ['-n', s.hostName, '-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' });
  if (ifbs.status !== 0 || ifbs.stdout.trim() !== '') {
    throw new Error(`${s.chain.label}: IFB links left after every DEL: ${ifbs.stdout}${ifbs.stderr}`);
  }
  const ipamDir = join(s.dir, 'ipam', 'bench');
  const reserved = existsSync(ipamDir) ? readdirSync(ipamDir).filter((f) => f.startsWith('10.')) : [];
  if (reserved.length > 0) throw new Error(`${s.chain.label}: addresses still reserved: ${reserved.join(' ')}`);
}

/**
 * Each host port appears in the host netns' rules (present) or none does: a
 * chain that answered ADD without publishing must not count as a fast one.
 * Both dumps, since the reference portmap writes iptables rules, which
 * iptables-legacy keeps out of nft's sight.
 */
function expectPublished(s: Setup, ports: readonly number[], present: boolean): void {
  if (ports.length === 0) return;
  const dump = (argv: string[]) =>
    spawnSync('ip', ['netns', 'exec', s.hostName, ...argv], { encoding: 'utf8', timeout: CALL_TIMEOUT_MS });
  const nft = dump(['nft', 'list', 'ruleset']);
  if (nft.status !== 0) throw new Error(`${s.chain.label}: nft list ruleset failed: ${nft.stderr}`);
  const rules = `${nft.stdout}\n${dump(['iptables-save', '-t', 'nat']).stdout ?? ''}`;
  const seen = new Set((rules.match(/\d+/g) ?? []).map(Number));
  const wrong = ports.filter((p) => seen.has(p) !== present);
  if (wrong.length > 0) {
    const state = present ? 'not published after every ADD' : 'still in the rules after every DEL';
    throw new Error(
      `${s.chain.label}: host ports ${state}: ${wrong.slice(0, 10).join(' ')}${wrong.length > 10 ? ' ...' : ''}`,
    );
  }
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
function netnsExecOverhead(hostName: string, runs: number, neighbours: string): Measurement {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const begin = process.hrtime.bigint();
    const r = spawnSync('ip', ['netns', 'exec', hostName, 'true'], { timeout: CALL_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`ip netns exec ${hostName} true failed: ${r.stderr}`);
    samples.push(Number(process.hrtime.bigint() - begin) / 1e6);
  }
  return {
    what: `\`ip netns exec HOST true\` (in every row above), ${neighbours} around`,
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

function checkDeadline(bench: string, deadline: number): void {
  if (Date.now() > deadline)
    throw new Error(`${bench} bench: past its deadline; aborted (everything it made is removed)`);
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
