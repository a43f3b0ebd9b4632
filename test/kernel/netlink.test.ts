import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { binding, isSystemError } from '../../base/binding.js';
import { NetlinkError } from '../../netlink/errors.js';
import { NetlinkHandle } from '../../netlink/handle.js';
import type { Link } from '../../netlink/links.js';
import { createNamedNetns, deleteNamedNetns, netnsExists } from '../../netlink/netns.js';
import type { IpAddr, IpLink, IpRoute } from '../helpers/ip-json.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';

/** Resolves with the error a promise rejects with, or fails the test. */
async function rejection(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(NetlinkError);
    return e as NetlinkError;
  }
  throw new Error('expected a rejection, the promise resolved');
}

describe.skipIf(notRoot)(kernelSuite('netlink handle in throwaway namespaces'), () => {
  const netns = new TestNetns();
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => netns.cleanup());
  afterAll(() => netns.cleanup());

  it('creates a veth pair across two namespaces with addresses and routes, and pings across it', async () => {
    const a = await netns.create('a');
    const b = await netns.create('b');
    const ha = netns.handle(a);
    const hb = netns.handle(b);

    await ha.createVeth('va', 'vb', {
      peerNetnsPath: b.path,
      mtu: 1400,
      mac: '02:00:00:00:00:0a',
      peerMac: '02:00:00:00:00:0b',
    });
    expect(await ha.getLink('vb')).toBeNull(); // the peer never existed in a
    const va = (await ha.getLink('va')) as Link;
    const vb = (await hb.getLink('vb')) as Link;
    expect(va).toMatchObject({ name: 'va', type: 'veth', mtu: 1400, mac: '02:00:00:00:00:0a', up: false });
    expect(vb).toMatchObject({ name: 'vb', type: 'veth', mtu: 1400, mac: '02:00:00:00:00:0b', peerIndex: va.index });
    expect(va.peerIndex).toBe(vb.index);
    expect(va.peerNetnsId).toBeTypeOf('number');

    await ha.addAddress('va', '10.99.0.1/24', { broadcast: true });
    await hb.addAddress(vb.index, '10.99.0.2/24');
    await ha.addAddress('va', 'fd99::1/64', { noDad: true });
    await hb.addAddress('vb', 'fd99::2/64', { noDad: true });
    await ha.setLinkUp('va');
    await hb.setLinkUp(vb.index);
    await hb.addRoute({ dst: 'default', gateway: '10.99.0.1', dev: 'vb' });
    await hb.addRoute({ dst: '10.200.0.0/16', gateway: '10.99.0.1', metric: 50 });
    await hb.addRoute({ dst: 'default', gateway: 'fd99::1', dev: 'vb' });

    // Read back through the handle...
    const addrs = await ha.listAddresses('va');
    expect(addrs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          index: va.index,
          cidr: '10.99.0.1/24',
          family: 4,
          scope: 'universe',
          broadcast: '10.99.0.255',
        }),
        expect.objectContaining({ index: va.index, cidr: 'fd99::1/64', family: 6, scope: 'universe' }),
      ]),
    );
    expect((await ha.listAddresses('va', 4)).map((x) => x.cidr)).toEqual(['10.99.0.1/24']);
    const routes = await hb.listRoutes({ family: 4 });
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.99.0.1', dev: vb.index, table: 254, protocol: 'boot' }),
        expect.objectContaining({ dst: '10.200.0.0/16', gateway: '10.99.0.1', metric: 50, scope: 'universe' }),
        expect.objectContaining({
          dst: '10.99.0.0/24',
          dev: vb.index,
          scope: 'link',
          protocol: 'kernel',
          src: '10.99.0.2',
        }),
      ]),
    );
    expect(routes.every((r) => r.family === 4)).toBe(true);
    const routes6 = await hb.listRoutes({ family: 6 });
    expect(routes6).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: 'default', gateway: 'fd99::1', dev: vb.index })]),
    );

    // ...and through ip -j.
    const ipLinks = netns.ipJson<IpLink[]>(a, ['-d', 'link', 'show', 'va']);
    expect(ipLinks[0]).toMatchObject({ ifindex: va.index, mtu: 1400, address: '02:00:00:00:00:0a' });
    expect(ipLinks[0]?.linkinfo?.info_kind).toBe('veth');
    const ipAddrs = netns.ipJson<IpAddr[]>(b, ['addr', 'show', 'vb']);
    expect(ipAddrs[0]?.addr_info).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: 'inet', local: '10.99.0.2', prefixlen: 24 }),
        expect.objectContaining({ family: 'inet6', local: 'fd99::2', prefixlen: 64 }),
      ]),
    );
    const ipRoutes = netns.ipJson<IpRoute[]>(b, ['route', 'show']);
    expect(ipRoutes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.99.0.1', dev: 'vb' }),
        expect.objectContaining({ dst: '10.200.0.0/16', gateway: '10.99.0.1', metric: 50 }),
      ]),
    );

    netns.exec(a, ['ping', '-c1', '-W2', '10.99.0.2']);
    netns.exec(b, ['ping', '-c1', '-W2', '10.99.0.1']);
    netns.exec(a, ['ping', '-6', '-c1', '-W2', 'fd99::2']);

    await hb.deleteRoute({ dst: '10.200.0.0/16', gateway: '10.99.0.1' });
    expect((await hb.listRoutes({ family: 4 })).some((r) => r.dst === '10.200.0.0/16')).toBe(false);
    await ha.deleteAddress('va', '10.99.0.1/24');
    expect((await ha.listAddresses('va', 4)).length).toBe(0);
  });

  it('surfaces kernel errors with their code and message', async () => {
    const a = await netns.create('err');
    const h = netns.handle(a);
    await h.createBridge('br0');

    const exists = await rejection(h.createBridge('br0'));
    expect(exists).toMatchObject({ code: 'EEXIST', errno: -17, syscall: 'netlink' });
    expect(exists.message).toMatch(/^EEXIST: File exists, create bridge 'br0'/);
    expect(isSystemError(exists, 'EEXIST')).toBe(true);

    const missing = await rejection(h.setLinkUp('nope0'));
    expect(missing).toMatchObject({ code: 'ENODEV', errno: -19, syscall: 'netlink' });
    expect(missing.message).toContain("'nope0'");
    expect(await h.getLink('nope0')).toBeNull();
    expect((await rejection(h.deleteLink('nope0'))).code).toBe('ENODEV');

    const badMtu = await rejection(h.setMtu('br0', 10));
    expect(badMtu).toMatchObject({ code: 'EINVAL', errno: -22 });
    expect(badMtu.extAck).toMatch(/mtu/i);
    expect(badMtu.message).toBe(`EINVAL: Invalid argument, set mtu 10 on 'br0' (netlink: ${badMtu.extAck})`);
  });

  it('bridges two veths whose peers are in two other namespaces, and pings across the bridge', async () => {
    const host = await netns.create('host');
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    const h = netns.handle(host);
    await h.createBridge('br0', { mtu: 1450, mac: '02:00:00:00:01:00' });
    await h.createVeth('h1', 'eth0', { peerNetnsPath: c1.path, mtu: 1450 });
    await h.createVeth('h2', 'eth0', { peerNetnsPath: c2.path, mtu: 1450 });
    await h.setMaster('h1', 'br0');
    const br = (await h.getLink('br0')) as Link;
    await h.setMaster('h2', br.index);
    await h.addAddress('br0', '10.98.0.1/24');
    for (const name of ['br0', 'h1', 'h2']) await h.setLinkUp(name);
    for (const [ns, ip] of [
      [c1, '10.98.0.11/24'],
      [c2, '10.98.0.12/24'],
    ] as const) {
      const hc = netns.handle(ns);
      await hc.addAddress('eth0', ip);
      await hc.setLinkUp('eth0');
      await hc.addRoute({ dst: 'default', gateway: '10.98.0.1' });
    }

    expect(br).toMatchObject({ type: 'bridge', mtu: 1450, mac: '02:00:00:00:01:00' });
    expect(await h.getLink('h1')).toMatchObject({ masterIndex: br.index, up: true });
    expect(await h.getLink('h2')).toMatchObject({ masterIndex: br.index });
    const ports = netns.ipJson<IpLink[]>(host, ['link', 'show', 'master', 'br0']).map((l) => l.ifname);
    expect(ports.sort()).toEqual(['h1', 'h2']);

    netns.exec(c1, ['ping', '-c1', '-W2', '10.98.0.12']);
    netns.exec(c2, ['ping', '-c1', '-W2', '10.98.0.11']);
    netns.exec(c1, ['ping', '-c1', '-W2', '10.98.0.1']);

    await h.setBridgePort('h1', { hairpin: true, learning: false, isolated: true });
    const slave = netns.ipJson<IpLink[]>(host, ['-d', 'link', 'show', 'h1'])[0]?.linkinfo?.info_slave_data;
    expect(slave).toMatchObject({ hairpin: true, learning: false, isolated: true });
    await h.setBridgePort('h1', { hairpin: false, learning: true, isolated: false });
    const slave2 = netns.ipJson<IpLink[]>(host, ['-d', 'link', 'show', 'h1'])[0]?.linkinfo?.info_slave_data;
    expect(slave2).toMatchObject({ hairpin: false, learning: true, isolated: false });

    await h.setNoMaster('h2');
    expect((await h.getLink('h2'))?.masterIndex).toBeUndefined();
    expect(netns.ipJson<IpLink[]>(host, ['link', 'show', 'master', 'br0']).map((l) => l.ifname)).toEqual(['h1']);
    // Off the bridge, c2 is out of reach: the pings above went through it.
    expect(() => netns.exec(c1, ['ping', '-c1', '-W1', '10.98.0.12'])).toThrow();
  });

  it('creates the peer straight in the other netns, so its name may be taken where the veth is made', async () => {
    const a = await netns.create('pa');
    const b = await netns.create('pb');
    const ha = netns.handle(a);
    const hb = netns.handle(b);
    await ha.createVeth('eth0', 'other0'); // a now has an eth0
    await ha.createVeth('ve-b', 'eth0', { peerNetnsPath: b.path, peerMac: '02:00:00:00:00:42' });
    const peer = (await hb.getLink('eth0')) as Link;
    expect(peer).toMatchObject({ type: 'veth', mac: '02:00:00:00:00:42' });
    const ours = (await ha.getLink('ve-b')) as Link;
    expect(ours.peerIndex).toBe(peer.index);
    expect(peer.peerIndex).toBe(ours.index);
    expect(netns.ipJson<IpLink[]>(b, ['link', 'show', 'eth0'])[0]?.address).toBe('02:00:00:00:00:42');

    const dup = await rejection(ha.createVeth('ve-c', 'eth0', { peerNetnsPath: b.path }));
    expect(dup.code).toBe('EEXIST');
    expect(dup.message).toContain(`create veth 've-c' with peer 'eth0' in ${b.path}`);
    expect(await ha.getLink('ve-c')).toBeNull(); // the failed request left nothing behind
  });

  it('moves, renames, re-addresses and deletes links', async () => {
    const a = await netns.create('ma');
    const b = await netns.create('mb');
    const ha = netns.handle(a);
    const hb = netns.handle(b);
    await ha.createVeth('tmp-a', 'tmp-b');
    await ha.moveLinkToNetns('tmp-b', b.path);
    expect(await ha.getLink('tmp-b')).toBeNull();
    await hb.renameLink('tmp-b', 'eth1');
    await hb.setMac('eth1', '02:00:00:00:00:99');
    await hb.setMtu('eth1', 1300);
    await hb.setPromisc('eth1', true);
    await hb.setLinkUp('eth1');
    const eth1 = (await hb.getLink('eth1')) as Link;
    expect(eth1).toMatchObject({ name: 'eth1', mac: '02:00:00:00:00:99', mtu: 1300, promisc: true, up: true });
    expect(netns.ipJson<IpLink[]>(b, ['link', 'show', 'eth1'])[0]).toMatchObject({
      ifindex: eth1.index,
      mtu: 1300,
      address: '02:00:00:00:00:99',
      flags: expect.arrayContaining(['PROMISC', 'UP']),
    });
    await hb.setPromisc(eth1.index, false);
    await hb.setLinkDown(eth1.index);
    expect(await hb.getLink(eth1.index)).toMatchObject({ promisc: false, up: false });

    const names = (await hb.listLinks()).map((l) => [l.name, l.type]);
    expect(names).toEqual([
      ['lo', 'loopback'],
      ['eth1', 'veth'],
    ]);
    await hb.deleteLink('eth1');
    expect(await hb.getLink('eth1')).toBeNull();
    expect(await ha.getLink('tmp-a')).toBeNull(); // deleting one end of a veth takes the other
  });

  it('waits for a link deletion off the thread: the event loop runs meanwhile, and a close waits for it', async () => {
    const a = await netns.create('da');
    const h = netns.handle(a);
    const names = ['del0', 'del1', 'del2', 'del3'];
    for (const name of names) await h.createVeth(name, `${name}p`);
    let ticks = 0;
    let done = false;
    const tick = () => {
      if (done) return;
      ticks += 1;
      setImmediate(tick);
    };
    setImmediate(tick);
    const deleted = Promise.all(names.map((name) => h.deleteLink(name)));
    h.close(); // refuses what comes next; the deletions queued before it still happen
    await deleted;
    done = true;
    expect(ticks).toBeGreaterThan(0);
    await expect(h.getLink('lo')).rejects.toMatchObject({ code: 'EBADF' });
    expect(netns.ipJson<IpLink[]>(a, ['link', 'show']).map((l) => l.ifname)).toEqual(['lo']);
    const again = NetlinkHandle.open(a.path);
    try {
      expect((await rejection(again.deleteLink('del0'))).code).toBe('ENODEV');
    } finally {
      again.close();
    }
  });

  it('adds, lists and deletes addresses and routes of both families, in other tables too', async () => {
    const a = await netns.create('ra');
    const h = netns.handle(a);
    await h.createVeth('r0', 'r1');
    await h.setLinkUp('r0');
    await h.setLinkUp('r1');
    await h.addAddress('r0', '10.97.0.1/24');
    await h.addAddress('r0', 'fd97::1/64', { noDad: true });
    expect((await rejection(h.addAddress('r0', '10.97.0.1/24'))).code).toBe('EEXIST');
    expect((await rejection(h.deleteAddress('r0', '10.97.5.5/24'))).code).toBe('EADDRNOTAVAIL');

    await h.addRoute({ dst: '10.50.0.0/16', dev: 'r0', table: 100 });
    await h.addRoute({ dst: 'fd50::/48', gateway: 'fd97::2', dev: 'r0', table: 100, metric: 10 });
    await h.addRoute({ dst: '10.51.0.0/16', gateway: '10.97.0.2', table: 1000 });
    expect((await rejection(h.addRoute({ dst: '10.50.0.0/16', dev: 'r0', table: 100 }))).code).toBe('EEXIST');
    const t100 = await h.listRoutes({ table: 100 });
    expect(t100).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: 4, dst: '10.50.0.0/16', scope: 'link', table: 100, protocol: 'boot' }),
        expect.objectContaining({ family: 6, dst: 'fd50::/48', gateway: 'fd97::2', table: 100, metric: 10 }),
      ]),
    );
    expect(t100.every((r) => r.table === 100)).toBe(true);
    expect(await h.listRoutes({ table: 1000, family: 4 })).toEqual([
      expect.objectContaining({ dst: '10.51.0.0/16', gateway: '10.97.0.2', table: 1000 }),
    ]);
    expect(await h.listRoutes({ table: 4242 })).toEqual([]);
    expect((await h.listRoutes({ table: 0, family: 4 })).some((r) => r.table === 255 && r.type === 'local')).toBe(true);
    const ip6 = netns.ipJson<IpRoute[]>(a, ['-6', 'route', 'show', 'table', '100']);
    expect(ip6).toEqual([expect.objectContaining({ dst: 'fd50::/48', gateway: 'fd97::2', metric: 10 })]);

    await h.deleteRoute({ dst: 'fd50::/48', table: 100 });
    await h.deleteRoute({ dst: '10.50.0.0/16', table: 100 });
    expect((await rejection(h.deleteRoute({ dst: '10.50.0.0/16', table: 100 }))).code).toBe('ESRCH');
    expect(await h.listRoutes({ table: 100 })).toEqual([]);

    await h.deleteAddress('r0', 'fd97::1/64');
    expect((await h.listAddresses('r0', 6)).some((x) => x.cidr === 'fd97::1/64')).toBe(false);
    expect((await h.listAddresses(undefined, 4)).map((x) => x.cidr).sort()).toEqual(['10.97.0.1/24', '127.0.0.1/8']);
  });

  it('reads and writes sysctls inside its netns only', async () => {
    const a = await netns.create('sy');
    const h = netns.handle(a);
    await h.createVeth('s0', 's1');
    const rootForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    await h.enableForwarding(4);
    await h.enableForwarding(6);
    expect(await h.getSysctl('net/ipv4/ip_forward')).toBe('1');
    expect(netns.exec(a, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim()).toBe('1');
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(rootForward);

    await h.setInterfaceSysctl(4, 's0', 'rp_filter', '2');
    expect(await h.getInterfaceSysctl(4, 's0', 'rp_filter')).toBe('2');
    await h.setInterfaceSysctl(6, 's0', 'disable_ipv6', '1');
    expect(netns.exec(a, ['cat', '/proc/sys/net/ipv6/conf/s0/disable_ipv6']).trim()).toBe('1');
    await expect(h.getSysctl('net/ipv4/no_such_knob')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("opens in the calling thread's netns when given no path", async () => {
    const a = await netns.create('cur');
    await netns.handle(a).createBridge('only-here');
    const h = binding().runInNetns(a.path, () => NetlinkHandle.open());
    try {
      expect(h.netnsPath).toBe('');
      expect((await h.getLink('only-here'))?.type).toBe('bridge');
    } finally {
      h.close();
    }
  });

  it('creates and deletes named namespaces, deleting a missing one as success', () => {
    const name = `bt-${process.pid}-named`;
    const path = createNamedNetns(name);
    try {
      expect(path).toBe(`/run/netns/${name}`);
      expect(netnsExists(path)).toBe(true);
      expect(() => createNamedNetns(name)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    } finally {
      deleteNamedNetns(name);
    }
    expect(netnsExists(path)).toBe(false);
    expect(() => deleteNamedNetns(path)).not.toThrow();
    expect(() => createNamedNetns('../etc')).toThrow("invalid netns name '../etc'");
  });
});
