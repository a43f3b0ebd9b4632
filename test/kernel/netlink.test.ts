import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSystemError } from '../../netlink/binding.js';
import { NetlinkError } from '../../netlink/errors.js';
import type { Link } from '../../netlink/links.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  flags: string[];
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_slave_data?: Record<string, unknown> };
}
interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; address?: string }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
}

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
});
