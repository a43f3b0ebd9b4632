import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNamedNetns, deleteNamedNetns } from '../netlink/netns.js';
import { cnitool, DIST_CNI, REFERENCE_CNI } from '../test/helpers/cni.js';
import { stopDaemons, waitForDaemon } from '../test/helpers/daemon.js';
import { type Chain, executablesOf } from './chains.js';

export const CALL_TIMEOUT_MS = 60_000;
const CONTAINER_PORT = 80;
/** The daemons the bench starts stay warm between its phases (the default is 60 s idle); it stops them by PID at the end. */
const DAEMON_IDLE_MS = 30 * 60_000;

export type Verb = 'add' | 'del';

/** Which container a call is for: its ID, the key of its netns (default: the ID), its one published port. */
export interface Call {
  readonly id: string;
  readonly netns?: string;
  readonly hostPort?: number;
}

/** One cnitool call: its wall time and what it answered. */
export interface CallResult {
  readonly ms: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The whole run stops past its deadline, and cleans up. */
export class Deadline {
  private readonly at: number;

  constructor(
    readonly bench: string,
    ms: number,
  ) {
    this.at = Date.now() + ms;
  }

  get remainingMs(): number {
    return this.at - Date.now();
  }

  check(): void {
    if (Date.now() > this.at)
      throw new Error(`${this.bench} bench: past its deadline; aborted (everything it made is removed)`);
  }
}

/** The chains whose plugins are here: a reference chain that /usr/lib/cni lacks is left out, and said. */
export function availableChains(chains: readonly Chain[], bench: string): Chain[] {
  return chains.filter((c) => {
    if (c.source === 'berth') return true;
    const missing = executablesOf(c).filter((p) => !existsSync(join(REFERENCE_CNI, p)));
    if (missing.length > 0) console.error(`${bench}: ${c.label} left out: ${REFERENCE_CNI} has no ${missing}`);
    return missing.length === 0;
  });
}

/**
 * Copies the built plugins with their native binding and package.json (same
 * layout as dist/) into the run's temp dir, so that a rebuild of dist/ during
 * the minutes of a run cannot pull the executables away half-way.
 */
export function snapshotBuild(root: string): string {
  const dist = join(DIST_CNI, '..');
  const copy = join(root, 'dist');
  for (const part of ['cni', 'native', 'package.json']) {
    if (!existsSync(join(dist, part)))
      throw new Error(`${join(dist, part)} is missing: run \`node scripts/build.mjs\``);
    cpSync(join(dist, part), join(copy, part), { recursive: true });
  }
  return join(copy, 'cni');
}

/**
 * One chain's throwaway host: a netns where cnitool runs (`ip netns exec`), holding the bridge, its
 * rules, the host veths and, for berth, the daemon the clients start; the containers' namespaces,
 * made and removed here; the conflist, libcni's cache and the IPAM data in a folder of the run.
 */
export class CniHost {
  readonly netnsName: string;
  readonly dir: string;
  readonly cniPath: string;
  private readonly containers = new Map<string, string>();

  constructor(
    readonly chain: Chain,
    root: string,
    private readonly tag: string,
    berthCni: string,
  ) {
    this.dir = join(root, chain.id);
    for (const d of ['netd', 'cache', 'raw']) mkdirSync(join(this.dir, d), { recursive: true });
    writeFileSync(join(this.dir, 'netd', 'bench.conflist'), JSON.stringify(chain.conflist(this.dir)));
    this.netnsName = `${tag}-${chain.id}-host`;
    createNamedNetns(this.netnsName);
    this.cniPath = chain.source === 'berth' ? berthCni : REFERENCE_CNI;
  }

  /** The container's netns, made on first use (outside any timing: a runtime makes it before ADD). */
  netns(id: string): string {
    let path = this.containers.get(id);
    if (!path) {
      path = createNamedNetns(`${this.tag}-${this.chain.id}-${id}`);
      this.containers.set(id, path);
    }
    return path;
  }

  /** Removes the container's netns, as a runtime does after its DEL. */
  dropNetns(id: string): void {
    const path = this.containers.get(id);
    if (path) deleteNamedNetns(path);
    this.containers.delete(id);
  }

  private invocation(verb: Verb, call: Call, rawDir?: string) {
    const mapping = { hostPort: call.hostPort, containerPort: CONTAINER_PORT, protocol: 'tcp' };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_PATH: this.cniPath,
      NETCONFPATH: join(this.dir, 'netd'),
      CNI_CACHE_DIR: join(this.dir, 'cache'),
      CNI_CONTAINERID: call.id,
      BERTH_DAEMON_IDLE_MS: String(DAEMON_IDLE_MS),
      ...(call.hostPort === undefined ? {} : { CAP_ARGS: JSON.stringify({ portMappings: [mapping] }) }),
      ...(rawDir ? { CNI_RAW_DIR: rawDir } : {}),
    };
    const netns = this.netns(call.netns ?? call.id);
    return { argv: ['netns', 'exec', this.netnsName, cnitool(), verb, 'bench', netns], env };
  }

  /** One call, waited for; `rawDir` keeps each plugin's wall time (see pluginTimes). */
  runSync(verb: Verb, call: Call, rawDir?: string): CallResult {
    const { argv, env } = this.invocation(verb, call, rawDir);
    const begin = process.hrtime.bigint();
    const r = spawnSync('ip', argv, { env, encoding: 'utf8', timeout: CALL_TIMEOUT_MS, killSignal: 'SIGKILL' });
    const ms = Number(process.hrtime.bigint() - begin) / 1e6;
    return { ms, code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
  }

  /** One call as a process of its own, so several run at once. */
  run(verb: Verb, call: Call): Promise<CallResult> {
    const { argv, env } = this.invocation(verb, call);
    const begin = process.hrtime.bigint();
    return new Promise((resolve) => {
      const child = spawn('ip', argv, {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: CALL_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('error', (e) => {
        stderr += e.message;
      });
      child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - begin) / 1e6, code, stdout, stderr }));
    });
  }

  /** Whether the call did its work: a DEL answers nothing, an ADD an address of the network. */
  static succeeded(verb: Verb, r: CallResult): boolean {
    return r.code === 0 && (verb === 'del' ? r.stdout === '' : /"address":\s*"10\.99\./.test(r.stdout));
  }

  /** A call that did not do its work must not count as a fast one. */
  expectSuccess(verb: Verb, call: Call, r: CallResult): void {
    if (!CniHost.succeeded(verb, r)) {
      throw new Error(
        `${this.chain.label}: cnitool ${verb} of container ${call.id} failed (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim()}`,
      );
    }
  }

  /**
   * For berth: the daemon up and warm before anything is timed (the first call runs in-process and
   * starts it; the next ones reach it). Two rounds of ADD and DEL of one container.
   */
  async warm(hostPort: number): Promise<void> {
    if (this.chain.source !== 'berth') return;
    const call = { id: 'warm', hostPort };
    for (let round = 0; round < 2; round++) {
      for (const verb of ['add', 'del'] as const) this.expectSuccess(verb, call, this.runSync(verb, call));
      if (round === 0) await waitForDaemon(`/run/netns/${this.netnsName}`, this.cniPath);
    }
    this.dropNetns('warm');
  }

  /** After the last DEL: no veth left on the bridge, no IFB and no address reserved. */
  expectEmpty(): void {
    const links = spawnSync('ip', ['-n', this.netnsName, '-o', 'link', 'show', 'master', 'bbr0'], { encoding: 'utf8' });
    if (links.status !== 0 || links.stdout.trim() !== '') {
      throw new Error(`${this.chain.label}: links left on the bridge after every DEL: ${links.stdout}${links.stderr}`);
    }
    const ifbs = spawnSync('ip', ['-n', this.netnsName, '-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' });
    if (ifbs.status !== 0 || ifbs.stdout.trim() !== '') {
      throw new Error(`${this.chain.label}: IFB links left after every DEL: ${ifbs.stdout}${ifbs.stderr}`);
    }
    const ipamDir = join(this.dir, 'ipam', 'bench');
    const reserved = existsSync(ipamDir) ? readdirSync(ipamDir).filter((f) => f.startsWith('10.')) : [];
    if (reserved.length > 0) throw new Error(`${this.chain.label}: addresses still reserved: ${reserved.join(' ')}`);
  }

  /**
   * Each host port appears in the host netns' rules (present) or none does: a
   * chain that answered ADD without publishing must not count as a fast one.
   * Both dumps, since the reference portmap writes iptables rules, which
   * iptables-legacy keeps out of nft's sight.
   */
  expectPublished(ports: readonly number[], present: boolean): void {
    if (ports.length === 0) return;
    const dump = (argv: string[]) =>
      spawnSync('ip', ['netns', 'exec', this.netnsName, ...argv], { encoding: 'utf8', timeout: CALL_TIMEOUT_MS });
    const nft = dump(['nft', 'list', 'ruleset']);
    if (nft.status !== 0) throw new Error(`${this.chain.label}: nft list ruleset failed: ${nft.stderr}`);
    const rules = `${nft.stdout}\n${dump(['iptables-save', '-t', 'nat']).stdout ?? ''}`;
    const seen = new Set((rules.match(/\d+/g) ?? []).map(Number));
    const wrong = ports.filter((p) => seen.has(p) !== present);
    if (wrong.length > 0) {
      const state = present ? 'not published after every ADD' : 'still in the rules after every DEL';
      throw new Error(
        `${this.chain.label}: host ports ${state}: ${wrong.slice(0, 10).join(' ')}${wrong.length > 10 ? ' ...' : ''}`,
      );
    }
  }

  /**
   * Removes what the host holds: the containers' namespaces, then the daemon the plugins started in
   * it (by PID: it keeps the netns alive), then the host netns with whatever a failed run left inside
   * (veths, bridges, addresses, nftables and iptables rules).
   */
  close(): void {
    for (const path of this.containers.values()) deleteNamedNetns(path);
    this.containers.clear();
    stopDaemons({ netns: `/run/netns/${this.netnsName}` });
    deleteNamedNetns(this.netnsName);
  }
}

/** The plugin processes of one cnitool call, from the wall times cnitool saved in CNI_RAW_DIR. */
export function pluginTimes(rawDir: string): [string, number][] {
  if (!existsSync(rawDir)) return [];
  return readdirSync(rawDir)
    .filter((f) => f.endsWith('.ms'))
    .map((f) => {
      const plugin = f.replace(/^\d+-/, '').replace(/-[A-Z]+\.ms$/, '');
      return [plugin, Number(readFileSync(join(rawDir, f), 'utf8'))] as [string, number];
    });
}

/** Runs the tasks at most `limit` at a time; the first failure is thrown after the running ones finish. */
export async function pool(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
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
