import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../network/sandbox.js';
import { etcdInstalled, makeLan, waitFor } from '../helpers/cluster.js';
import { getent } from '../helpers/names.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';
import { type OverlayCluster, type OverlayHost, startOverlayCluster } from '../helpers/overlay-cluster.js';
import { killAll } from '../helpers/servers.js';
import { OUTSIDE_ADDRESS, OUTSIDE_NAME, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Forwarding on an overlay network with names: two hosts (namespaces) on a LAN with etcd, a
 * Controller and an agent each. Host 1 has an upstream resolver that this test runs in a netns of
 * its own (never the machine's): its name service forwards a name no host has to it, and answers
 * its own and the imported names itself, asking the upstream nothing about them.
 */

const DOMAIN = 'fwd.berth';

describe.skipIf(notRoot || !etcdInstalled)(kernelSuite('overlay names: forwarding to the upstreams'), () => {
  const netns = new TestNetns();
  let cluster: OverlayCluster;
  let hosts: readonly OverlayHost[];
  let upstream: Upstream;
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

  let c1: Sandbox;
  let c1ip: string;
  let web: string;

  beforeAll(async () => {
    TestNetns.removeStale();
    const lan = await makeLan(netns, 2);
    upstream = await startUpstream(netns, lan.hosts[0]!.ns, children, scratch);
    // The name services inherit this; host 2 has no way to the upstream, and asks it nothing here.
    process.env.BERTH_RESOLV_CONF = upstream.resolvConf;
    cluster = await startOverlayCluster(netns, {
      lan,
      network: { name: 'apps', driver: 'overlay', subnet: '10.242.0.0/16', dns: { domain: DOMAIN } },
      ownNetnsDirs: true,
    });
    hosts = cluster.hosts;
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
    killAll(children);
    for (const sb of sandboxes.splice(0)) await sb.destroy().catch(() => undefined);
    await cluster?.close();
    netns.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    if (savedResolvConf === undefined) delete process.env.BERTH_RESOLV_CONF;
    else process.env.BERTH_RESOLV_CONF = savedResolvConf;
  });

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
