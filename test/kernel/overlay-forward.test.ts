import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../network/controller.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import type { OverlayAgent } from '../../network/overlay/agent.js';
import { controllerAgent } from '../../network/overlay/local.js';
import type { Sandbox } from '../../network/sandbox.js';
import { type Etcd, etcdInstalled, type Lan, makeLan, startEtcd, waitFor } from '../helpers/cluster.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';
import { OUTSIDE_ADDRESS, OUTSIDE_NAME, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Forwarding on an overlay network with names: two hosts (namespaces) on a LAN with etcd, a
 * Controller and an agent each. Host 1 has an upstream resolver that this test runs in a netns of
 * its own (never the machine's): its name service forwards a name no host has to it, and answers
 * its own and the imported names itself, asking the upstream nothing about them.
 */

const DOMAIN = 'fwd.berth';
const RUN_TIMEOUT_MS = 15_000;

interface Host {
  readonly ctl: Controller;
  agent: OverlayAgent;
  readonly dir: string;
  readonly stateDir: string;
}

describe.skipIf(notRoot || !etcdInstalled)(kernelSuite('overlay names: forwarding to the upstreams'), () => {
  const netns = new TestNetns();
  let lan: Lan;
  let etcd: Etcd;
  let upstream: Upstream;
  const hosts: Host[] = [];
  const sandboxes: Sandbox[] = [];
  const children: ChildProcess[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'berth-overlay-forward-'));
  const savedResolvConf = process.env.BERTH_RESOLV_CONF;

  /** A sandbox of host i, joined to the network; its address. */
  const sandboxOn = async (i: number, name: string) => {
    const sb = await hosts[i]!.ctl.createSandbox({ name });
    sandboxes.push(sb);
    const ep = await hosts[i]!.ctl.network('apps').createEndpoint({ name });
    await ep.join(sb, { ifname: 'eth0' });
    return { sb, ip: ep.addresses[0]!.split('/')[0]! };
  };

  /** The addresses `getent hosts NAME` gives in the sandbox (its resolv.conf over /etc), or null for none. */
  const getent = (sb: Sandbox, name: string): Promise<string[] | null> =>
    new Promise((resolve, reject) => {
      const child = sb.spawn('getent', ['hosts', name], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
      child.on('close', (status) => {
        clearTimeout(timer);
        if (status === 2) resolve(null);
        else if (status === 0) resolve(out.split('\n').flatMap((l) => (l ? [l.split(/\s+/)[0]!] : [])));
        else reject(new Error(`getent hosts ${name} ended with ${status}`));
      });
    });

  let c1: Sandbox;
  let c1ip: string;
  let web: string;

  beforeAll(async () => {
    TestNetns.removeStale();
    lan = await makeLan(netns, 2);
    upstream = await startUpstream(netns, lan.hosts[0]!.ns, children, scratch);
    // The name services inherit this; host 2 has no way to the upstream, and asks it nothing here.
    process.env.BERTH_RESOLV_CONF = upstream.resolvConf;
    etcd = await startEtcd(lan.hosts[0]!);
    for (const host of lan.hosts) {
      const dir = mkdtempSync(join(tmpdir(), `berth-ovfwd-${host.node}-`));
      const ctl = await Controller.open({
        stateDir: join(dir, 'state'),
        hostNetnsPath: host.ns.path,
        etcd: etcd.socket,
        netnsDir: join(dir, 'netns'),
        etcNetnsDir: join(dir, 'etc-netns'),
      });
      hosts.push({ ctl, dir, stateDir: join(dir, 'state'), agent: undefined as never });
    }
    await hosts[0]!.ctl.createNetwork({
      name: 'apps',
      driver: 'overlay',
      subnet: '10.242.0.0/16',
      dns: { domain: DOMAIN },
    });
    for (const [i, h] of hosts.entries()) {
      h.agent = await controllerAgent(h.ctl, {
        node: lan.hosts[i]!.node,
        address: lan.hosts[i]!.address,
        resyncMs: 60_000,
        log: () => {},
      });
      await h.agent.start();
    }
    await waitFor(
      'each host programmed for the other',
      async () => {
        for (const h of hosts) await h.agent.syncNow();
        return hosts.every((h) => (h.agent.status().remotes.apps ?? []).length === 1);
      },
      10_000,
    );
    web = (await sandboxOn(1, 'web')).ip;
    ({ sb: c1, ip: c1ip } = await sandboxOn(0, 'c1'));
    await waitFor(
      "host 2's web imported on host 1",
      async () => {
        for (const h of hosts) await h.agent.syncNow();
        return JSON.stringify(await getent(c1, 'web')) === JSON.stringify([web]);
      },
      10_000,
    );
  }, 60_000);

  afterAll(async () => {
    for (const c of children.splice(0))
      if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    for (const sb of sandboxes.splice(0)) await sb.destroy().catch(() => undefined);
    for (const h of hosts) {
      await h.agent?.stop({ revoke: true }).catch(() => undefined);
      await stopService(h.stateDir);
      await h.ctl.close();
    }
    await etcd?.stop();
    netns.cleanup();
    for (const h of hosts) {
      // The netns folder is a mount point of its own, as /run/netns is made one.
      spawnSync('umount', ['--lazy', join(h.dir, 'netns')], { stdio: 'ignore' });
      rmSync(h.dir, { recursive: true, force: true });
    }
    rmSync(scratch, { recursive: true, force: true });
    if (savedResolvConf === undefined) delete process.env.BERTH_RESOLV_CONF;
    else process.env.BERTH_RESOLV_CONF = savedResolvConf;
  });

  /** Stops a state dir's name service by its PID, and waits until it is gone. */
  async function stopService(stateDir: string): Promise<void> {
    const pid = runningService(serviceFiles(stateDir));
    if (pid === undefined) return;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (runningService(serviceFiles(stateDir)) !== undefined) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("forwards a name no host has to the host's upstream, and gives its answer", async () => {
    expect(await getent(c1, OUTSIDE_NAME)).toEqual([OUTSIDE_ADDRESS]);
    expect(upstream.log()).toMatch(/^udp outside\.test$/m);
    expect(await getent(c1, 'nothing.test')).toBeNull();
    expect(upstream.log()).toMatch(/^udp nothing\.test$/m);
  });

  it('answers its own and the imported names itself: the upstream is asked nothing about them', async () => {
    // Before web was imported, host 1's service forwarded it as any name it did not know.
    const asked = upstream.log().length;
    expect(await getent(c1, 'c1')).toEqual([c1ip]);
    expect(await getent(c1, `web.${DOMAIN}`)).toEqual([web]);
    expect(await getent(c1, 'web')).toEqual([web]);
    expect(upstream.log().slice(asked)).toBe('');
  });
});
