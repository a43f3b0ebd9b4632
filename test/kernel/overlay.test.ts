import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';
import { canonicalDir, daemonPaths, netnsInode } from '../../daemon/paths.js';
import { overlaps } from '../../network/config.js';
import { checkState } from '../../network/doctor/state-gather.js';
import { vxlanNameOf } from '../../network/overlay/agent.js';
import { checkOverlay } from '../../network/overlay/doctor.js';
import type { Sandbox } from '../../network/sandbox.js';
import { type Etcd, etcdInstalled, type Lan, waitFor } from '../helpers/cluster.js';
import { DIST_CNI, ROOT, runPlugin } from '../helpers/cni.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';
import { type OverlayCluster, type OverlayHost, startOverlayCluster } from '../helpers/overlay-cluster.js';

/**
 * Overlay networks end to end through the library: three hosts (namespaces) on a LAN,
 * etcd on it, a Controller and an agent per host; sandboxes on different hosts reach
 * each other across VXLAN, without masquerade between blocks and without fragmentation.
 */

const TTL = 2;

/** A sandbox as TestNetns.exec takes it (its netns is named in /run/netns). */
const nsOf = (sb: Sandbox) => ({ name: sb.netnsPath.split('/').pop()!, path: sb.netnsPath });

describe.skipIf(notRoot || !etcdInstalled)(kernelSuite('overlay networks across three hosts'), () => {
  const netns = new TestNetns();
  let cluster: OverlayCluster;
  let lan: Lan;
  let etcd: Etcd;
  let hosts: readonly OverlayHost[];
  const sandboxes: Sandbox[] = [];
  const servers: ChildProcess[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'berth-overlay-test-'));

  /** A sandbox of host i on the network, joined; its address without prefix. */
  const sandboxOn = async (i: number, name: string): Promise<{ sb: Sandbox; ip: string }> => {
    const { ctl } = hosts[i]!;
    // bt-<pid>- as TestNetns names them: a killed run's are removed by the next one.
    const sb = await ctl.createSandbox({ name: `bt-${process.pid}-ov-${name}` });
    sandboxes.push(sb);
    const ep = await ctl.network('web').createEndpoint({ name });
    await ep.join(sb);
    return { sb, ip: ep.addresses[0]!.split('/')[0]! };
  };

  beforeAll(async () => {
    TestNetns.removeStale();
    cluster = await startOverlayCluster(netns, {
      network: { name: 'web', driver: 'overlay', subnet: '10.240.0.0/16' },
      ttlSeconds: TTL,
    });
    ({ lan, etcd, hosts } = cluster);
  }, 60_000);

  afterEach(() => {
    for (const s of servers.splice(0)) s.kill('SIGKILL');
  });

  afterAll(async () => {
    for (const s of servers.splice(0)) s.kill('SIGKILL');
    for (const sb of sandboxes.splice(0)) await sb.destroy().catch(() => undefined);
    await cluster?.close();
    netns.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('gives each host a disjoint block, as a network of its own with a bridge and the VXLAN device', async () => {
    const records = hosts.map((h) => h.ctl.network('web').record);
    const blocks = records.map((r) => r.subnets[0]!.subnet);
    expect(new Set(blocks).size).toBe(3);
    for (const [i, r] of records.entries()) {
      expect(r).toMatchObject({
        driver: 'overlay',
        mtu: 1450,
        overlay: { subnet: '10.240.0.0/16', vni: 1, vxlan: vxlanNameOf('web'), host: { node: `node${i + 1}` } },
      });
      expect(r.subnets[0]!.gateway).toBe(blocks[i]!.replace(/0\/24$/, '1'));
      const h = netns.handle(lan.hosts[i]!.ns);
      expect(await h.getLink(r.bridgeName)).toMatchObject({ type: 'bridge', up: true });
      expect(await h.getLink(vxlanNameOf('web'))).toMatchObject({ type: 'vxlan', mtu: 1450, up: true });
    }
  });

  it('carries HTTP from sandboxes on hosts 1 and 3 to one on host 2, source addresses kept', async () => {
    const server = await sandboxOn(1, 'server');
    const clients = [await sandboxOn(0, 'c1'), await sandboxOn(2, 'c3')];
    // An HTTP server that answers each client with the address it sees the client at.
    const script = join(scratch, 'serve.sh');
    writeFileSync(
      script,
      [
        "cr=$(printf '\\r')",
        'while IFS= read -r line; do',
        '  case "$line" in "$cr" | "") break ;; esac',
        'done',
        'printf \'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s\\n\' "$SOCAT_PEERADDR"',
        '',
      ].join('\n'),
    );
    const child = spawnInNetns(
      server.sb.netnsPath,
      'socat',
      ['TCP-LISTEN:8080,reuseaddr,fork', `SYSTEM:sh ${script}`],
      {
        stdio: 'ignore',
      },
    );
    servers.push(child);
    for (const c of clients) {
      let seen = '';
      await waitFor(
        `HTTP from ${c.ip} to ${server.ip}:8080`,
        () => {
          try {
            seen = netns.exec(nsOf(c.sb), ['curl', '-s', '--max-time', '2', `http://${server.ip}:8080/`]).trim();
            return seen !== '';
          } catch {
            return false;
          }
        },
        10_000,
      );
      expect(seen).toBe(c.ip);
    }
  });

  it('crosses with a 1450-byte packet unfragmented, and refuses one byte more', async () => {
    const a = await sandboxOn(0, 'mtu1');
    const b = await sandboxOn(1, 'mtu2');
    const ns = nsOf(a.sb);
    // 1422 bytes of ICMP payload, 8 of ICMP header, 20 of IPv4: 1450, with Don't Fragment.
    netns.exec(ns, ['ping', '-c1', '-W2', '-M', 'do', '-s', '1422', b.ip]);
    expect(() => netns.exec(ns, ['ping', '-c1', '-W2', '-M', 'do', '-s', '1423', b.ip])).toThrow();
  });

  it('attaches a container through the all-in-one CNI plugin with "network": {"driver": "overlay"}, and DEL leaves nothing', async () => {
    const server = await sandboxOn(1, 'cniserver');
    const container = await netns.create('cni');
    const conf = {
      cniVersion: '1.0.0',
      name: 'ovcni',
      type: 'berth',
      network: { driver: 'overlay', name: 'web' },
      stateDir: hosts[0]!.stateDir,
    };
    const call = (command: 'ADD' | 'DEL') =>
      runPlugin('berth', { command, netns: container.path, containerId: 'ctr1' }, conf, {
        hostNetns: lan.hosts[0]!.ns.path,
      });
    const add = call('ADD');
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const block = hosts[0]!.ctl.network('web').record.subnets[0]!;
    const result = add.json as { ips: { address: string; gateway: string }[] };
    expect(result.ips).toEqual([
      expect.objectContaining({ address: expect.stringMatching(/\/24$/), gateway: block.gateway }),
    ]);
    expect(overlaps(result.ips[0]!.address.replace(/\.\d+\//, '.0/'), block.subnet)).toBe(true);
    netns.exec(container, ['ping', '-c1', '-W2', server.ip]);
    // doctor sees the attachment, and its reservation in the overlay network's as its own.
    expect((await checkState(hosts[0]!.ctl)).filter((f) => f.severity !== 'ok')).toEqual([]);
    // A bad config is refused before anything is made.
    const bad = runPlugin(
      'berth',
      { command: 'ADD', netns: container.path, containerId: 'ctr2' },
      { ...conf, bridge: 'x' },
      {
        hostNetns: lan.hosts[0]!.ns.path,
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ code: 7, msg: 'with "network", the config may not give "bridge"' });

    expect(call('DEL').code).toBe(0);
    expect(call('DEL').code).toBe(0);
    expect(hosts[0]!.ctl.endpointRecords().filter((e) => e.cni)).toEqual([]);
    const reservations = await hosts[0]!.ctl.ipam(hosts[0]!.ctl.network('web').record).list();
    expect(reservations.filter((r) => r.containerID.startsWith('ovcni/'))).toEqual([]);
    expect(reservations.length).toBeGreaterThan(0); // the library's endpoints keep theirs
    expect(await netns.handle(container).getLink('eth0')).toBeNull();
  });

  it('takes commands from a host through the LAN: berth network create and berth agent as processes there', async () => {
    const berth = join(ROOT, 'dist', 'bin', 'berth');
    const inHost = (i: number, args: string[]) =>
      spawnSyncInNetns(lan.hosts[i]!.ns.path, berth, ['--state-dir', hosts[i]!.stateDir, '--etcd', etcd.url, ...args], {
        timeout: 20_000,
      });
    const made = inHost(1, [
      'network',
      'create',
      'db',
      '--driver',
      'overlay',
      '--subnet',
      '10.241.0.0/16',
      '--vni',
      '7',
    ]);
    expect(made.stderr).toBe('');
    expect(made.stdout.trim()).toBe('db');
    const again = inHost(1, [
      'network',
      'create',
      'db2',
      '--driver',
      'overlay',
      '--subnet',
      '10.250.0.0/16',
      '--vni',
      '7',
    ]);
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toBe(
      'berth: VNI 7 is in use by overlay network "db" (give another --vni, or leave it out to take the lowest free one (2))',
    );
    const small = inHost(1, ['network', 'create', 'tiny', '--driver', 'overlay', '--subnet', '10.251.0.0/25']);
    expect(small.stderr.trim()).toBe(
      'berth: overlay subnet 10.251.0.0/25 is too small for a block of /24 (give a subnet of /24 or larger (e.g. /16 for 256 hosts), or a smaller block)',
    );
    // Host 3's agent as the CLI runs it, over the LAN, in place of the in-process one.
    await hosts[2]!.agent.stop();
    const child = spawnInNetns(
      lan.hosts[2]!.ns.path,
      berth,
      [
        '--state-dir',
        hosts[2]!.stateDir,
        '--etcd',
        etcd.url,
        'agent',
        '--node',
        'node3',
        '--address',
        lan.hosts[2]!.address,
        '--ttl',
        String(TTL),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    servers.push(child);
    let log = '';
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
    });
    await waitFor('berth agent on host 3 to start', () => /lease \d+: holds .* of db/.test(log), 15_000);
    // The block it had: a restart asks for it again.
    expect(log).toContain(`${hosts[2]!.ctl.network('web').record.subnets[0]!.subnet} of web`);
    expect(hosts[2]!.ctl.network('db').record.overlay).toMatchObject({ vni: 7, host: { node: 'node3' } });
    // The same process serves the CNI plugins' calls of host 3, as berth daemon would: one resident process.
    const socket = daemonPaths(netnsInode(lan.hosts[2]!.ns.path), canonicalDir(DIST_CNI)).socket;
    await waitFor('the agent to serve CNI calls', () => existsSync(socket), 10_000);
    expect(log).toContain(`serving ${socket}`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    await cluster.startAgent(2);
    // db goes from the cluster, and from every host whose agent syncs.
    expect(inHost(1, ['network', 'rm', 'db']).status).toBe(0);
    await waitFor(
      'db gone from every host',
      async () => {
        for (const h of hosts) await h.agent.syncNow();
        return hosts.every((h) => !h.ctl.networks().some((n) => n.name === 'db'));
      },
      10_000,
    );
    expect(await netns.handle(lan.hosts[2]!.ns).getLink(vxlanNameOf('db'))).toBeNull();
  });

  it('drops the routes of a host whose agent stops within TTL + 1 s, doctor says so there, and a restarted agent re-syncs', async () => {
    const a = await sandboxOn(0, 'ttl1');
    const b = await sandboxOn(2, 'ttl3');
    const h1 = netns.handle(lan.hosts[0]!.ns);
    const block3 = hosts[2]!.ctl.network('web').record.subnets[0]!.subnet;
    const routes = async () => (await h1.listRoutes({ family: 4 })).map((r) => r.dst);
    expect(await routes()).toContain(block3);
    const healthy = async (i: number) => (await checkOverlay(hosts[i]!.ctl)).filter((f) => f.severity === 'fail');
    expect(await healthy(2)).toEqual([]);
    await hosts[2]!.agent.stop();
    // Host 1's agent hears of it through its watch alone.
    const took = await waitFor(
      "host 3's block gone from host 1",
      async () => !(await routes()).includes(block3),
      (TTL + 1) * 1000 + 1000,
    );
    expect(took).toBeLessThanOrEqual((TTL + 1) * 1000);
    expect((await healthy(2)).map((f) => f.message)).toEqual([
      `overlay network web: this host's block ${block3} is not held in etcd (no agent running, or its lease ran out): the other hosts do not route to it`,
    ]);
    await cluster.startAgent(2);
    // The same block again: host 3's sandbox kept its address and is reachable again.
    expect(hosts[2]!.agent.status().blocks.web).toBe(block3);
    await cluster.meshed(2);
    expect(await routes()).toContain(block3);
    netns.exec(nsOf(a.sb), ['ping', '-c1', '-W2', b.ip]);
    expect(await healthy(2)).toEqual([]);
    // berth doctor's state checks know an overlay network's bridge and veths.
    for (const h of hosts) expect((await checkState(h.ctl)).filter((f) => f.severity !== 'ok')).toEqual([]);
  });
});
