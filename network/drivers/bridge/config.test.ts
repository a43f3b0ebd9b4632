import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../base/errors.js';
import { web as webRecord } from '../../testdata/state.js';
import type { NetworkConfig, NetworkOptions, NetworkRequest, SubnetConfig } from '../options.js';
import { configureBridge, defaultBridgeName } from './config.js';

const subnet: SubnetConfig = { subnet: '10.3.0.0/24', gateway: '10.3.0.1', prefixLength: 24 };
const web: NetworkConfig = webRecord;

const request = (
  options: Omit<NetworkOptions, 'name'>,
  existing: readonly NetworkConfig[] = [web],
  name = 'db',
): NetworkRequest => ({ options: { name, ...options }, name, id: '0123456789ab', existing, subnets: () => [subnet] });

const refusal = (req: NetworkRequest): string => {
  try {
    configureBridge(req);
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    expect((e as BerthError).code).toBe(7);
    return `${(e as BerthError).msg}: ${(e as BerthError).details}`;
  }
  return '';
};

describe('configureBridge', () => {
  it('fills the defaults of a bridge network around the subnets it is given', () => {
    expect(configureBridge(request({}))).toEqual({
      bridgeName: 'berth-db',
      subnets: [subnet],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: true,
      promiscuous: false,
    });
    expect(
      configureBridge(request({ mtu: 9000, masquerade: false, isolate: false, hairpin: false, promiscuous: true })),
    ).toMatchObject({ mtu: 9000, masquerade: false, isolate: false, hairpin: false, promiscuous: true });
  });

  it('names a hashed bridge when berth-<name> would pass 15 bytes', () => {
    expect(defaultBridgeName('db', '0123456789ab')).toBe('berth-db');
    expect(defaultBridgeName('a-very-long-name', '0123456789ab')).toBe('br-0123456789ab');
    expect(configureBridge(request({}, [], 'a-very-long-name')).bridgeName).toBe('br-0123456789ab');
  });

  it('keeps names off unless asked, and a domain lower-case', () => {
    expect(configureBridge(request({ dns: false })).dns).toBeUndefined();
    expect(configureBridge(request({ dns: true })).dns).toEqual({});
    expect(configureBridge(request({ dns: { domain: 'Web.Example' } })).dns).toEqual({ domain: 'web.example' });
  });

  it.each<[string, Omit<NetworkOptions, 'name'>, readonly NetworkConfig[], string]>([
    ['a bad MTU', { mtu: 50 }, [web], 'invalid MTU 50: give a whole number from 68 to 65535'],
    ['a long bridge name', { bridgeName: 'abcdefghijklmnop' }, [web], 'invalid bridge name "abcdefghijklmnop"'],
    [
      "a bridge network's bridge",
      { bridgeName: 'berth-web' },
      [web],
      'bridge berth-web already belongs to network "web": give another bridgeName',
    ],
    [
      "an overlay network's bridge",
      { bridgeName: 'berth-web' },
      [{ ...web, driver: 'overlay' }],
      'bridge berth-web already belongs to network "web"',
    ],
    ['a bad domain', { dns: { domain: 'a..b' } }, [web], 'invalid DNS domain "a..b": not a DNS name'],
    ['a dns that is neither', { dns: 'yes' as never }, [web], 'invalid dns "yes"'],
  ])('refuses %s, naming the value', (_what, options, existing, message) => {
    expect(refusal(request(options, existing))).toContain(message);
  });

  it("takes a bridge name a host or macvlan network's empty one does not hold", () => {
    expect(configureBridge(request({}, [{ ...web, driver: 'macvlan', bridgeName: 'berth-db' }])).bridgeName).toBe(
      'berth-db',
    );
  });
});
