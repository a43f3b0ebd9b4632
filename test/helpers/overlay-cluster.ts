/**
 * Three (or n) hosts for overlay tests through the library: a LAN and etcd (./cluster.ts), a
 * Controller per host with its state in a temp folder, one overlay network, and an agent per
 * host, started and synced until every host has programmed all the others.
 *
 *   const c = await startOverlayCluster(netns, { network: { name: 'web', driver: 'overlay', subnet: '10.240.0.0/16' } });
 *   c.hosts[i].ctl, c.lan.hosts[i], c.etcd;
 *   await c.hosts[2].agent.stop(); await c.startAgent(2); await c.meshed(2);
 *   await c.close();   // agents (revoked), name services, controllers, etcd, temp folders; then netns.cleanup()
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../network/controller.js';
import type { OverlayAgent } from '../../network/overlay/agent.js';
import { controllerAgent } from '../../network/overlay/local.js';
import { type Etcd, type Lan, makeLan, meshed, startEtcd } from './cluster.js';
import { stopNameService } from './names.js';
import type { TestNetns } from './netns.js';

export interface OverlayHost {
  readonly ctl: Controller;
  agent: OverlayAgent;
  /** The host's temp folder: state/, and netns/ and etc-netns/ with ownNetnsDirs. */
  readonly dir: string;
  readonly stateDir: string;
}

export interface OverlayClusterOptions {
  readonly network: Parameters<Controller['createNetwork']>[0] & { readonly name: string };
  /** The hosts' LAN, made beforehand (for what must be there before the controllers); default makeLan(netns, hostCount). */
  readonly lan?: Lan;
  readonly hostCount?: number;
  /** The agents' lease, in seconds; the agent's default without it. */
  readonly ttlSeconds?: number;
  /** Each host makes its sandboxes' netns and /etc/netns files in its own folder, not the machine's. */
  readonly ownNetnsDirs?: boolean;
}

export interface OverlayCluster {
  readonly lan: Lan;
  readonly etcd: Etcd;
  readonly hosts: readonly OverlayHost[];
  /** Starts host i's agent (again) and makes it hosts[i].agent. */
  startAgent(i: number): Promise<OverlayAgent>;
  /** Syncs every agent until each has programmed `count` other hosts on the network; the time it took. */
  meshed(count: number, timeoutMs?: number): Promise<number>;
  /** Stops the agents (revoking) and the hosts' name services, closes the controllers, stops etcd, removes the temp folders. */
  close(): Promise<void>;
}

export async function startOverlayCluster(netns: TestNetns, options: OverlayClusterOptions): Promise<OverlayCluster> {
  const { network, ttlSeconds, ownNetnsDirs = false } = options;
  const lan = options.lan ?? (await makeLan(netns, options.hostCount ?? 3));
  const hostCount = lan.hosts.length;
  const etcd = await startEtcd(lan.hosts[0]!);
  const hosts: OverlayHost[] = [];
  const close = async () => {
    for (const h of hosts) {
      await h.agent?.stop({ revoke: true }).catch(() => undefined);
      await stopNameService(h.stateDir);
      await h.ctl.close();
    }
    await etcd.stop();
    for (const h of hosts) {
      // The netns folder is a mount point of its own, as /run/netns is made one.
      if (ownNetnsDirs) spawnSync('umount', ['--lazy', join(h.dir, 'netns')], { stdio: 'ignore' });
      rmSync(h.dir, { recursive: true, force: true });
    }
  };
  const startAgent = async (i: number) => {
    const agent = await controllerAgent(hosts[i]!.ctl, {
      node: lan.hosts[i]!.node,
      address: lan.hosts[i]!.address,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      resyncMs: 60_000,
      log: () => {},
    });
    await agent.start();
    hosts[i]!.agent = agent;
    return agent;
  };
  const meshedHosts = (count: number, timeoutMs?: number) =>
    meshed(
      hosts.map((h) => h.agent),
      count,
      network.name,
      timeoutMs,
    );
  try {
    for (const host of lan.hosts) {
      const dir = mkdtempSync(join(tmpdir(), `berth-overlay-${host.node}-`));
      const stateDir = join(dir, 'state');
      const ctl = await Controller.open({
        stateDir,
        hostNetnsPath: host.ns.path,
        etcd: etcd.socket,
        ...(ownNetnsDirs ? { netnsDir: join(dir, 'netns'), etcNetnsDir: join(dir, 'etc-netns') } : {}),
      });
      hosts.push({ ctl, dir, stateDir, agent: undefined as never });
    }
    await hosts[0]!.ctl.createNetwork(network);
    for (const i of hosts.keys()) await startAgent(i);
    await meshedHosts(hostCount - 1);
  } catch (e) {
    await close();
    throw e;
  }
  return { lan, etcd, hosts, startAgent, meshed: meshedHosts, close };
}
