import { describe, expect, it } from 'vitest';
import type { Link, Route } from '../../../netlink/index.js';
import { bridgeClash, defaultRouteDevice, parentProblem } from './parent.js';

const link = (index: number, name: string, type: string, more: Partial<Link> = {}): Link => ({
  index,
  name,
  type,
  mtu: 1500,
  up: true,
  promisc: false,
  flags: 0,
  operState: 'up',
  ...more,
});
const route = (dst: string, dev: number, family: 4 | 6 = 4): Route => ({
  family,
  dst,
  dev,
  scope: 'universe',
  table: 254,
  protocol: 'kernel',
  type: 'unicast',
});

const links = [
  link(1, 'lo', 'loopback'),
  link(2, 'eth0', 'device'),
  link(3, 'berth-web', 'bridge'),
  link(4, 'br-lan', 'bridge'),
  link(5, 'mv0', 'macvlan', { mtu: 1400, macvlan: { mode: 'vepa' } }),
];

describe('defaultRouteDevice', () => {
  it('is the device of the first default route, as the reference picks a missing master', () => {
    const routes = [route('10.89.0.0/24', 3), route('default', 2), route('default', 4, 6)];
    expect(defaultRouteDevice(routes, links)).toBe('eth0');
    expect(defaultRouteDevice([route('default', 4, 6)], links)).toBe('br-lan');
  });

  it('is undefined without a default route', () => {
    expect(defaultRouteDevice([route('10.89.0.0/24', 3)], links)).toBeUndefined();
  });
});

describe('parentProblem', () => {
  const want = { name: 'eth0', mode: 'bridge', mtu: 0 } as const;

  it('takes a device, or a macvlan in the same mode, with room for the MTU', () => {
    expect(parentProblem(links[1]!, want, 'the host netns')).toBeUndefined();
    expect(parentProblem(links[1]!, { ...want, mtu: 1500 }, 'the host netns')).toBeUndefined();
    expect(parentProblem(links[4]!, { name: 'mv0', mode: 'vepa', mtu: 1400 }, 'the host netns')).toBeUndefined();
  });

  it.each<[string, Link | null, Parameters<typeof parentProblem>[1], string, string]>([
    ['a missing parent', null, { ...want, name: 'eth9' }, 'parent eth9 does not exist in the host netns', 'eth0'],
    [
      'a macvlan in another mode',
      links[4]!,
      { ...want, name: 'mv0' },
      'parent mv0 is itself a macvlan in vepa mode, not bridge',
      'use mode vepa, or the device under mv0',
    ],
    [
      'an MTU above the parent',
      links[1]!,
      { ...want, mtu: 9000 },
      'MTU 9000 is above the MTU 1500 of parent eth0',
      'give at most 1500',
    ],
  ])('refuses %s with code 7, naming the value and the fix', (_what, parent, wanted, message, fix) => {
    const e = parentProblem(parent, wanted, 'the host netns');
    expect(e).toMatchObject({ code: 7, msg: message });
    expect(e?.details).toContain(fix);
  });
});

describe('bridgeClash', () => {
  const routes = [route('default', 2), route('192.168.7.0/24', 2), route('10.89.0.0/24', 3), route('10.90.0.0/16', 4)];

  it("lets addresses on the LAN's subnet be, and those of a bridge that is the parent itself", () => {
    expect(bridgeClash(['192.168.7.20/24'], routes, links, 2)).toBeUndefined();
    expect(bridgeClash(['10.90.1.2/24'], routes, links, 4)).toBeUndefined();
    expect(bridgeClash([], routes, links, 2)).toBeUndefined();
  });

  it('refuses an address in the subnet a bridge of the host is routed on, naming both', () => {
    expect(bridgeClash(['192.168.7.20/24', '10.89.0.7/24'], routes, links, 2)).toMatchObject({
      code: 7,
      msg: 'address 10.89.0.7/24 is in 10.89.0.0/24, which this host routes to bridge berth-web',
    });
    expect(bridgeClash(['10.90.1.2/24'], routes, links, 2)?.msg).toBe(
      'address 10.90.1.2/24 is in 10.90.0.0/16, which this host routes to bridge br-lan',
    );
  });
});
