/**
 * Bandwidth limits end to end, in throwaway namespaces (one plays the host): the CNI chain
 * berth-bridge + berth-bandwidth and the reference chain bridge + bandwidth through libcni
 * (cnitool), the all-in-one plugin with the `bandwidth` capability, and the berth command. The
 * witness is a bounded iperf3 (2 s) between addresses the test's plugins assigned: each direction
 * lands within 10% of its limit, unshaped traffic runs far above it. CHECK names a qdisc someone
 * deleted; DEL without the netns and GC leave no IFB; bad input leaves nothing.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NetlinkHandle } from '../../netlink/handle.js';
import { attachmentOwnerId, hostVethName } from '../../network/pipeline/cni-names.js';
import { ifbName } from '../../network/shaping/ifb.js';
import {
  CniWorkspace,
  DIST_CNI,
  type ProcessRun,
  REFERENCE_CNI,
  ROOT,
  runCnitool,
  runPlugin,
  snapshotPlugins,
} from '../helpers/cni.js';
import { iperfClientArgs, throughput as measure, receivedBitsPerSecond, startIperfServer } from '../helpers/iperf.js';
import { kernelSuite, notRoot, type TestHost, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll } from '../helpers/servers.js';

const MBIT = 1_000_000;
const NET = 'bt-bw';
const BRIDGE = 'btbw0';
const SUBNET = '10.78.0.0/24';
const GW = '10.78.0.1';
const REF_NET = 'bt-bwref';
const REF_BRIDGE = 'btbwref0';
const REF_SUBNET = '10.79.0.0/24';
const REF_GW = '10.79.0.1';
const SWAP_NET = 'bt-bwswap';
const SWAP_BRIDGE = 'btbwswap0';
const SWAP_SUBNET = '10.75.0.0/24';
const SWAP_GW = '10.75.0.1';
const AIO_NET = 'bt-bwaio';
const AIO_BRIDGE = 'btbwaio0';
const AIO_SUBNET = '10.77.0.0/24';
const AIO_GW = '10.77.0.1';
const BERTH = join(ROOT, 'dist', 'bin', 'berth');

type Json = Record<string, unknown>;

interface Host extends TestHost {
  readonly h: NetlinkHandle;
}

/** The throughput figures of this run, printed at the end for the record. */
const figures: string[] = [];

/** Within 10% of the limit, as the issue asks. */
function expectNear(bps: number, limit: number, what: string): void {
  figures.push(`${what}: ${(bps / MBIT).toFixed(1)} Mbit/s (limit ${limit / MBIT})`);
  expect(bps, what).toBeGreaterThan(0.9 * limit);
  expect(bps, what).toBeLessThan(1.1 * limit);
}

/**
 * 128 KiB: a bucket smaller than the largest (GSO) packet, some 68 KB as the kernel counts it, makes a
 * TBF split packets, which TCP's small-queue accounting then misses; the sender overfills the 25 ms
 * queue and runs 10-15% short now and then, with the reference plugin as with berth's.
 */
const BURST_20 = 128 * 1024 * 8;

/** The container's address, without prefix, from an ADD's result. */
const addressOf = (result: unknown) =>
  ((result as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0]!;

describe.skipIf(notRoot)(kernelSuite('bandwidth limits in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const workspaces: CniWorkspace[] = [];
  const servers: ChildProcess[] = [];
  let plugins = DIST_CNI;
  beforeAll(() => {
    TestNetns.removeStale();
    plugins = snapshotPlugins();
  });
  afterEach(() => {
    killAll(servers);
    for (const ws of workspaces.splice(0)) ws.remove();
    netns.cleanup();
  });
  afterAll(() => {
    netns.cleanup();
    if (plugins !== DIST_CNI) rmSync(join(plugins, '..'), { recursive: true, force: true });
    if (figures.length > 0) console.log(`bandwidth figures:\n  ${figures.join('\n  ')}`);
  });

  const throughput = (from: string, to: string, toAddr: string) => measure(from, to, toAddr, servers);

  async function makeHost(): Promise<Host> {
    const host = await netns.host();
    return { ...host, h: netns.handle(host.ns) };
  }

  function workspace(): CniWorkspace {
    const ws = new CniWorkspace('bandwidth');
    workspaces.push(ws);
    return ws;
  }

  const cniOptions = (ws: CniWorkspace, host: Host, containerId: string, capArgs?: Json) =>
    ws.options({
      containerId,
      hostNetns: host.ns.path,
      cniPath: [plugins, REFERENCE_CNI],
      ...(capArgs ? { capArgs } : {}),
    });

  function expectOk(r: ProcessRun, what: string): void {
    expect([what, r.code], r.stdout + r.stderr).toEqual([what, 0]);
  }

  /** The CNI error a failed cnitool call printed. */
  const cniError = (r: ProcessRun) => r.json as { code: number; msg: string; details?: string };

  const ifbs = async (host: Host) => (await host.h.listLinks()).filter((l) => l.type === 'ifb').map((l) => l.name);
  const qdiscKinds = async (host: Host, link: string) => (await host.h.listQdiscs(link)).map((q) => q.kind).sort();

  const berthBridge = (host: Host, bridge: string, subnet: string) => ({
    type: 'berth-bridge',
    bridge,
    isGateway: true,
    stateDir: host.stateDir,
    ipam: { type: 'berth-ipam', dataDir: host.dataDir, ranges: [[{ subnet }]] },
  });
  /** The all-in-one plugin on its own network, limits from the bandwidth capability. */
  const allInOne = (host: Host) => ({
    type: 'berth',
    bridge: AIO_BRIDGE,
    isGateway: true,
    stateDir: host.stateDir,
    capabilities: { bandwidth: true },
    ipam: { type: 'berth-ipam', dataDir: host.dataDir, ranges: [[{ subnet: AIO_SUBNET }]] },
  });
  /** The reference bridge over host-local, as berthBridge is berth's. */
  const referenceBridge = (host: Host, bridge: string, subnet: string) => ({
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: host.dataDir, ranges: [[{ subnet }]] },
  });

  const limits = (rate: number, burst: number) => ({
    ingressRate: rate,
    ingressBurst: burst,
    egressRate: rate,
    egressBurst: burst,
  });

  /**
   * The throughput out of container c (to the host's gateway) and into it (from the host, to its
   * address), each within 10% of `limit`.
   */
  async function shapedBothWays(host: Host, c: TestNs, gateway: string, address: string, limit: number, what: string) {
    const out = await throughput(c.path, host.ns.path, gateway);
    const into = await throughput(host.ns.path, c.path, address);
    expectNear(out, limit, `${what}, egress (container to host)`);
    expectNear(into, limit, `${what}, ingress (host to container)`);
    return { out, in: into };
  }

  it('shapes both directions of berth-bridge + berth-bandwidth, and of berth-bandwidth after the reference bridge, at 20 Mbit/s as the reference chain does; CHECK names a deleted qdisc; DEL without the netns removes the IFB and the qdiscs', async () => {
    const host = await makeHost();
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    const c3 = await netns.create('c3');
    const ws = workspace();
    ws.writeConflist({
      cniVersion: '1.0.0',
      name: NET,
      plugins: [berthBridge(host, BRIDGE, SUBNET), { type: 'berth-bandwidth', ...limits(20 * MBIT, BURST_20) }],
    });
    ws.writeConflist({
      cniVersion: '1.0.0',
      name: REF_NET,
      plugins: [referenceBridge(host, REF_BRIDGE, REF_SUBNET), { type: 'bandwidth', ...limits(20 * MBIT, BURST_20) }],
    });
    // The reference's conflist with berth-bandwidth in the bandwidth plugin's place.
    ws.writeConflist({
      cniVersion: '1.0.0',
      name: SWAP_NET,
      plugins: [
        referenceBridge(host, SWAP_BRIDGE, SWAP_SUBNET),
        { type: 'berth-bandwidth', ...limits(20 * MBIT, BURST_20) },
      ],
    });
    const options = cniOptions(ws, host, 'c1');
    const add = runCnitool('add', NET, c1.path, options);
    expectOk(add, 'ADD');
    const ifb = ifbName(attachmentOwnerId(NET, 'c1', 'eth0'));
    const veth = hostVethName(NET, 'c1', 'eth0');
    const result = add.json as { interfaces: Json[] };
    expect(result.interfaces.at(-1)).toEqual({
      name: ifb,
      mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
    });
    expect((await host.h.getLink(ifb))?.alias).toBe(`berth-bandwidth ${veth} ${NET}/c1/eth0`);
    expect(await qdiscKinds(host, veth)).toEqual(['ingress', 'tbf']);
    expect((await host.h.listQdiscs(ifb)).map((q) => [q.kind, q.tbf?.rate])).toEqual([['tbf', 20 * MBIT]]);

    const berth = await shapedBothWays(host, c1, GW, addressOf(add.json), 20 * MBIT, 'berth-bandwidth');

    const refOptions = cniOptions(ws, host, 'c2');
    const refAdd = runCnitool('add', REF_NET, c2.path, refOptions);
    expectOk(refAdd, 'reference ADD');
    const ref = await shapedBothWays(host, c2, REF_GW, addressOf(refAdd.json), 20 * MBIT, 'reference bandwidth');
    expectOk(runCnitool('del', REF_NET, c2.path, refOptions), 'reference DEL');
    const swapOptions = cniOptions(ws, host, 'c3');
    const swapAdd = runCnitool('add', SWAP_NET, c3.path, swapOptions);
    expectOk(swapAdd, 'ADD of berth-bandwidth after the reference bridge');
    const swap = await shapedBothWays(
      host,
      c3,
      SWAP_GW,
      addressOf(swapAdd.json),
      20 * MBIT,
      'berth-bandwidth after the reference bridge',
    );
    for (const [ours, reference] of [
      [berth.out, ref.out],
      [berth.in, ref.in],
      [swap.out, ref.out],
      [swap.in, ref.in],
    ] as const) {
      expect(Math.abs(ours - reference) / reference).toBeLessThan(0.1);
    }
    expectOk(runCnitool('check', SWAP_NET, c3.path, swapOptions), 'CHECK after the reference bridge');
    expectOk(runCnitool('del', SWAP_NET, c3.path, swapOptions), 'DEL after the reference bridge');
    expect(await ifbs(host)).toEqual([ifbName(attachmentOwnerId(NET, 'c1', 'eth0'))]);

    expectOk(runCnitool('check', NET, c1.path, options), 'CHECK');
    await host.h.deleteQdisc(veth, 'root');
    const check = runCnitool('check', NET, c1.path, options);
    expect(check.code).toBe(1);
    expect(cniError(check).msg).toBe(
      `bandwidth of c1/eth0: the tbf qdisc on ${veth} that limits what goes into the container: there is no qdisc`,
    );

    // DEL as a runtime sends it once the container's netns is gone: no netns, no prevResult.
    const del = runPlugin(
      join(plugins, 'berth-bandwidth'),
      { command: 'DEL', containerId: 'c1', ifname: 'eth0', path: [plugins] },
      { cniVersion: '1.0.0', name: NET, type: 'berth-bandwidth' },
      { hostNetns: host.ns.path },
    );
    expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    expect(await ifbs(host)).toEqual([]);
    expect(await qdiscKinds(host, veth)).toEqual(['noqueue']);
    expectOk(runCnitool('del', NET, c1.path, options), 'DEL through libcni, again for berth-bandwidth');
    expect(await host.h.getLink(veth)).toBeNull();
    expect(await ifbs(host)).toEqual([]);
  });

  it('shapes the all-in-one plugin with the bandwidth capability at 200 Mbit/s, leaves a container without it alone, shows the limits in berth inspect; GC removes the IFB of an attachment no longer listed', async () => {
    const host = await makeHost();
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    const ws = workspace();
    const plugin = allInOne(host);
    ws.writeConflist({ cniVersion: '1.0.0', name: AIO_NET, plugins: [plugin] });
    const bandwidth = limits(200 * MBIT, 2 * MBIT);
    const o1 = cniOptions(ws, host, 'c1', { bandwidth });
    const o2 = cniOptions(ws, host, 'c2');
    const add1 = runCnitool('add', AIO_NET, c1.path, o1);
    expectOk(add1, 'ADD c1');
    const add2 = runCnitool('add', AIO_NET, c2.path, o2);
    expectOk(add2, 'ADD c2');
    const ifb1 = ifbName(attachmentOwnerId(AIO_NET, 'c1', 'eth0'));
    expect(await ifbs(host)).toEqual([ifb1]);
    expect((add1.json as { interfaces: Json[] }).interfaces.map((i) => i.name)).toEqual([
      AIO_BRIDGE,
      hostVethName(AIO_NET, 'c1', 'eth0'),
      'eth0',
      ifb1,
    ]);

    await shapedBothWays(host, c1, AIO_GW, addressOf(add1.json), 200 * MBIT, 'all-in-one');
    const unshaped = await throughput(c2.path, host.ns.path, AIO_GW);
    figures.push(`unshaped neighbour: ${(unshaped / MBIT).toFixed(0)} Mbit/s`);
    expect(unshaped).toBeGreaterThan(4 * 200 * MBIT);

    const inspect = spawnSync(BERTH, ['--state-dir', host.stateDir, '--host-netns', host.ns.path, 'inspect'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(
      /endpoint c1\.eth0 \(eth0, [^)]*ingress 200mbit burst 2mbit, egress 200mbit burst 2mbit\)/,
    );

    expectOk(runCnitool('check', AIO_NET, c1.path, o1), 'CHECK c1');
    expectOk(runCnitool('check', AIO_NET, c2.path, o2), 'CHECK c2');
    const veth1 = hostVethName(AIO_NET, 'c1', 'eth0');
    await host.h.deleteQdisc(veth1, 'ingress');
    const check = runCnitool('check', AIO_NET, c1.path, o1);
    expect(cniError(check).msg).toBe(
      `bandwidth of c1/eth0: the ingress qdisc on ${veth1} that sends what comes out of the container to IFB ${ifb1} is gone`,
    );

    const gc = runPlugin(
      join(plugins, 'berth'),
      { command: 'GC', containerId: '', ifname: '', path: [plugins] },
      {
        cniVersion: '1.1.0',
        name: AIO_NET,
        ...plugin,
        'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }],
      },
      { hostNetns: host.ns.path },
    );
    expect([gc.code, gc.stdout], gc.stderr).toEqual([0, '']);
    expect(gc.stderr).toContain(`gc: removed IFB ${ifb1}`);
    expect(await ifbs(host)).toEqual([]);
    expectOk(runCnitool('del', AIO_NET, c1.path, o1), 'DEL c1');
    expectOk(runCnitool('del', AIO_NET, c2.path, o2), 'DEL c2');
    expect((await host.h.listLinks()).map((l) => l.type).filter((t) => t === 'veth' || t === 'ifb')).toEqual([]);
  });

  it('refuses bad limits with the code and the key, leaving no IFB, qdisc, veth or reservation', async () => {
    const host = await makeHost();
    const c1 = await netns.create('c1');
    const ws = workspace();
    // A burst below one frame: berth-bandwidth refuses it after the bridge made the veth, and touches nothing.
    ws.writeConflist({
      cniVersion: '1.0.0',
      name: NET,
      plugins: [berthBridge(host, BRIDGE, SUBNET), { type: 'berth-bandwidth', egressRate: MBIT, egressBurst: 8000 }],
    });
    const chain = cniOptions(ws, host, 'c1');
    const add = runCnitool('add', NET, c1.path, chain);
    const veth = hostVethName(NET, 'c1', 'eth0');
    expect(cniError(add)).toEqual({
      code: 7,
      msg: `egressBurst 8000 is less than one full frame on ${veth} (MTU 1500 + 14 bytes = 12112 bits): every full-size packet would be dropped`,
      details: 'give at least 12112',
    });
    expect(await ifbs(host)).toEqual([]);
    expect(await qdiscKinds(host, veth)).toEqual(['noqueue']);
    expectOk(runCnitool('del', NET, c1.path, chain), 'DEL of the failed ADD');

    // The all-in-one plugin: refused before anything is made, or undone when the kernel's MTU refuses it.
    ws.writeConflist({ cniVersion: '1.0.0', name: AIO_NET, plugins: [allInOne(host)] });
    const refusals: [Json, number, string][] = [
      [
        { ingressRate: 0, ingressBurst: 100_000 },
        7,
        'runtimeConfig.bandwidth.ingressBurst is set, so runtimeConfig.bandwidth.ingressRate must be too',
      ],
      [{ egressRate: -5, egressBurst: 100_000 }, 7, 'runtimeConfig.bandwidth.egressRate -5 is no rate'],
      [{ egressRate: 10 * MBIT }, 7, 'runtimeConfig.bandwidth.egressRate is set, so'],
      [
        { egressRate: 4e12, egressBurst: 100_000 },
        7,
        'runtimeConfig.bandwidth.egressRate 4000000000000 is more than the kernel can hold',
      ],
      [
        { ingressRate: MBIT, ingressBurst: 4000 },
        7,
        'runtimeConfig.bandwidth.ingressBurst 4000 is less than one full frame',
      ],
      [{ shapedSubnets: ['10.0.0.0/8'], egressRate: MBIT, egressBurst: 100_000 }, 2, 'berth does not support'],
    ];
    for (const [bandwidth, code, msg] of refusals) {
      const r = runCnitool('add', AIO_NET, c1.path, cniOptions(ws, host, 'c1', { bandwidth }));
      expect([cniError(r).code, cniError(r).msg], JSON.stringify(bandwidth)).toEqual([
        code,
        expect.stringContaining(msg),
      ]);
      const left = (await host.h.listLinks()).filter((l) => l.type === 'veth' || l.type === 'ifb').map((l) => l.name);
      expect(left, JSON.stringify(bandwidth)).toEqual([]);
      const folder = join(host.dataDir, AIO_NET);
      const reservations = existsSync(folder) ? readdirSync(folder).filter((f) => /^\d/.test(f)) : [];
      expect(reservations).toEqual([]);
      expect(existsSync(join(host.stateDir, 'endpoints', `${AIO_NET}.c1.eth0.json`))).toBe(false);
    }
  });

  it('limits a sandbox through berth connect and berth run, shows the limits, refuses bad rates as bad usage', async () => {
    const host = await makeHost();
    const berth = (args: readonly string[]) => {
      const r = spawnSync(BERTH, ['--state-dir', host.stateDir, '--host-netns', host.ns.path, ...args], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    };
    const sb = `bt-${process.pid}-bwapp`;
    const created = berth(['network', 'create', 'web', '--subnet', '10.76.0.0/24', '--no-dns']);
    expect(created.code, created.stderr).toBe(0);
    expect(berth(['sandbox', 'create', sb]).code).toBe(0);
    const connect = berth(['connect', 'web', sb, '--ingress-rate', '40mbit', '--egress-rate', '20Mbit']);
    expect(connect.code, connect.stderr).toBe(0);
    const ip = connect.stdout.trim().split(' ')[2]!.split('/')[0]!;
    const sbPath = `/run/netns/${sb}`;
    try {
      expectNear(await throughput(sbPath, host.ns.path, '10.76.0.1'), 20 * MBIT, 'berth connect egress');
      expectNear(await throughput(host.ns.path, sbPath, ip), 40 * MBIT, 'berth connect ingress');
      const inspect = berth(['sandbox', 'inspect', sb]);
      expect(inspect.stdout).toContain(', ingress 40mbit, egress 20mbit');
      const [json] = JSON.parse(berth(['network', 'inspect', 'web', '--json']).stdout) as {
        endpoints: { bandwidth: unknown }[];
      }[];
      expect(json?.endpoints[0]?.bandwidth).toEqual({
        ingress: { rate: 40 * MBIT, burst: null },
        egress: { rate: 20 * MBIT, burst: null },
      });
      expect(await ifbs(host)).toHaveLength(1);
      expect(berth(['disconnect', 'web', sb]).code).toBe(0);
      expect(await ifbs(host)).toEqual([]);
    } finally {
      berth(['sandbox', 'rm', sb]);
    }
    // berth run: iperf3 inside the sandbox, sending to a server on the gateway; the sandbox and its IFB go after it.
    await startIperfServer(host.ns.path, '10.76.0.1', servers);
    const run = berth([
      'run',
      '--network',
      'web',
      '--egress-rate',
      '20mbit',
      '--',
      'iperf3',
      ...iperfClientArgs('10.76.0.1'),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expectNear(receivedBitsPerSecond(run.stdout), 20 * MBIT, 'berth run egress');
    expect(await ifbs(host)).toEqual([]);
    const badRuns: [string[], RegExp][] = [
      [['--network', 'web', '--ingress-rate', '0'], /--ingress-rate 0 is no rate/],
      [['--network', 'web', '--egress-rate', '10mb'], /--egress-rate "10mb" has an unknown unit "mb"/],
      [
        ['--network', 'none', '--egress-rate', '1mbit'],
        /limit a sandbox on a bridge or overlay network, and none is not one/,
      ],
    ];
    for (const [args, pattern] of badRuns) {
      const r = berth(['run', '--name', `${sb}2`, ...args, '--', 'true']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(pattern)]);
      expect(existsSync(`/run/netns/${sb}2`)).toBe(false);
    }
    expect(berth(['network', 'rm', 'web']).code).toBe(0);
  });
});
