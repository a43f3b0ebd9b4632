import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { NetConf } from '../types.js';
import { parseNetworkRef, parseNetworkRefForDel } from './overlay.js';

const conf = (raw: Record<string, unknown>): NetConf =>
  ({ cniVersion: '1.0.0', name: 'ovcni', type: 'berth', raw, args: {}, runtimeConfig: {} }) as unknown as NetConf;

describe('parseNetworkRef', () => {
  it('reads "network" with the state dir and lo', () => {
    expect(parseNetworkRef(conf({ network: { driver: 'overlay', name: 'web' } }))).toEqual({
      driver: 'overlay',
      name: 'web',
      stateDir: '/var/lib/berth',
      loopback: false,
    });
    expect(
      parseNetworkRef(conf({ network: { driver: 'overlay', name: 'web' }, stateDir: '/s', loopback: true })),
    ).toMatchObject({
      stateDir: '/s',
      loopback: true,
    });
    expect(parseNetworkRef(conf({ bridge: 'cni0' }))).toBeUndefined();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a string', { network: 'web' }, '"network" must be an object, not "web"'],
    [
      'another driver',
      { network: { driver: 'bridge', name: 'web' } },
      '"network.driver" "bridge" is not one the plugin attaches to',
    ],
    ['no name', { network: { driver: 'overlay' } }, '"network.name" must name the overlay network, not undefined'],
    ['a bad name', { network: { driver: 'overlay', name: '../x' } }, 'invalid network name "../x"'],
    [
      'bridge keys beside it',
      { network: { driver: 'overlay', name: 'web' }, ipam: {}, mtu: 1400 },
      'with "network", the config may not give "ipam", "mtu"',
    ],
  ])('refuses %s with code 7', (_, raw, msg) => {
    expect(failure(() => parseNetworkRef(conf(raw)))).toMatchObject({ code: 7, msg });
  });

  it('lets DEL through a "network" that ADD refused, when it names a network', () => {
    expect(parseNetworkRefForDel(conf({ network: { driver: 'overlay', name: 'web' }, mtu: 1 }))?.name).toBe('web');
    expect(parseNetworkRefForDel(conf({ network: { name: '../x' } }))).toBeUndefined();
    expect(parseNetworkRefForDel(conf({ network: 7 }))).toBeUndefined();
  });
});
