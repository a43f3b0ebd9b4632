import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NTF_SELF } from '../../netlink/constants.js';
import { InvalidArgumentError } from '../../netlink/errors.js';
import type { NetlinkHandle } from '../../netlink/handle.js';
import type { Link } from '../../netlink/links.js';
import { MACVLAN_MODES } from '../../netlink/macvlan.js';
import type { IpRoute } from '../helpers/ip-json.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

/**
 * VXLAN, macvlan and IFB links, neighbours, FDB entries and onlink routes, made
 * through the handle in throwaway namespaces and read back through it; `ip -j`
 * and `bridge -j` only cross-check what the kernel reports.
 */

interface BridgeFdb {
  mac: string;
  ifname: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

/** What a NetlinkError with this code, and optionally these words, looks like to toMatchObject. */
function netlinkError(code: string, words?: string): object {
  return { name: 'NetlinkError', code, ...(words ? { message: expect.stringContaining(words) } : {}) };
}

interface Host {
  readonly ns: TestNs;
  readonly h: NetlinkHandle;
  /** The underlay address. */
  readonly underlay: string;
  /** The VXLAN device's MAC: the VTEP's. */
  readonly vtepMac: string;
  /** This host's block of the overlay, and its first address, which the VXLAN device holds. */
  readonly block: string;
  readonly vtepIp: string;
}

/** Two namespaces as two hosts on one LAN: a veth pair as the underlay, u1 in the first and u2 in the second. */
async function twoHosts(netns: TestNetns): Promise<[Host, Host]> {
  const n1 = await netns.create('h1');
  const n2 = await netns.create('h2');
  const h1 = netns.handle(n1);
  const h2 = netns.handle(n2);
  await h1.createVeth('u1', 'u2', { peerNetnsPath: n2.path });
  const hosts: [Host, Host] = [
    {
      ns: n1,
      h: h1,
      underlay: '192.168.77.1',
      vtepMac: '02:00:00:00:01:00',
      block: '10.244.1.0/24',
      vtepIp: '10.244.1.0',
    },
    {
      ns: n2,
      h: h2,
      underlay: '192.168.77.2',
      vtepMac: '02:00:00:00:02:00',
      block: '10.244.2.0/24',
      vtepIp: '10.244.2.0',
    },
  ];
  for (const [i, host] of hosts.entries()) {
    await host.h.addAddress(`u${i + 1}`, `${host.underlay}/24`);
    await host.h.setLinkUp(`u${i + 1}`);
  }
  return hosts;
}

/** What flannel's VXLAN backend programs on `self` for a remote host: a route for its block, a neighbour and an FDB entry. */
async function programRemote(self: Host, remote: Host): Promise<void> {
  await self.h.addRoute({ dst: remote.block, gateway: remote.vtepIp, dev: 'vx0', onlink: true });
  await self.h.setNeighbour('vx0', remote.vtepIp, remote.vtepMac);
  await self.h.setFdbEntry('vx0', remote.vtepMac, remote.underlay);
}

describe.skipIf(notRoot)(kernelSuite('VXLAN, macvlan and IFB links, neighbours and FDB entries'), () => {
  const netns = new TestNetns();
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => netns.cleanup());
  afterAll(() => netns.cleanup());

  it('carries pings across a VXLAN overlay programmed with onlink routes, neighbours and FDB entries', async () => {
    const [a, b] = await twoHosts(netns);
    for (const [i, host] of [a, b].entries()) {
      await host.h.createVxlan('vx0', {
        vni: 42,
        local: host.underlay,
        underlay: `u${i + 1}`,
        ttl: 64,
        mac: host.vtepMac,
      });
      await host.h.addAddress('vx0', `${host.vtepIp}/32`);
      await host.h.setLinkUp('vx0');
    }
    await programRemote(a, b);
    await programRemote(b, a);

    const u1 = (await a.h.getLink('u1')) as Link;
    const vx = (await a.h.getLink('vx0')) as Link;
    expect(vx).toMatchObject({
      type: 'vxlan',
      mtu: 1450, // the underlay's 1500 less the 50 bytes of VXLAN over IPv4
      mac: a.vtepMac,
      parentIndex: u1.index,
      vxlan: { vni: 42, local: '192.168.77.1', port: 4789, learning: false, ttl: 64 },
    });
    expect(await a.h.listNeighbours('vx0', 4)).toEqual([
      { index: vx.index, family: 4, ip: b.vtepIp, mac: b.vtepMac, state: ['permanent'], flags: 0 },
    ]);
    const fdb = await a.h.listFdbEntries('vx0');
    expect(fdb).toContainEqual({
      index: vx.index,
      mac: b.vtepMac,
      dst: b.underlay,
      state: ['permanent'],
      flags: NTF_SELF,
    });
    expect(fdb.every((e) => e.index === vx.index)).toBe(true);
    expect(await a.h.listRoutes({ family: 4 })).toContainEqual(
      expect.objectContaining({ dst: b.block, gateway: b.vtepIp, dev: vx.index, onlink: true }),
    );

    // What iproute2 reads from the kernel agrees.
    expect(netns.ipJson<IpRoute[]>(a.ns, ['route', 'show', 'dev', 'vx0'])).toContainEqual(
      expect.objectContaining({ dst: b.block, gateway: b.vtepIp, flags: ['onlink'] }),
    );
    const bridgeFdb = JSON.parse(netns.exec(a.ns, ['bridge', '-j', 'fdb', 'show', 'dev', 'vx0'])) as BridgeFdb[];
    expect(bridgeFdb).toContainEqual(
      expect.objectContaining({ mac: b.vtepMac, dst: b.underlay, flags: ['self'], state: 'permanent' }),
    );

    netns.exec(a.ns, ['ping', '-c1', '-W2', b.vtepIp]);
    netns.exec(b.ns, ['ping', '-c1', '-W2', a.vtepIp]);
    // 1422 bytes of ICMP payload make a 1450-byte packet, the VXLAN MTU; DF set, so it crosses whole or not at all.
    netns.exec(a.ns, ['ping', '-c1', '-W2', '-M', 'do', '-s', '1422', b.vtepIp]);

    // Setting the same entries again replaces them.
    await a.h.setNeighbour('vx0', b.vtepIp, b.vtepMac);
    await a.h.setFdbEntry('vx0', b.vtepMac, b.underlay);
    expect(await a.h.listNeighbours('vx0', 4)).toHaveLength(1);

    // Without the FDB entry the overlay frames have nowhere to go.
    await a.h.deleteFdbEntry('vx0', b.vtepMac, b.underlay);
    expect((await a.h.listFdbEntries('vx0')).some((e) => e.mac === b.vtepMac)).toBe(false);
    expect(() => netns.exec(a.ns, ['ping', '-c1', '-W1', b.vtepIp])).toThrow();
    await expect(a.h.deleteFdbEntry('vx0', b.vtepMac, b.underlay)).rejects.toMatchObject(netlinkError('ENOENT'));

    await a.h.deleteNeighbour('vx0', b.vtepIp);
    expect(await a.h.listNeighbours('vx0', 4)).toEqual([]);
    await expect(a.h.deleteNeighbour('vx0', b.vtepIp)).rejects.toMatchObject(
      netlinkError('ENOENT', `delete neighbour ${b.vtepIp} on 'vx0'`),
    );

    await a.h.deleteRoute({ dst: b.block, gateway: b.vtepIp, dev: 'vx0', onlink: true });
    expect((await a.h.listRoutes({ family: 4 })).some((r) => r.dst === b.block)).toBe(false);
  });

  it('refuses a bad VNI before the kernel, and reports a missing underlay and a VNI in use', async () => {
    const ns = await netns.create('vxerr');
    const h = netns.handle(ns);
    await h.createVeth('u0', 'u9');

    await expect(h.createVxlan('vx0', { vni: 1 << 24, underlay: 'u0' })).rejects.toThrow(InvalidArgumentError);
    await expect(h.createVxlan('vx0', { vni: -5 })).rejects.toThrow('invalid VXLAN VNI -5');
    expect(await h.getLink('vx0')).toBeNull();

    await expect(h.createVxlan('vx0', { vni: 7, underlay: 'nope0' })).rejects.toMatchObject(
      netlinkError('ENODEV', "create vxlan 'vx0' (vni 7): no link named 'nope0'"),
    );

    await h.createVxlan('vx0', { vni: 7, underlay: 'u0' });
    await expect(h.createVxlan('vx1', { vni: 7, underlay: 'u0' })).rejects.toMatchObject({
      ...netlinkError('EEXIST'),
      extAck: expect.stringMatching(/VNI/),
    });
    expect(await h.getLink('vx1')).toBeNull();
  });

  it('creates a macvlan in each mode, born in another netns, and reads its mode and parent back', async () => {
    const host = await netns.create('mvh');
    const c = await netns.create('mvc');
    const hh = netns.handle(host);
    const hc = netns.handle(c);
    await hh.createVeth('p0', 'p1');
    const p0 = (await hh.getLink('p0')) as Link;

    for (const mode of MACVLAN_MODES) {
      await hh.createMacvlan('eth0', 'p0', { mode, netnsPath: c.path, mtu: 1400, mac: '02:00:00:00:00:33' });
      expect(await hh.getLink('eth0')).toBeNull(); // never existed in the parent's netns
      const mv = (await hc.getLink('eth0')) as Link;
      expect(mv).toMatchObject({ type: 'macvlan', macvlan: { mode }, parentIndex: p0.index, mtu: 1400 });
      expect(mv.peerIndex).toBeUndefined();
      expect(mv.peerNetnsId).toBeTypeOf('number');
      // passthru gives the macvlan the parent's MAC, so the one asked for only holds in the other modes.
      if (mode !== 'passthru') expect(mv.mac).toBe('02:00:00:00:00:33');
      const ip = netns.ipJson<{ linkinfo?: { info_data?: { mode?: string } } }[]>(c, ['-d', 'link', 'show', 'eth0']);
      expect(ip[0]?.linkinfo?.info_data?.mode).toBe(mode);
      await hc.deleteLink('eth0');
    }

    // A driver asking whether a parent is itself a macvlan, and in which mode, reads it off the link.
    await hh.createMacvlan('mvb', p0.index, { mode: 'vepa' });
    expect(await hh.getLink('mvb')).toMatchObject({
      type: 'macvlan',
      macvlan: { mode: 'vepa' },
      parentIndex: p0.index,
    });
    expect((await hh.listLinks()).find((l) => l.name === 'mvb')?.macvlan?.mode).toBe('vepa');
  });

  it('refuses a macvlan whose parent is missing or whose MTU is above the parent one, leaving nothing', async () => {
    const host = await netns.create('mve');
    const c = await netns.create('mvec');
    const hh = netns.handle(host);
    const hc = netns.handle(c);
    await hh.createVeth('p0', 'p1');

    await expect(hh.createMacvlan('eth0', 'nope0', { netnsPath: c.path })).rejects.toMatchObject(
      netlinkError('ENODEV', `create macvlan 'eth0' (mode bridge) on 'nope0' in ${c.path}: no link named 'nope0'`),
    );
    await expect(hh.createMacvlan('eth0', 999_999, { netnsPath: c.path })).rejects.toMatchObject(
      netlinkError('ENODEV'),
    );

    await expect(hh.createMacvlan('eth0', 'p0', { netnsPath: c.path, mtu: 9000 })).rejects.toMatchObject(
      netlinkError('EINVAL'),
    );
    expect(await hc.getLink('eth0')).toBeNull();
    expect((await hh.listLinks()).map((l) => l.name).sort()).toEqual(['lo', 'p0', 'p1']);
  });

  it('carries traffic between two macvlans in bridge mode and to the LAN, but not between two in vepa mode', async () => {
    const host = await netns.create('bh');
    const lan = await netns.create('lan');
    const hh = netns.handle(host);
    await hh.createVeth('up0', 'eth0', { peerNetnsPath: lan.path });
    await hh.setLinkUp('up0');
    const hl = netns.handle(lan);
    await hl.addAddress('eth0', '10.77.0.1/24');
    await hl.setLinkUp('eth0');

    const containers: TestNs[] = [];
    for (const [i, mode] of [
      [11, 'bridge'],
      [12, 'bridge'],
      [21, 'vepa'],
      [22, 'vepa'],
    ] as const) {
      const c = await netns.create(`m${i}`);
      containers.push(c);
      await hh.createMacvlan('eth0', 'up0', { mode, netnsPath: c.path });
      const hc = netns.handle(c);
      await hc.addAddress('eth0', `10.77.0.${i}/24`);
      await hc.setLinkUp('eth0');
    }
    const [b1, b2, v1] = containers as [TestNs, TestNs, TestNs, TestNs];

    netns.exec(b1, ['ping', '-c1', '-W2', '10.77.0.12']);
    netns.exec(b2, ['ping', '-c1', '-W2', '10.77.0.11']);
    netns.exec(b1, ['ping', '-c1', '-W2', '10.77.0.1']);
    netns.exec(v1, ['ping', '-c1', '-W2', '10.77.0.1']);
    // vepa sends everything to the switch outside, and this LAN's end does not send it back.
    expect(() => netns.exec(v1, ['ping', '-c1', '-W1', '10.77.0.22'])).toThrow();
  });

  it('creates and deletes an IFB link', async () => {
    const ns = await netns.create('ifb');
    const h = netns.handle(ns);
    await h.createIfb('ifb-c1', { mtu: 1400 });
    await h.setLinkUp('ifb-c1');
    const ifb = (await h.getLink('ifb-c1')) as Link;
    expect(ifb).toMatchObject({ type: 'ifb', mtu: 1400, up: true });
    expect(
      netns.ipJson<{ linkinfo?: { info_kind?: string } }[]>(ns, ['-d', 'link', 'show', 'ifb-c1'])[0]?.linkinfo
        ?.info_kind,
    ).toBe('ifb');
    await expect(h.createIfb('ifb-c1')).rejects.toMatchObject(netlinkError('EEXIST'));
    await h.deleteLink(ifb.index);
    expect(await h.getLink('ifb-c1')).toBeNull();
    await expect(h.deleteLink('ifb-c1')).rejects.toMatchObject(netlinkError('ENODEV'));
  });
});
