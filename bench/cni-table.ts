import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REFERENCE_CNI } from '../test/helpers/cni.js';
import { ALL_IN_ONE, BERTH_CHAIN, REFERENCE_CHAIN } from './chains.js';
import { latencyWindows, netnsExecOverhead, WINDOWS } from './cni.js';
import { availableChains, type CallResult, CniHost, Deadline, snapshotBuild, type Verb } from './cni-host.js';
import { percentile } from './measure.js';
import { type Cell, type Figure, formatTable, type Side } from './ratios.js';
import { versionCpu } from './startup.js';

export interface CniTableOptions {
  /** Containers timed one by one for the ADD and DEL p50s (see latencyWindows). */
  readonly windows: readonly (readonly [number, number])[];
  readonly fillConcurrency: number;
  /** How many ADDs, then DELs, start at once. */
  readonly parallel: number;
  readonly soakOps: number;
  readonly soakInFlight: number;
  /** Containers the soak's random ops pick from (each its netns and host port). */
  readonly soakSlots: number;
  /** VERSION calls per executable. */
  readonly versionRuns: number;
  readonly deadlineMs: number;
}

/** The issue's table (13): in one run, about 5 minutes on a quiet 2-core machine. */
export const CNI_TABLE: CniTableOptions = {
  windows: WINDOWS,
  fillConcurrency: 2,
  parallel: 50,
  soakOps: 400,
  soakInFlight: 8,
  soakSlots: 24,
  versionRuns: 1000,
  deadlineMs: 9 * 60_000,
};

/** Where each phase's containers publish their one port, apart so that no phase meets another's leftovers. */
const PORTS = { windows: 30001, parallel: 40001, soak: 50001, warm: 39999 };
const SOAK_SEED = 13;

const LABELS: Readonly<Record<Side, string>> = {
  aio: 'all-in-one `berth`, daemon',
  chain: 'berth chain, daemon',
};

/** What the run measured on one host. */
interface HostFigures {
  /** [window][verb] p50, ms. */
  readonly p50: { readonly add: number; readonly del: number }[];
  readonly parallel: { readonly add: Cell; readonly del: Cell };
  readonly soak: Cell;
}

/**
 * The figures of issue 13 as ratios against the reference chain (bridge + host-local + portmap +
 * loopback from /usr/lib/cni), in one run, one published port per container, everything through
 * libcni (cnitool): the all-in-one `berth` and berth's chain (berth-bridge + berth-ipam +
 * berth-portmap + berth-loopback), both through the daemon, warmed before anything is timed.
 *
 * - ADD and DEL p50 at N=1/50/200: latencyWindows, the three interleaved container by container.
 * - 50 parallel ADDs, then their DELs: wall time from the first start to the last exit, per host in turn.
 * - VERSION start-up: CPU (user + sys) per call of berth's C client against Go's bridge.
 * - A soak of random ADDs and DELs, 8 in flight, per host in turn: ops/s and failures.
 *
 * Every host is a throwaway netns; everything is removed at the end, daemons by PID.
 */
export async function benchCniTable(options: CniTableOptions = CNI_TABLE): Promise<string[]> {
  const began = Date.now();
  const deadline = new Deadline('cni', options.deadlineMs);
  const chains = availableChains([ALL_IN_ONE, BERTH_CHAIN, REFERENCE_CHAIN], 'cni');
  if (!chains.includes(REFERENCE_CHAIN))
    throw new Error(`cni bench: the ratios need the reference plugins in ${REFERENCE_CNI}`);
  const tag = `bb-${process.pid}-cni`;
  const root = mkdtempSync(join(tmpdir(), 'berth-bench-cni-'));
  const hosts: CniHost[] = [];
  const phases: string[] = [];
  const phase = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const start = Date.now();
    const result = await fn();
    phases.push(`${name} ${((Date.now() - start) / 1000).toFixed(0)} s`);
    return result;
  };
  try {
    const berthCni = snapshotBuild(root);
    for (const chain of chains) hosts.push(new CniHost(chain, root, tag, berthCni));
    const [aio, chain, ref] = hosts as [CniHost, CniHost, CniHost];
    for (const h of hosts) await h.warm(PORTS.warm);

    // First, while nothing else runs: the CPU count is of every child this process reaps.
    const version = await phase('VERSION', () =>
      versionCpu(
        [
          { what: 'berth', file: join(berthCni, 'berth') },
          { what: 'berth-bridge', file: join(berthCni, 'berth-bridge') },
          { what: 'bridge', file: join(REFERENCE_CNI, 'bridge') },
        ],
        options.versionRuns,
      ),
    );
    const windows = await phase('ADD/DEL at N', () =>
      latencyWindows(hosts, { ...options, firstHostPort: PORTS.windows }, deadline),
    );
    const total = Math.max(...options.windows.map(([, last]) => last));
    const figures = new Map<CniHost, HostFigures>();
    const parallels = new Map<CniHost, HostFigures['parallel']>();
    await phase(`${options.parallel} parallel`, async () => {
      for (const h of [ref, aio, chain]) parallels.set(h, await parallel(h, options.parallel, deadline));
    });
    await phase('soak', async () => {
      for (const h of [ref, aio, chain]) {
        const calls = windows[hosts.indexOf(h)]!.calls;
        const p50 = options.windows.map((_, w) => ({
          add: percentile(calls.get(`add/${w}`) ?? [], 50),
          del: percentile(calls.get(`del/${w}`) ?? [], 50),
        }));
        figures.set(h, { p50, parallel: parallels.get(h)!, soak: await soak(h, options, deadline) });
      }
    });
    const exec = netnsExecOverhead(ref.netnsName, 20, 'none');

    const f = (h: CniHost) => figures.get(h)!;
    const rows: Figure[] = [];
    for (const verb of ['add', 'del'] as const) {
      for (const [w, [first, last]] of options.windows.entries()) {
        const n = first === 1 ? 1 : Math.round((first + last) / 2);
        const aioGoal = verb === 'del' ? 0.4 : n === 1 ? 0.4 : last >= 200 ? 0.3 : undefined;
        rows.push({
          name: `${verb.toUpperCase()} p50 at N=${n} (containers ${first}-${last})`,
          unit: 'ms',
          better: 'lower',
          reference: { value: f(ref).p50[w]![verb] },
          sides: { aio: { value: f(aio).p50[w]![verb] }, chain: { value: f(chain).p50[w]![verb] } },
          targets: { ...(aioGoal ? { aio: { ratio: aioGoal } } : {}), chain: { ratio: 0.7 } },
        });
      }
    }
    for (const verb of ['add', 'del'] as const) {
      rows.push({
        name: `${options.parallel} parallel ${verb.toUpperCase()}s, wall`,
        unit: 's',
        better: 'lower',
        reference: f(ref).parallel[verb],
        sides: { aio: f(aio).parallel[verb], chain: f(chain).parallel[verb] },
        targets: { aio: { ratio: 0.4 } },
      });
    }
    const [vAio, vChain, vGo] = version as [(typeof version)[0], (typeof version)[0], (typeof version)[0]];
    rows.push(
      {
        name: 'VERSION start-up, CPU per call (C client vs Go `bridge`)',
        unit: 'ms',
        better: 'lower',
        reference: { value: vGo.cpuMs },
        sides: { aio: { value: vAio.cpuMs }, chain: { value: vChain.cpuMs } },
        targets: { aio: { ratio: 1 }, chain: { ratio: 1 } },
      },
      {
        name: 'VERSION start-up, wall p50',
        unit: 'ms',
        better: 'lower',
        reference: { value: vGo.wallP50Ms },
        sides: { aio: { value: vAio.wallP50Ms }, chain: { value: vChain.wallP50Ms } },
        targets: {},
      },
      {
        name: `soak: ${options.soakOps} random ADD/DEL, ${options.soakInFlight} in flight`,
        unit: 'ops/s',
        better: 'higher',
        reference: f(ref).soak,
        sides: { aio: f(aio).soak, chain: f(chain).soak },
        targets: { aio: { ratio: 2.5, noFailures: true }, chain: { ratio: 1.5 } },
      },
    );
    return [
      `cni: issue 13's figures, one published port per container, through cnitool (libcni); ratios are berth's over the reference's (bridge + host-local + portmap + loopback, ${REFERENCE_CNI})`,
      '',
      ...formatTable(rows, LABELS),
      '',
      `every cnitool call runs under \`ip netns exec HOST\` (the hosts are throwaway namespaces): p50 ${percentile(exec.samples!, 50).toFixed(1)} ms alone, in every figure but VERSION; up to N=${total}, ${total * hosts.length} container netns around`,
      `phases: ${phases.join(', ')}; whole run ${((Date.now() - began) / 1000).toFixed(0)} s`,
    ];
  } finally {
    for (const h of hosts) h.close();
    rmSync(root, { recursive: true, force: true });
  }
}

const failuresOf = (verb: Verb, results: readonly CallResult[]) => results.filter((r) => !CniHost.succeeded(verb, r));

/**
 * `count` ADDs started at once, on an empty network, then their DELs: wall time of each wave and how
 * many calls failed. A runtime DELs a failed ADD too, so every container gets its DEL; a DEL that
 * failed is repeated (untimed) until the network is empty.
 */
async function parallel(h: CniHost, count: number, deadline: Deadline): Promise<{ add: Cell; del: Cell }> {
  const calls = Array.from({ length: count }, (_, i) => ({ id: `p${i}`, hostPort: PORTS.parallel + i }));
  for (const c of calls) h.netns(c.id);
  const wave = async (verb: Verb): Promise<{ cell: Cell; results: CallResult[] }> => {
    deadline.check();
    const begin = process.hrtime.bigint();
    const results = await Promise.all(calls.map((c) => h.run(verb, c)));
    const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
    return { cell: { value: seconds, failures: failuresOf(verb, results).length }, results };
  };
  const add = await wave('add');
  const del = await wave('del');
  await repeatFailedDels(
    h,
    calls.filter((_, i) => !CniHost.succeeded('del', del.results[i]!)),
    deadline,
  );
  for (const c of calls) h.dropNetns(c.id);
  h.expectEmpty();
  h.expectPublished(
    calls.map((c) => c.hostPort),
    false,
  );
  reportFailures(h, 'parallel ADD', failuresOf('add', add.results));
  reportFailures(h, 'parallel DEL', failuresOf('del', del.results));
  return { add: add.cell, del: del.cell };
}

/**
 * `ops` random operations, `inFlight` at a time, over `slots` containers: each op takes a random
 * container no op is running on and ADDs it when it is not attached, else DELs it (a new container
 * ID at each ADD, the slot's netns kept). A failed ADD counts as attached, as a runtime DELs it.
 * Ops/s over the whole soak, and the failures; whatever is attached at the end is DELeted, untimed.
 */
async function soak(h: CniHost, options: CniTableOptions, deadline: Deadline): Promise<Cell> {
  const random = mulberry32(SOAK_SEED);
  const attached = new Array<boolean>(options.soakSlots).fill(false);
  const busy = new Array<boolean>(options.soakSlots).fill(false);
  const generation = new Array<number>(options.soakSlots).fill(0);
  const callOf = (s: number) => ({ id: `s${s}-${generation[s]}`, netns: `s${s}`, hostPort: PORTS.soak + s });
  for (let s = 0; s < options.soakSlots; s++) h.netns(`s${s}`);
  const failed: CallResult[] = [];
  let issued = 0;
  const worker = async () => {
    while (issued < options.soakOps) {
      deadline.check();
      const free = busy.flatMap((b, s) => (b ? [] : [s]));
      const s = free[Math.floor(random() * free.length)]!;
      issued++;
      busy[s] = true;
      const verb: Verb = attached[s] ? 'del' : 'add';
      const r = await h.run(verb, callOf(s));
      if (!CniHost.succeeded(verb, r)) failed.push(r);
      if (verb === 'add') attached[s] = true;
      else if (CniHost.succeeded(verb, r)) {
        attached[s] = false;
        generation[s]!++;
      }
      busy[s] = false;
    }
  };
  const begin = process.hrtime.bigint();
  await Promise.all(Array.from({ length: options.soakInFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
  await repeatFailedDels(
    h,
    attached.flatMap((a, s) => (a ? [callOf(s)] : [])),
    deadline,
  );
  for (let s = 0; s < options.soakSlots; s++) h.dropNetns(`s${s}`);
  h.expectEmpty();
  h.expectPublished(
    Array.from({ length: options.soakSlots }, (_, s) => PORTS.soak + s),
    false,
  );
  reportFailures(h, 'soak', failed);
  return { value: options.soakOps / seconds, failures: failed.length };
}

/** DELs the containers one at a time until each succeeds (three tries each): the bench leaves nothing. */
async function repeatFailedDels(
  h: CniHost,
  calls: readonly { id: string; netns?: string; hostPort?: number }[],
  deadline: Deadline,
): Promise<void> {
  for (const c of calls) {
    for (let attempt = 1; ; attempt++) {
      deadline.check();
      const r = await h.run('del', c);
      if (CniHost.succeeded('del', r)) break;
      if (attempt === 3) h.expectSuccess('del', c, r);
    }
  }
}

/** The first failures of a phase on stderr, so a failed figure says why. */
function reportFailures(h: CniHost, what: string, bad: readonly CallResult[]): void {
  for (const r of bad.slice(0, 3))
    console.error(`cni: ${h.chain.label}, ${what} failed: ${`${r.stdout} ${r.stderr}`.trim().slice(0, 300)}`);
  if (bad.length > 3) console.error(`cni: ${h.chain.label}, ${what}: ${bad.length - 3} more failures`);
}

/** A small seeded generator, so every chain's soak draws from the same sequence of numbers. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
