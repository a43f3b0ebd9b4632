import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../network/controller.js';
import type { OverlayAgent } from '../network/overlay/agent.js';
import { controllerAgent } from '../network/overlay/local.js';
import type { Sandbox } from '../network/sandbox.js';
import { makeLan, startEtcd } from '../test/helpers/cluster.js';
import { TestNetns } from '../test/helpers/netns.js';
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
  const dirs: string[] = [];
  const agents: OverlayAgent[] = [];
  const controllers: Controller[] = [];
  const sandboxes: Sandbox[] = [];
  const servers: ChildProcess[] = [];
  let etcd: Awaited<ReturnType<typeof startEtcd>> | undefined;
  try {
    const lan = await makeLan(netns, 2);
    etcd = await startEtcd(lan.hosts[0]!);
    for (const host of lan.hosts) {
      const stateDir = mkdtempSync(join(tmpdir(), 'berth-bench-ov-'));
      dirs.push(stateDir);
      const ctl = await Controller.open({ stateDir, hostNetnsPath: host.ns.path, etcd: etcd.socket });
      controllers.push(ctl);
    }
    const [c1, c2] = controllers as [Controller, Controller];
    await c1.createNetwork({ name: 'ov', driver: 'overlay', subnet: '10.240.0.0/16' });
    for (const [i, ctl] of controllers.entries()) {
      const agent = await controllerAgent(ctl, {
        node: lan.hosts[i]!.node,
        address: lan.hosts[i]!.address,
        log: () => {},
      });
      await agent.start();
      agents.push(agent);
    }
    for (const a of agents) await a.syncNow();
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
    for (const a of agents) await a.stop({ revoke: true }).catch(() => undefined);
    for (const ctl of controllers) await ctl.close();
    await etcd?.stop();
    netns.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
