import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Controller } from '../network/controller.js';
import type { Sandbox } from '../network/sandbox.js';
import { cnitool } from '../test/helpers/cni.js';
import { stopDaemons, waitForDaemon } from '../test/helpers/daemon.js';
import { TestNetns, type TestNs } from '../test/helpers/netns.js';
import { type OverlayCluster, startOverlayCluster } from '../test/helpers/overlay-cluster.js';
import { CALL_TIMEOUT_MS, snapshotBuild } from './cni-host.js';
import { type Measurement, sampled } from './measure.js';
import { measure, startServer, stop } from './throughput.js';

const SERVER_PORT = 5201;

/**
 * An overlay network against a bridge network: two hosts (namespaces on a LAN, etcd started
 * in one, an agent each in this process), iperf3 from a sandbox on host 1 to one on host 2
 * across VXLAN and, for scale, between two sandboxes on a bridge network of host 1; then an
 * endpoint's join + leave, `count` times, on the overlay network and on the bridge network.
 * Everything is made in throwaway namespaces and removed at the end.
 */
export async function benchOverlay(seconds = 3, count = 50): Promise<Measurement[]> {
  const netns = new TestNetns();
  const sandboxes: Sandbox[] = [];
  const servers: ChildProcess[] = [];
  let cluster: OverlayCluster | undefined;
  try {
    cluster = await startOverlayCluster(netns, {
      network: { name: 'ov', driver: 'overlay', subnet: '10.240.0.0/16' },
      hostCount: 2,
    });
    const [c1, c2] = cluster.hosts.map((h) => h.ctl) as [Controller, Controller];
    await c1.createNetwork({ name: 'br', subnet: '10.96.0.0/24' });
    const sandboxOn = async (ctl: Controller, network: string, name: string) => {
      const sb = await ctl.createSandbox({ name: `bt-${process.pid}-bo-${name}` });
      sandboxes.push(sb);
      const ep = await ctl.network(network).createEndpoint({ name });
      await ep.join(sb);
      return { sb, ep, ip: ep.addresses[0]!.split('/')[0]! };
    };
    const ovClient = await sandboxOn(c1, 'ov', 'ovc');
    const ovServer = await sandboxOn(c2, 'ov', 'ovs');
    const brClient = await sandboxOn(c1, 'br', 'brc');
    const brServer = await sandboxOn(c1, 'br', 'brs');
    servers.push(await startServer(ovServer.sb.netnsPath, ovServer.ip, SERVER_PORT));
    servers.push(await startServer(brServer.sb.netnsPath, brServer.ip, SERVER_PORT));
    const out = [
      measure(
        `sandbox host 1 -> sandbox host 2, overlay (VXLAN)`,
        ovClient.sb.netnsPath,
        ovServer.ip,
        SERVER_PORT,
        seconds,
      ),
      measure(`sandbox -> sandbox, one host, bridge network`, brClient.sb.netnsPath, brServer.ip, SERVER_PORT, seconds),
    ];
    for (const network of ['ov', 'br']) {
      const sb = await c1.createSandbox({ name: `bt-${process.pid}-bo-j${network}` });
      sandboxes.push(sb);
      const ep = await c1.network(network).createEndpoint({ name: `j${network}` });
      await ep.join(sb);
      await ep.leave();
      out.push(
        await sampled(
          `endpoint join + leave, ${network === 'ov' ? 'overlay' : 'bridge'} network (${count} rounds)`,
          count,
          async () => {
            await ep.join(sb);
            await ep.leave();
          },
        ),
      );
    }
    return out;
  } finally {
    for (const s of servers) await stop(s);
    for (const sb of sandboxes) await sb.destroy().catch(() => undefined);
    await cluster?.close();
    netns.cleanup();
  }
}

/**
 * ADD latency of the all-in-one CNI plugin on an overlay network against a bridge network: one
 * host of two on a LAN (etcd and an agent each, as above), the plugin from a snapshot of dist/cni
 * run through cnitool in that host's netns as bench/cni.ts runs it, with its daemon warm. The
 * overlay conflist is `"network": {"driver": "overlay", "name": "ov"}`; the bridge one has the
 * bridge keys of bench/cni.ts. ADDs alternate between the two, container by container, so both
 * see the same machine; each network holds at most `count` containers. DELs are untimed.
 */
export async function benchOverlayAdd(count = 30): Promise<Measurement[]> {
  const netns = new TestNetns();
  const root = mkdtempSync(join(tmpdir(), 'berth-bench-ovadd-'));
  let cluster: OverlayCluster | undefined;
  let hostNs: TestNs | undefined;
  const added: (() => void)[] = [];
  try {
    const cniPath = snapshotBuild(root);
    cluster = await startOverlayCluster(netns, {
      network: { name: 'ov', driver: 'overlay', subnet: '10.240.0.0/16', dns: false },
      hostCount: 2,
    });
    hostNs = cluster.lan.hosts[0]!.ns;
    const { stateDir } = cluster.hosts[0]!;
    const networks = {
      overlay: {
        conf: { type: 'berth', network: { driver: 'overlay', name: 'ov' }, loopback: true, stateDir },
        address: /"address":\s*"10\.240\./,
      },
      bridge: {
        conf: {
          type: 'berth',
          bridge: 'bbr0',
          isGateway: true,
          ipMasq: true,
          loopback: true,
          stateDir,
          ipam: {
            type: 'berth-ipam',
            dataDir: join(root, 'ipam'),
            ranges: [[{ subnet: '10.99.0.0/16' }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        address: /"address":\s*"10\.99\./,
      },
    } as const;
    const call = (kind: keyof typeof networks, verb: 'add' | 'del', id: string, container: string): number => {
      const dir = join(root, kind);
      mkdirSync(join(dir, 'netd'), { recursive: true });
      writeFileSync(
        join(dir, 'netd', 'bench.conflist'),
        JSON.stringify({ cniVersion: '1.0.0', name: `bench-${kind}`, plugins: [networks[kind].conf] }),
      );
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_PATH: cniPath,
        NETCONFPATH: join(dir, 'netd'),
        CNI_CACHE_DIR: join(dir, 'cache'),
        CNI_CONTAINERID: id,
        BERTH_DAEMON_IDLE_MS: String(10 * 60_000),
      };
      const begin = process.hrtime.bigint();
      const r = spawnSync('ip', ['netns', 'exec', hostNs!.name, cnitool(), verb, `bench-${kind}`, container], {
        env,
        encoding: 'utf8',
        timeout: CALL_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      });
      const ms = Number(process.hrtime.bigint() - begin) / 1e6;
      const ok = r.status === 0 && (verb === 'del' ? r.stdout === '' : networks[kind].address.test(r.stdout));
      if (!ok)
        throw new Error(`cnitool ${verb} on the ${kind} network failed (exit ${r.status}): ${r.stdout} ${r.stderr}`);
      return ms;
    };
    // Warm: the first call runs in-process and starts the daemon; the next ones reach it.
    for (const kind of ['overlay', 'bridge'] as const) {
      for (let round = 0; round < 2; round++) {
        const c = await netns.create(`ow${kind[0]}${round}`);
        call(kind, 'add', `warm-${kind}-${round}`, c.path);
        call(kind, 'del', `warm-${kind}-${round}`, c.path);
        if (round === 0) await waitForDaemon(hostNs.path, cniPath);
      }
    }
    const samples: Record<keyof typeof networks, number[]> = { overlay: [], bridge: [] };
    for (let i = 1; i <= count; i++) {
      for (const kind of ['overlay', 'bridge'] as const) {
        const c = await netns.create(`o${kind[0]}${i}`);
        const id = `c-${kind}-${i}`;
        samples[kind].push(call(kind, 'add', id, c.path));
        added.push(() => void call(kind, 'del', id, c.path));
      }
    }
    return (['overlay', 'bridge'] as const).map((kind) => ({
      what: `CNI ADD, all-in-one plugin, ${kind} network (${count} containers)`,
      ops: count,
      seconds: samples[kind].reduce((a, b) => a + b, 0) / 1000,
      samples: samples[kind],
    }));
  } finally {
    for (const del of added.splice(0)) {
      try {
        del();
      } catch (e) {
        console.error(`overlay-add: ${(e as Error).message}`);
      }
    }
    if (hostNs) stopDaemons({ netns: hostNs.path });
    await cluster?.close();
    netns.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}
