/**
 * Many containers at once, as a runtime starts a node's pods: 100 ADDs started together through
 * libcni (cnitool), each publishing a host port of its own, then 100 DELs together. Every call
 * must exit 0, however long the wait for a lock, and nothing may be left. The reference chain
 * (bridge + host-local + portmap + loopback) runs the same load for comparison; its times are
 * printed, its results not judged. Last, a holder of a port's lock that is stopped makes an ADD
 * fail with code 11 naming its PID, and the ADD leaves nothing.
 *
 * Everything happens in a netns that plays the host, and in container namespaces the test makes.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostPortLockPath } from '../../network/ports.js';
import {
  CniWorkspace,
  cnitool,
  type ProcessRun,
  REFERENCE_CNI,
  ROOT,
  runPlugin,
  snapshotPlugins,
  startCnitool,
} from '../helpers/cni.js';
import { LockHolders } from '../helpers/lock-holder.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const COUNT = 100;
const NET = 'bt-par';
const BRIDGE = 'btpar0';
const SUBNET = '10.79.0.0/16';
const FIRST_PORT = 31000;
/** One call may wait long under this load (two cores, a hundred processes); it must not fail. */
const CALL_TIMEOUT_MS = 300_000;

type Json = Record<string, unknown>;

interface Host {
  readonly ns: TestNs;
  readonly stateDir: string;
  readonly dataDir: string;
}

interface Setup {
  readonly title: string;
  /** berth's own: its results are judged and its state must be empty after the DELs. */
  readonly berth: boolean;
  conflist(h: Host): Json & { name: string };
}

/** conf/<file> on the test's bridge, subnet and state directories. */
function exampleConflist(file: string, h: Host): Json & { name: string } {
  const conflist = JSON.parse(readFileSync(join(ROOT, 'conf', file), 'utf8')) as Json & { plugins: Json[] };
  const plugins = conflist.plugins.map((p) => {
    const moved: Json = { ...p };
    if (p.type === 'berth' || p.type === 'berth-bridge') moved.bridge = BRIDGE;
    if (p.type === 'berth' || p.type === 'berth-bridge' || p.type === 'berth-portmap') moved.stateDir = h.stateDir;
    if (p.ipam) moved.ipam = { ...(p.ipam as Json), ranges: [[{ subnet: SUBNET }]], dataDir: h.dataDir };
    return moved;
  });
  return { ...conflist, name: NET, plugins };
}

const SETUPS: readonly Setup[] = [
  {
    title: 'the chain berth-bridge + berth-ipam, berth-portmap, berth-loopback (conf/berth-chain.conflist)',
    berth: true,
    conflist: (h) => exampleConflist('berth-chain.conflist', h),
  },
  {
    title: 'the all-in-one berth plugin (conf/berth.conflist)',
    berth: true,
    conflist: (h) => exampleConflist('berth.conflist', h),
  },
  {
    title: 'the reference chain bridge + host-local, portmap, loopback',
    berth: false,
    conflist: (h) => ({
      cniVersion: '1.0.0',
      name: NET,
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: true,
          hairpinMode: true,
          // isDefaultGateway gives the default route; a route of its own from IPAM would be added twice.
          ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], dataDir: h.dataDir },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'loopback' },
      ],
    }),
  },
];

describe.skipIf(notRoot)(kernelSuite('100 parallel ADDs and DELs with a published port each'), () => {
  const netns = new TestNetns();
  const dirs: string[] = [];
  const workspaces: CniWorkspace[] = [];
  const holders = new LockHolders();
  let plugins = '';
  beforeAll(() => {
    TestNetns.removeStale();
    plugins = snapshotPlugins();
    cnitool();
  }, 10 * 60_000);
  afterEach(() => {
    holders.stopAll();
    for (const ws of workspaces.splice(0)) ws.remove();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    netns.cleanup();
  });
  afterAll(() => {
    if (plugins) rmSync(join(plugins, '..'), { recursive: true, force: true });
  });

  async function makeHost(): Promise<Host> {
    const dir = mkdtempSync(join(tmpdir(), 'berth-parallel-'));
    dirs.push(dir);
    return { ns: await netns.create('host'), stateDir: join(dir, 'state'), dataDir: join(dir, 'ipam') };
  }

  const veths = (h: Host) =>
    netns
      .ipJson<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(h.ns, ['-d', 'link', 'show'])
      .filter((l) => l.linkinfo?.info_kind === 'veth')
      .map((l) => l.ifname);

  /** The elements of every set and map of berth's table in the host, as 'set: element'. */
  function berthElements(h: Host): string[] {
    const out = netns.exec(h.ns, ['nft', '-j', 'list', 'table', 'inet', 'berth']);
    return (JSON.parse(out) as { nftables: Json[] }).nftables
      .map((o) => (o.set ?? o.map) as Json | undefined)
      .filter((s): s is Json => s !== undefined && s.name !== 'base_version')
      .flatMap((s) => ((s.elem as unknown[] | undefined) ?? []).map((e) => `${s.name}: ${JSON.stringify(e)}`));
  }

  /** The files under dir, recursively, as paths relative to it; [] when dir is not there. */
  function filesUnder(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort();
  }

  const reservations = (h: Host) =>
    filesUnder(join(h.dataDir, NET)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));

  const failures = (runs: readonly ProcessRun[]) =>
    runs.flatMap((r, i) => (r.code === 0 ? [] : [`#${i}: exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`]));

  for (const setup of SETUPS) {
    it(`${setup.title}: every ADD and every DEL exits 0, and nothing is left`, { timeout: 20 * 60_000 }, async () => {
      const h = await makeHost();
      const ctrs: TestNs[] = [];
      for (let i = 0; i < COUNT; i++) ctrs.push(await netns.create(`p${i}`));
      const ws = new CniWorkspace('parallel');
      workspaces.push(ws);
      ws.writeConflist(setup.conflist(h));
      const call = (verb: 'add' | 'del', i: number) =>
        startCnitool(
          verb,
          NET,
          ctrs[i]!.path,
          ws.options({
            hostNetns: h.ns.path,
            cniPath: [plugins, REFERENCE_CNI],
            containerId: `par-${i}`,
            capArgs: { portMappings: [{ hostPort: FIRST_PORT + i, containerPort: 80, protocol: 'tcp' }] },
            timeoutMs: CALL_TIMEOUT_MS,
          }),
        );

      let t0 = performance.now();
      const adds = await Promise.all(ctrs.map((_, i) => call('add', i)));
      const addMs = performance.now() - t0;
      t0 = performance.now();
      const dels = await Promise.all(ctrs.map((_, i) => call('del', i)));
      const delMs = performance.now() - t0;
      console.log(
        `${setup.title}: ${COUNT} parallel ADDs ${(addMs / 1000).toFixed(1)} s (${failures(adds).length} failed), ` +
          `${COUNT} parallel DELs ${(delMs / 1000).toFixed(1)} s (${failures(dels).length} failed)` +
          [...failures(adds), ...failures(dels)]
            .slice(0, 1)
            .map((f) => `; first failure ${f}`)
            .join(''),
      );
      if (!setup.berth) return;

      expect(failures(adds), 'failed ADDs').toEqual([]);
      const ips = new Set(adds.map((r) => ((r.json as Json).ips as { address: string }[])[0]!.address));
      expect(ips.size).toBe(COUNT);
      expect(failures(dels), 'failed DELs').toEqual([]);

      expect(veths(h), 'veths').toEqual([]);
      expect(berthElements(h), 'elements of the firewall table').toEqual([]);
      expect(reservations(h), 'IPAM reservations').toEqual([]);
      expect(filesUnder(join(h.stateDir, 'ports')), 'port records').toEqual([]);
      expect(filesUnder(join(h.stateDir, 'port-claims')), 'port claims').toEqual([]);
      expect(filesUnder(join(h.stateDir, 'locks')), 'locks of ports and their owners').toEqual([]);
      expect(filesUnder(join(h.stateDir, 'firewall')), 'firewall records and locks').toEqual(['.lock']);
    });
  }

  it('a stopped holder of a host port lock fails an ADD with code 11 naming its PID, and the ADD leaves nothing', {
    timeout: 120_000,
  }, async () => {
    const h = await makeHost();
    const c = await netns.create('stuck');
    const hostPort = 32000;
    const conf = {
      cniVersion: '1.0.0',
      name: NET,
      ...(exampleConflist('berth.conflist', h).plugins as Json[])[0],
      runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] },
    };
    const invoke = (command: 'ADD' | 'DEL') =>
      runPlugin(
        join(plugins, 'berth'),
        { command, containerId: 'stuck-1', netns: c.path, path: [plugins, REFERENCE_CNI] },
        conf,
        { hostNetns: h.ns.path, timeoutMs: 60_000 },
      );

    const lock = hostPortLockPath(h.stateDir, 'tcp', hostPort);
    mkdirSync(dirname(lock), { recursive: true });
    const holder = await holders.start(lock);
    process.kill(holder.pid!, 'SIGSTOP');
    const started = performance.now();
    const stuck = invoke('ADD');
    const waited = performance.now() - started;
    expect(stuck.code, stuck.stderr).toBe(1);
    expect(stuck.json).toMatchObject({
      code: 11,
      msg: expect.stringMatching(
        new RegExp(
          `^the lock of a host port ${lock} is held by process ${holder.pid} \\(node\\), which has been stopped for`,
        ),
      ),
      details: expect.stringContaining(`kill -CONT ${holder.pid}`),
    });
    // The default bound on a stopped holder is 10 s.
    expect(waited).toBeGreaterThanOrEqual(10_000);
    expect(waited).toBeLessThan(40_000);
    expect(veths(h), 'veths after the failed ADD').toEqual([]);
    expect(reservations(h), 'reservations after the failed ADD').toEqual([]);
    expect(filesUnder(join(h.stateDir, 'ports')), 'port records after the failed ADD').toEqual([]);

    process.kill(holder.pid!, 'SIGCONT');
    process.kill(holder.pid!, 'SIGKILL');
    if (holder.exitCode === null && holder.signalCode === null) await new Promise((r) => holder.once('exit', r));
    const add = invoke('ADD');
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const del = invoke('DEL');
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(veths(h)).toEqual([]);
    expect(berthElements(h)).toEqual([]);
    expect(filesUnder(join(h.stateDir, 'locks'))).toEqual([]);
  });
});
