import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BANDWIDTH_CHAINS, BRIDGE_CHAINS, type Chain, PORT_CHAINS, pluginsOf } from './chains.js';
import {
  availableChains,
  CALL_TIMEOUT_MS,
  CniHost,
  Deadline,
  pluginTimes,
  pool,
  snapshotBuild,
  type Verb,
} from './cni-host.js';
import type { Measurement } from './measure.js';

/** Which containers of the network are timed: a few around each point, for a p50 and a p95. */
export interface CniBenchOptions {
  /** Starts each row and the namespace names ('bridge', 'ports'). */
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

export const WINDOWS = [
  [1, 5],
  [48, 52],
  [198, 202],
] as const;

export const BRIDGE_CNI_BENCH: CniBenchOptions = {
  name: 'bridge',
  chains: BRIDGE_CHAINS,
  windows: WINDOWS,
  fillConcurrency: 2,
  deadlineMs: 8 * 60_000,
};

export const BANDWIDTH_CNI_BENCH: CniBenchOptions = {
  name: 'bandwidth',
  chains: BANDWIDTH_CHAINS,
  windows: WINDOWS.slice(0, 2),
  fillConcurrency: 2,
  deadlineMs: 10 * 60_000,
};

export const PORTS_CNI_BENCH: CniBenchOptions = {
  name: 'ports',
  chains: PORT_CHAINS,
  firstHostPort: 30001,
  windows: WINDOWS,
  fillConcurrency: 2,
  deadlineMs: 12 * 60_000,
};

/** Per host (in the order given): the timed calls by verb and window, and the plugin processes inside them. */
export interface WindowSamples {
  /** `${verb}/${window index}` → wall times of whole cnitool calls, ms. */
  readonly calls: Map<string, number[]>;
  /** `${verb}/${plugin}` → the plugin processes' wall times, ms. */
  readonly plugins: Map<string, number[]>;
}

/**
 * ADD and DEL latency through libcni (cnitool) at the windows' containers, for each host, interleaved
 * container by container so all see the same machine. The network fills up to the last window
 * (untimed ADDs between windows, `fillConcurrency` at a time) and empties from the top, so "DEL at
 * 200" has 200 neighbours, as "ADD at 200" had 199. Leaves every network empty, and checks it.
 */
export async function latencyWindows(
  hosts: readonly CniHost[],
  options: Pick<CniBenchOptions, 'windows' | 'fillConcurrency' | 'firstHostPort'>,
  deadline: Deadline,
): Promise<WindowSamples[]> {
  const total = Math.max(...options.windows.map(([, last]) => last));
  const timed = (n: number) => options.windows.findIndex(([first, last]) => n >= first && n <= last);
  const hostPort = (n: number) => (options.firstHostPort === undefined ? undefined : options.firstHostPort + n - 1);
  const call = (n: number) => ({ id: `w${n}`, hostPort: hostPort(n) });
  const samples: WindowSamples[] = hosts.map(() => ({ calls: new Map(), plugins: new Map() }));

  const timedCall = (k: number, verb: Verb, n: number, w: number) => {
    deadline.check();
    const h = hosts[k]!;
    const rawDir = join(h.dir, 'raw', `${verb}-${n}`);
    const r = h.runSync(verb, call(n), rawDir);
    h.expectSuccess(verb, call(n), r);
    if (verb === 'del') h.dropNetns(call(n).id);
    push(samples[k]!.calls, `${verb}/${w}`, r.ms);
    for (const [plugin, ms] of pluginTimes(rawDir)) push(samples[k]!.plugins, `${verb}/${plugin}`, ms);
    rmSync(rawDir, { recursive: true, force: true });
  };
  const untimedCalls = (verb: Verb, ns: readonly number[]) =>
    pool(
      ns.flatMap((n) =>
        hosts.map((h) => async () => {
          deadline.check();
          const r = await h.run(verb, call(n));
          h.expectSuccess(verb, call(n), r);
          if (verb === 'del') h.dropNetns(call(n).id);
        }),
      ),
      options.fillConcurrency,
    );

  let pending: number[] = [];
  for (let n = 1; n <= total; n++) {
    for (const h of hosts) h.netns(call(n).id);
    const w = timed(n);
    if (w < 0) {
      pending.push(n);
      continue;
    }
    await untimedCalls('add', pending);
    pending = [];
    for (const k of hosts.keys()) timedCall(k, 'add', n, w);
  }
  await untimedCalls('add', pending);
  const allPorts = Array.from({ length: total }, (_, i) => hostPort(i + 1)).filter((p) => p !== undefined);
  for (const h of hosts) h.expectPublished(allPorts, true);

  pending = [];
  for (let n = total; n >= 1; n--) {
    const w = timed(n);
    if (w < 0) {
      pending.push(n);
      continue;
    }
    await untimedCalls('del', pending);
    pending = [];
    for (const k of hosts.keys()) timedCall(k, 'del', n, w);
  }
  await untimedCalls('del', pending);
  for (const h of hosts) {
    h.expectEmpty();
    h.expectPublished(allPorts, false);
  }
  return samples;
}

/**
 * ADD and DEL latency through libcni (cnitool) for the first, 50th and 200th container of one
 * network, as rows per window and per plugin process, for each chain of the options: with
 * BRIDGE_CHAINS, berth's chain (berth-bridge with berth-ipam, berth-loopback) and, when /usr/lib/cni
 * has it, the reference one (bridge with host-local, loopback); with PORT_CHAINS and a
 * firstHostPort, the same network where every container publishes one port.
 */
export async function benchCni(options: CniBenchOptions): Promise<Measurement[]> {
  const deadline = new Deadline(options.name, options.deadlineMs);
  const chains = availableChains(options.chains, options.name);
  const tag = `bb-${process.pid}-${options.name}`;
  const root = mkdtempSync(join(tmpdir(), `berth-bench-${options.name}-`));
  const hosts: CniHost[] = [];
  try {
    const berthCni = chains.some((c) => c.source === 'berth') ? snapshotBuild(root) : '';
    for (const chain of chains) hosts.push(new CniHost(chain, root, tag, berthCni));
    const samples = await latencyWindows(hosts, options, deadline);
    const total = Math.max(...options.windows.map(([, last]) => last));
    // `ip netns exec` copies the mount table, which holds every named netns: it costs more when the network is full.
    const execWhenFull = netnsExecOverhead(hosts[0]!.netnsName, 20, `${total * hosts.length} container netns`);

    const ports = options.firstHostPort === undefined ? '' : ', 1 port each';
    const out: Measurement[] = [];
    for (const verb of ['add', 'del'] as const) {
      for (const [w, [first, last]] of options.windows.entries()) {
        for (const [k, h] of hosts.entries()) {
          out.push(
            measurement(
              `${options.name} ${verb.toUpperCase()} ${h.chain.label}, containers ${first}-${last} (cnitool${ports})`,
              samples[k]!.calls.get(`${verb}/${w}`) ?? [],
            ),
          );
        }
      }
      for (const [k, h] of hosts.entries()) {
        for (const plugin of pluginsOf(h.chain)) {
          out.push(
            measurement(
              `  of which ${plugin} ${verb.toUpperCase()} (${h.chain.label}), all windows`,
              samples[k]!.plugins.get(`${verb}/${plugin}`) ?? [],
            ),
          );
        }
      }
    }
    out.push(execWhenFull, netnsExecOverhead(hosts[0]!.netnsName, 20, 'none'));
    return out;
  } finally {
    for (const h of hosts) h.close();
    rmSync(root, { recursive: true, force: true });
  }
}

const measurement = (what: string, samples: readonly number[]): Measurement => ({
  what,
  ops: samples.length,
  seconds: samples.reduce((a, b) => a + b, 0) / 1000,
  samples,
});

/** What `ip netns exec` alone adds to every timed call. */
export function netnsExecOverhead(hostName: string, runs: number, neighbours: string): Measurement {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const begin = process.hrtime.bigint();
    const r = spawnSync('ip', ['netns', 'exec', hostName, 'true'], { timeout: CALL_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`ip netns exec ${hostName} true failed: ${r.stderr}`);
    samples.push(Number(process.hrtime.bigint() - begin) / 1e6);
  }
  return measurement(`\`ip netns exec HOST true\` (in every row above), ${neighbours} around`, samples);
}

export function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
