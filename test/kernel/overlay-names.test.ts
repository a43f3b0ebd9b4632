import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState } from '../../network/doctor/state-gather.js';
import type { Endpoint } from '../../network/endpoint.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import type { Sandbox } from '../../network/sandbox.js';
import type { NetworkView } from '../../network/views.js';
import { etcdInstalled, type Lan, waitFor } from '../helpers/cluster.js';
import { DIST_BERTH, runPlugin } from '../helpers/cni.js';
import { getent } from '../helpers/names.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';
import { type OverlayCluster, type OverlayHost, startOverlayCluster } from '../helpers/overlay-cluster.js';
import { killAll } from '../helpers/servers.js';

/**
 * Names across hosts: three hosts (namespaces) on a LAN with etcd, a Controller and an agent
 * each, one overlay network with names. A sandbox named web on host 2 is found by name and alias
 * from sandboxes on hosts 1 and 3, through each host's own name service (on its block's gateway),
 * with getent run as berth runs a process in the sandbox (its resolv.conf over /etc). The name
 * services forward nothing: the hosts' resolv.conf this test gives them names no resolver.
 */

const TTL = 2;
const DOMAIN = 'ovl.berth';

describe.skipIf(notRoot || !etcdInstalled)(kernelSuite('overlay names across three hosts'), () => {
  const netns = new TestNetns();
  let cluster: OverlayCluster;
  let lan: Lan;
  let hosts: readonly OverlayHost[];
  const sandboxes: Sandbox[] = [];
  const children: ChildProcess[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'berth-overlay-names-'));
  const savedResolvConf = process.env.BERTH_RESOLV_CONF;

  /** A sandbox of host i, joined to the network; its endpoint and address. */
  const sandboxOn = async (i: number, name: string, aliases: string[] = []) => {
    const sb = await hosts[i]!.ctl.createSandbox({ name });
    sandboxes.push(sb);
    const ep = await hosts[i]!.ctl.network('apps').createEndpoint({ name, aliases });
    await ep.join(sb, { ifname: 'eth0' });
    return { sb, ep, ip: ep.addresses[0]!.split('/')[0]! };
  };

  /** Waits until getent in `sb` gives `want` for `name` (null: nothing); the time it took. */
  const resolves = (sb: Sandbox, name: string, want: string[] | null, timeoutMs: number) =>
    waitFor(
      `${name} to resolve to ${JSON.stringify(want)}`,
      async () => {
        const got = await getent(sb, name);
        return JSON.stringify(got) === JSON.stringify(want);
      },
      timeoutMs,
    );

  let web: { sb: Sandbox; ep: Endpoint; ip: string };
  let c1: Sandbox;
  let c3: Sandbox;

  beforeAll(async () => {
    TestNetns.removeStale();
    const resolvConf = join(scratch, 'host-resolv.conf');
    writeFileSync(resolvConf, '# no upstream: the name services forward nothing\n');
    // The name services inherit this.
    process.env.BERTH_RESOLV_CONF = resolvConf;
    cluster = await startOverlayCluster(netns, {
      network: { name: 'apps', driver: 'overlay', subnet: '10.241.0.0/16', dns: { domain: DOMAIN } },
      ttlSeconds: TTL,
      // Sandboxes of the same name on two hosts, none on the machine's.
      ownNetnsDirs: true,
    });
    ({ lan, hosts } = cluster);
    web = await sandboxOn(1, 'web', ['www']);
    c1 = (await sandboxOn(0, 'c1')).sb;
    c3 = (await sandboxOn(2, 'c3')).sb;
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

  it("writes each sandbox a resolv.conf naming its own host's service, on the gateway of that host's block", () => {
    for (const [i, sb] of [
      [0, c1],
      [2, c3],
    ] as const) {
      const gateway = hosts[i]!.ctl.network('apps').record.subnets[0]!.gateway;
      const resolv = readFileSync(join(hosts[i]!.dir, 'etc-netns', sb.name, 'resolv.conf'), 'utf8');
      expect(resolv).toContain(`nameserver ${gateway}\n`);
      expect(resolv).toContain(`search ${DOMAIN}`);
      expect(runningService(serviceFiles(hosts[i]!.stateDir))).toBeDefined();
    }
  });

  it("resolves host 2's sandbox by name and alias from hosts 1 and 3, and its address back to its name", async () => {
    for (const sb of [c1, c3]) {
      await resolves(sb, 'web', [web.ip], 5000);
      expect(await getent(sb, 'www')).toEqual([web.ip]);
      expect(await getent(sb, `web.${DOMAIN}`)).toEqual([web.ip]);
    }
    const back = await new Promise<string>((resolve) => {
      const child = c1.spawn('getent', ['hosts', web.ip], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c));
      child.on('close', () => resolve(out));
    });
    expect(back.trim().split(/\s+/)).toEqual([web.ip, `web.${DOMAIN}`]);
  });

  it("keeps the imported names apart: host 1's doctor finds no stale names, and its own records hold only its sandbox", async () => {
    const names = hosts[0]!.ctl.names;
    expect(names.records('apps').map((r) => r.names)).toEqual([['c1']]);
    expect(
      names
        .imported('apps')
        .map((r) => r.names)
        .sort(),
    ).toEqual([['c3'], ['web', 'www']]);
    const findings = await checkState(hosts[0]!.ctl);
    const bad = findings.filter((f) => f.severity !== 'ok');
    expect(bad.map((f) => f.message)).toEqual([]);
  });

  it('berth network inspect on host 1 shows its own names, then the imported ones with the node each came from', () => {
    const inspect = (json: boolean) => {
      const global = ['--state-dir', hosts[0]!.stateDir, '--host-netns', lan.hosts[0]!.ns.path];
      const r = spawnSync(DIST_BERTH, [...global, 'network', 'inspect', 'apps', ...(json ? ['--json'] : [])], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const [view] = JSON.parse(inspect(true)) as NetworkView[];
    const c1ip = hosts[0]!.ctl.network('apps').endpoint('c1').addresses[0]!.split('/')[0]!;
    expect(view!.dns?.records[0]).toEqual({ names: ['c1'], addresses: [c1ip], imported: false, node: null });
    expect(view!.dns?.records.slice(1).sort((a, b) => a.names[0]!.localeCompare(b.names[0]!))).toEqual([
      { names: ['c3'], addresses: [expect.any(String)], imported: true, node: lan.hosts[2]!.node },
      { names: ['web', 'www'], addresses: [web.ip], imported: true, node: lan.hosts[1]!.node },
    ]);
    const text = inspect(false);
    expect(text).toContain(`name:       c1: ${c1ip}\n`);
    expect(text).toContain(`name:       web www: ${web.ip} (from node ${lan.hosts[1]!.node})\n`);
  });

  it('forgets a sandbox that left host 2 on the other hosts within a bounded wait', async () => {
    const joinedAgain = await sandboxOn(1, 'gone', ['leaving']);
    await resolves(c1, `leaving.${DOMAIN}`, [joinedAgain.ip], 5000);
    await joinedAgain.ep.delete();
    const took = await resolves(c1, `leaving.${DOMAIN}`, null, 5000);
    expect(took).toBeLessThan(3000);
    expect(await resolves(c3, `gone.${DOMAIN}`, null, 5000)).toBeLessThan(3000);
  });

  it('serves the names of a container the all-in-one CNI plugin attached with "dns" on host 3 to host 1, until its DEL', async () => {
    const container = await netns.create('cni');
    const conf = {
      cniVersion: '1.0.0',
      name: 'ovcni',
      type: 'berth',
      network: { driver: 'overlay', name: 'apps' },
      dns: true,
      stateDir: hosts[2]!.stateDir,
      runtimeConfig: { aliases: { ovcni: ['podalias'] } },
    };
    const call = (command: 'ADD' | 'DEL') =>
      runPlugin(
        'berth',
        { command, netns: container.path, containerId: 'ctr1', args: { K8S_POD_NAME: 'pod1' } },
        conf,
        { hostNetns: lan.hosts[2]!.ns.path },
      );
    const add = call('ADD');
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const result = add.json as { ips: { address: string }[]; dns: { nameservers: string[]; search: string[] } };
    const ip = result.ips[0]!.address.split('/')[0]!;
    expect(result.dns.nameservers).toEqual([hosts[2]!.ctl.network('apps').record.subnets[0]!.gateway]);
    expect(result.dns.search).toEqual([DOMAIN]);
    await resolves(c1, 'pod1', [ip], 5000);
    expect(await getent(c1, 'podalias')).toEqual([ip]);
    expect(await getent(c3, 'pod1')).toEqual([ip]);
    // doctor on host 3 takes the attachment's names as its endpoint's.
    expect((await checkState(hosts[2]!.ctl)).filter((f) => f.severity !== 'ok')).toEqual([]);

    expect(call('DEL').code).toBe(0);
    expect(await resolves(c1, `pod1.${DOMAIN}`, null, 5000)).toBeLessThan(3000);
    expect(hosts[2]!.ctl.names.records('apps').map((r) => r.names)).toEqual([['c3']]);
  });

  it("loses host 2's names on the others within TTL + 1 s when its agent stops; a restarted agent publishes them again", async () => {
    await resolves(c1, `web.${DOMAIN}`, [web.ip], 5000);
    await hosts[1]!.agent.stop();
    const stopped = Date.now();
    await waitFor(
      "host 2's names gone from hosts 1 and 3",
      async () => (await getent(c1, `web.${DOMAIN}`)) === null && (await getent(c3, `www.${DOMAIN}`)) === null,
      (TTL + 3) * 1000,
    );
    expect(Date.now() - stopped).toBeLessThan((TTL + 1) * 1000);

    await cluster.startAgent(1);
    await resolves(c1, 'web', [web.ip], 5000);
    await resolves(c3, 'www', [web.ip], 5000);
  });

  it('a restarted agent re-imports what changed while it was stopped', async () => {
    await hosts[0]!.agent.stop();
    const later = await sandboxOn(1, 'later', ['late']);
    await resolves(c3, `late.${DOMAIN}`, [later.ip], 5000);
    expect(await getent(c1, `late.${DOMAIN}`)).toBeNull();
    await cluster.startAgent(0);
    await resolves(c1, `late.${DOMAIN}`, [later.ip], 5000);
    expect(await getent(c1, 'www')).toEqual([web.ip]);
  });
});
