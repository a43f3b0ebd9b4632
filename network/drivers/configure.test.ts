import { describe, expect, it } from 'vitest';
import { BerthError } from '../../base/errors.js';
import { linklessConfig } from './configure.js';
import type { NetworkOptions, NetworkRequest } from './options.js';

const request = (options: Omit<NetworkOptions, 'name'>): NetworkRequest => ({
  options: { name: 'x', driver: 'host', ...options },
  name: 'x',
  id: '0123456789ab',
  existing: [],
  subnets: () => {
    throw new Error('a network without links takes no subnet');
  },
});

describe('linklessConfig (host, null)', () => {
  it('has no bridge and no subnets, and the defaults of the rules', () => {
    expect(linklessConfig('host', request({}))).toEqual({
      bridgeName: '',
      subnets: [],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: true,
      promiscuous: false,
    });
    expect(linklessConfig('null', request({ dns: false, masquerade: false })).masquerade).toBe(false);
  });

  it.each<[string, Omit<NetworkOptions, 'name'>, string]>([
    ['a subnet', { subnet: '10.3.0.0/24' }, 'the null driver takes no subnet or bridge'],
    ['an IPv6 subnet', { subnet6: 'fd00::/64' }, 'the null driver takes no subnet or bridge'],
    ['a bridge', { bridgeName: 'br0' }, 'the null driver takes no subnet or bridge'],
    ['names', { dns: true }, "the null driver has no names: its name service listens on a bridge's gateway"],
    ['a bad MTU', { mtu: 65536 }, 'invalid MTU 65536'],
  ])('refuses %s with code 7, naming the driver', (_what, options, message) => {
    try {
      linklessConfig('null', request(options));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BerthError);
      expect((e as BerthError).code).toBe(7);
      expect((e as BerthError).msg).toBe(message);
    }
  });
});
