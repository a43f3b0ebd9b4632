import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../base/errors.js';
import type { NetlinkHandle } from '../../netlink/handle.js';
import { type HostOverlay, type LocalSide, OverlayAgent, vxlanNameOf } from '../../network/overlay/agent.js';
import { vtepAddressOf } from '../../network/overlay/blocks.js';
import { Cluster } from '../../network/overlay/etcd.js';
import {
  type Etcd,
  etcdInstalled,
  type Lan,
  type LanHost,
  makeLan,
  meshed,
  startEtcd,
  waitFor,
} from '../helpers/cluster.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';

/**
 * The overlay agent against a real etcd: three host namespaces on one LAN, an
 * agent each (in this process, each programming its own host netns), VXLAN
 * devices and the entries for the other hosts; hosts leaving by revoking and by
 * letting the lease run out; a restart that re-syncs; etcd going away.
 */

const TTL = 2;

/** The host's side as a record of what the agent handed it (the Controller's side is tested with containers). */
class RecordedSide implements LocalSide {
  readonly views = new Map<string, HostOverlay>();
  adopted() {
    return [...this.views.values()].map((v) => ({ name: v.network.name, block: v.block }));
  }
  async adopt(view: HostOverlay) {
    this.views.set(view.network.name, view);
  }
  async drop(name: string) {
    this.views.delete(name);
  }
}

interface Running {
  readonly host: LanHost;
  readonly h: NetlinkHandle;
  readonly side: RecordedSide;
  agent: OverlayAgent;
  readonly logs: string[];
}

/** What a host's VXLAN device of `network` holds for others: route dsts, neighbour IPs, FDB dsts. */
async function entries(h: NetlinkHandle, network: string) {
  const dev = await h.getLink(vxlanNameOf(network));
  if (!dev) return undefined;
  const routes = (await h.listRoutes({ family: 4 })).filter((r) => r.dev === dev.index && r.gateway).map((r) => r.dst);
  const neighbours = (await h.listNeighbours(dev.index, 4))
    .filter((n) => n.state.includes('permanent'))
    .map((n) => n.ip);
  const fdb = (await h.listFdbEntries(dev.index)).flatMap((e) => (e.dst ? [e.dst] : []));
  return { routes: routes.sort(), neighbours: neighbours.sort(), fdb: fdb.sort(), mtu: dev.mtu };
}

describe.skipIf(notRoot || !etcdInstalled)(kernelSuite('overlay agent with etcd across three hosts'), () => {
  const netns = new TestNetns();
  let lan: Lan;
  let etcd: Etcd;
  let cluster: Cluster;
  const running: Running[] = [];

  const start = async (i: number, side = new RecordedSide()): Promise<Running> => {
    const host = lan.hosts[i]!;
    const logs: string[] = [];
    const agent = new OverlayAgent({
      cluster,
      node: host.node,
      address: host.address,
      hostNetnsPath: host.ns.path,
      local: side,
      ttlSeconds: TTL,
      resyncMs: 60_000,
      log: (line) => logs.push(line),
    });
    await agent.start();
    const r = { host, h: netns.handle(host.ns), side, agent, logs };
    running[i] = r;
    return r;
  };

  beforeAll(async () => {
    TestNetns.removeStale();
    lan = await makeLan(netns, 3);
    etcd = await startEtcd(lan.hosts[0]!);
    cluster = await Cluster.connect({ url: etcd.socket });
  }, 60_000);
  afterEach(async () => {
    for (const r of running.splice(0)) await r?.agent.stop({ revoke: true }).catch(() => undefined);
  });
  afterAll(async () => {
    cluster?.close();
    await etcd?.stop();
    netns.cleanup();
  });

  it('programs every host for the others, keeps blocks disjoint, and carries packets between VTEPs', async () => {
    const net = await cluster.createNetwork({ name: 'web', subnet: '10.240.0.0/16' });
    expect(net).toMatchObject({ vni: 1, blockPrefix: 24, mtu: 0 });
    const hosts = [await start(0), await start(1), await start(2)];
    await meshed(
      hosts.map((r) => r.agent),
      2,
    );
    const blocks = hosts.map((r) => r.agent.status().blocks.web!);
    expect(new Set(blocks).size).toBe(3);
    const snapshot = await cluster.snapshot();
    expect(snapshot.blocks.map((b) => b.block).sort()).toEqual([...blocks].sort());
    for (const [i, r] of hosts.entries()) {
      const others = blocks.filter((_, j) => j !== i);
      const othersAt = lan.hosts.filter((_, j) => j !== i).map((h) => h.address);
      expect(await entries(r.h, 'web')).toEqual({
        routes: [...others].sort(),
        neighbours: others.map(vtepAddressOf).sort(),
        fdb: [...othersAt].sort(),
        mtu: 1450, // eth0's 1500 less 50
      });
      expect(r.side.views.get('web')).toMatchObject({ block: blocks[i], vxlanMtu: 1450, vxlan: vxlanNameOf('web') });
    }
    // Host 1's VTEP reaches host 2's and host 3's across the LAN, VXLAN-encapsulated.
    for (const j of [1, 2]) {
      netns.exec(lan.hosts[0]!.ns, ['ping', '-c1', '-W2', '-I', vtepAddressOf(blocks[0]!), vtepAddressOf(blocks[j]!)]);
    }
    // A second sync changes nothing (idempotent): same entries, no log line.
    const before = await entries(hosts[0]!.h, 'web');
    await hosts[0]!.agent.syncNow();
    expect(await entries(hosts[0]!.h, 'web')).toEqual(before);
  });

  it('removes a host that leaves, at once when it revokes and within TTL + 1 s when its lease runs out', async () => {
    const hosts = [await start(0), await start(1), await start(2)];
    await meshed(
      hosts.map((r) => r.agent),
      2,
    );
    const block3 = hosts[2]!.agent.status().blocks.web!;

    // Host 3 stops without revoking (a crash): the others drop it when etcd expires the lease.
    await hosts[2]!.agent.stop();
    running.pop();
    const gone = await waitFor(
      "host 3's entries gone from hosts 1 and 2",
      async () =>
        (await entries(hosts[0]!.h, 'web'))!.routes.length === 1 &&
        (await entries(hosts[1]!.h, 'web'))!.routes.length === 1,
      (TTL + 1) * 1000 + 500,
    );
    expect(gone).toBeLessThanOrEqual((TTL + 1) * 1000);
    expect((await entries(hosts[0]!.h, 'web'))!.routes).not.toContain(block3);
    expect((await cluster.snapshot()).blocks.map((b) => b.block)).not.toContain(block3);

    // Host 2 leaves and revokes: host 1 holds nothing for anyone, and at once.
    await hosts[1]!.agent.stop({ revoke: true });
    running.pop();
    await waitFor(
      'host 2 gone from host 1',
      async () => (await entries(hosts[0]!.h, 'web'))!.routes.length === 0,
      2_000,
    );
    expect(await entries(hosts[0]!.h, 'web')).toMatchObject({ routes: [], neighbours: [], fdb: [] });
  });

  it('takes its own block again after a restart and re-syncs what was lost meanwhile', async () => {
    const [a, b] = [await start(0), await start(1)];
    await meshed([a.agent, b.agent], 1);
    const blockB = b.agent.status().blocks.web!;
    // b stops (no revoke), its kernel state is flushed meanwhile, and it comes back with its side's records.
    await b.agent.stop();
    await b.h.deleteLink(vxlanNameOf('web'));
    b.agent = (await start(1, b.side)).agent;
    expect(b.agent.status().blocks.web).toBe(blockB);
    expect((await entries(b.h, 'web'))!.routes).toEqual([a.agent.status().blocks.web]);
    // A lost entry on a is put back by the next sync, whatever triggers it.
    const dev = (await a.h.getLink(vxlanNameOf('web')))!;
    await a.h.deleteNeighbour(dev.index, vtepAddressOf(blockB));
    await a.agent.syncNow();
    expect((await entries(a.h, 'web'))!.neighbours).toEqual([vtepAddressOf(blockB)]);
  });

  it('refuses an underlay address that is not on the host, and a VNI another device has there', async () => {
    const side = new RecordedSide();
    const agent = new OverlayAgent({
      cluster,
      node: 'stray',
      address: '192.168.77.99',
      hostNetnsPath: lan.hosts[0]!.ns.path,
      local: side,
      log: () => {},
    });
    const err = await agent.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ code: 7, msg: 'the underlay address 192.168.77.99 is not on this host' });

    // A VXLAN device of someone else's with VNI 77 on host 1: the network with that VNI is a problem there, the others are fine.
    const h1 = netns.handle(lan.hosts[0]!.ns);
    await h1.createVxlan('theirs', { vni: 77, local: lan.hosts[0]!.address, underlay: 'eth0' });
    await cluster.createNetwork({ name: 'clash', subnet: '10.77.0.0/16', vni: 77 });
    try {
      const a = await start(0);
      expect(a.agent.status().problems).toEqual([
        expect.stringContaining('VNI 77 is in use on this host by the VXLAN device theirs'),
      ]);
      expect(a.side.views.has('clash')).toBe(false);
      expect(a.side.views.has('web')).toBe(true);
    } finally {
      await cluster.deleteNetwork('clash');
      await h1.deleteLink('theirs');
    }
    // The cluster refuses a second network with a VNI in use, or an overlapping subnet.
    await expect(cluster.createNetwork({ name: 'again', subnet: '10.99.0.0/16', vni: 1 })).rejects.toMatchObject({
      code: 7,
      msg: 'VNI 1 is in use by overlay network "web"',
    });
    await expect(cluster.createNetwork({ name: 'again', subnet: '10.240.5.0/24' })).rejects.toMatchObject({
      code: 7,
      msg: expect.stringContaining('overlaps overlay network "web"'),
    });
  });

  it('keeps traffic flowing while etcd is down, and refuses new networks within a bound', async () => {
    const [a, b] = [await start(0), await start(1)];
    await meshed([a.agent, b.agent], 1);
    const [blockA, blockB] = [a.agent.status().blocks.web!, b.agent.status().blocks.web!];
    await etcd.stop();
    const t0 = Date.now();
    await expect(cluster.createNetwork({ name: 'late', subnet: '10.98.0.0/16' })).rejects.toMatchObject({
      code: 11,
      msg: expect.stringContaining(`etcd at ${etcd.socket}`),
    });
    expect(Date.now() - t0).toBeLessThan(6_000);
    await expect(a.agent.syncNow()).rejects.toMatchObject({ code: 11 });
    // The kernel keeps what it had: host 1 still reaches host 2.
    netns.exec(lan.hosts[0]!.ns, ['ping', '-c1', '-W2', '-I', vtepAddressOf(blockA), vtepAddressOf(blockB)]);
    expect((await entries(a.h, 'web'))!.routes).toEqual([blockB]);
  });
});
