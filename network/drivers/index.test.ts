import { describe, expect, it } from 'vitest';
import { BerthError } from '../../base/errors.js';
import type { SandboxRecord } from '../model.js';
import { web } from '../testdata/state.js';
import { driverOf, hostInterfaceOf, NETWORK_DRIVERS, networkDriverOf, networkSpecOf } from './index.js';

const sandbox = (mode: SandboxRecord['mode']): SandboxRecord => ({
  name: 'sb',
  id: '1',
  mode,
  netnsPath: '/run/netns/sb',
  ownsNetns: mode === 'none',
  ...(mode === 'container' ? { shareWith: 'other' } : {}),
  createdAt: '',
});

const refusal = (fn: () => void): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return (e as BerthError).msg;
  }
  return '';
};

describe('the driver registry', () => {
  it('finds each driver by name; networks are made with all but container', () => {
    for (const name of ['bridge', 'host', 'null', 'container', 'macvlan', 'overlay'])
      expect(driverOf(name).name).toBe(name);
    expect(NETWORK_DRIVERS).toEqual(['bridge', 'host', 'null', 'macvlan', 'overlay']);
    expect(networkDriverOf('host').name).toBe('host');
  });

  it('refuses an unknown driver, and container for a network, listing the ones there are', () => {
    for (const fn of [() => driverOf('vlan'), () => networkDriverOf('container')]) {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect((e as BerthError).code).toBe(7);
        expect((e as BerthError).details).toBe('use "bridge", "host", "null", "macvlan" or "overlay"');
      }
    }
  });

  it('says which networks can have names: those with a gateway of the host, bridge and overlay', () => {
    expect(NETWORK_DRIVERS.filter((n) => driverOf(n).names)).toEqual(['bridge', 'overlay']);
  });

  it('admits the sandbox modes each driver can attach, naming the fix otherwise', () => {
    expect(refusal(() => driverOf('bridge').admit(sandbox('none'), 'web'))).toBe('');
    expect(refusal(() => driverOf('bridge').admit(sandbox('host'), 'web'))).toBe(
      'sandbox sb is in host mode and cannot join bridge network web',
    );
    expect(refusal(() => driverOf('host').admit(sandbox('host'), 'h'))).toBe('');
    expect(refusal(() => driverOf('host').admit(sandbox('none'), 'h'))).toBe(
      'only a host-mode sandbox joins the host network; sb is in none mode',
    );
    expect(refusal(() => driverOf('null').admit(sandbox('container'), 'n'))).toBe('');
    expect(refusal(() => driverOf('container').admit(sandbox('none'), 'n'))).toContain('only a container-mode sandbox');
    expect(refusal(() => driverOf('macvlan').admit(sandbox('none'), 'lan'))).toBe('');
    expect(refusal(() => driverOf('macvlan').admit(sandbox('container'), 'lan'))).toBe(
      'sandbox sb is in container mode and cannot join macvlan network lan',
    );
  });

  it("works out a network record's settings and host interface for its driver", () => {
    expect(networkSpecOf(web)).toEqual({
      name: 'web',
      driver: 'bridge',
      settings: {
        bridge: 'berth-web',
        mtu: 1500,
        hairpin: true,
        promiscuous: false,
        forceAddress: false,
        isGateway: true,
        isDefaultGateway: true,
        up: true,
        dad: false,
        portIsolation: false,
      },
    });
    expect(hostInterfaceOf(web)).toBe('berth-web');
    expect(hostInterfaceOf({ ...web, driver: 'host', bridgeName: '' })).toBeUndefined();
    const lan = {
      ...web,
      driver: 'macvlan',
      bridgeName: '',
      mtu: 0,
      macvlan: { parent: 'eth0', mode: 'vepa' },
    } as const;
    expect(networkSpecOf(lan)).toEqual({
      name: 'web',
      driver: 'macvlan',
      settings: { parent: 'eth0', mode: 'vepa', mtu: 0, parentInSandbox: false, defaultRoute: true },
    });
    expect(hostInterfaceOf(lan)).toBeUndefined();
    expect(() => networkSpecOf({ ...lan, macvlan: undefined })).toThrow(
      'the record of macvlan network web names no parent',
    );
  });
});
