import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../base/errors.js';
import type { NetworkOptions, NetworkRequest, SubnetConfig } from '../options.js';
import { configureMacvlan } from './config.js';

const lanSubnet: SubnetConfig = { subnet: '192.168.7.0/24', gateway: '192.168.7.254', prefixLength: 24 };

/** A request whose subnets are the LAN's, counting how often the driver asked for them. */
function request(options: Omit<NetworkOptions, 'name'>) {
  const asked = { subnets: 0 };
  const req: NetworkRequest = {
    options: { name: 'lan', driver: 'macvlan', subnet: '192.168.7.0/24', ...options },
    name: 'lan',
    id: '0123456789ab',
    existing: [],
    subnets: () => {
      asked.subnets++;
      return [lanSubnet];
    },
  };
  return { req, asked };
}

describe('configureMacvlan', () => {
  it("keeps its parent and mode, the LAN's subnets, the parent's MTU, and nothing of a bridge", () => {
    expect(configureMacvlan(request({ macvlan: { parent: 'eth0' } }).req)).toEqual({
      bridgeName: '',
      subnets: [lanSubnet],
      mtu: 0,
      masquerade: false,
      isolate: false,
      hairpin: false,
      promiscuous: false,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    });
    expect(configureMacvlan(request({ mtu: 1400, macvlan: { parent: 'eth0', mode: 'vepa' } }).req)).toMatchObject({
      mtu: 1400,
      macvlan: { parent: 'eth0', mode: 'vepa' },
    });
    expect(
      configureMacvlan(request({ masquerade: false, dns: false, macvlan: { parent: 'eth0' } }).req).masquerade,
    ).toBe(false);
  });

  it.each<[string, Omit<NetworkOptions, 'name'>, string]>([
    ['no parent', {}, 'macvlan network lan needs a parent: the device on the LAN'],
    ['a bad parent name', { macvlan: { parent: 'a/b' } }, 'invalid parent device name "a/b"'],
    ['a bad mode', { macvlan: { parent: 'eth0', mode: 'source' as never } }, 'invalid macvlan mode "source"'],
    [
      'no subnet',
      { subnet: undefined, macvlan: { parent: 'eth0' } },
      'macvlan network lan needs the subnet of its LAN',
    ],
    [
      'masquerade and names',
      { masquerade: true, dns: true, macvlan: { parent: 'eth0' } },
      'a macvlan network has no masquerade, dns: its sandboxes are on the LAN with addresses of their own',
    ],
    ['a bridge', { bridgeName: 'br0', macvlan: { parent: 'eth0' } }, 'a macvlan network has no bridgeName'],
    ['MTU 0', { mtu: 0, macvlan: { parent: 'eth0' } }, 'invalid MTU 0'],
    ['a fractional MTU', { mtu: 1400.5, macvlan: { parent: 'eth0' } }, 'invalid MTU 1400.5'],
  ])('refuses %s with code 7 before it takes any subnet', (_what, options, message) => {
    const { req, asked } = request(options);
    try {
      configureMacvlan(req);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BerthError);
      expect((e as BerthError).code).toBe(7);
      expect((e as BerthError).msg).toContain(message);
    }
    expect(asked.subnets).toBe(0);
  });
});
