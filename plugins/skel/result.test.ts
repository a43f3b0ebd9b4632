import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { CniResult, CniVersion } from '../types.js';
import { convertResult, decodeResult, encodeResult } from './result.js';
import { SUPPORTED_VERSIONS } from './version.js';

// One attachment (a bridge, its host veth, the container's eth0 with two
// addresses) written as each version writes it. Only 1.1.0 has the interface
// mtu/socketPath/pciID and the route mtu/advmss/priority/table/scope.
const dns = { nameservers: ['10.88.0.1'], domain: 'example.org', search: ['example.org'], options: ['ndots:2'] };

const golden11 = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:58:00:01', mtu: 1500 },
    { name: 'veth1234', mac: '0a:58:0a:58:00:02' },
    {
      name: 'eth0',
      mac: '0a:58:0a:58:00:05',
      sandbox: '/run/netns/c1',
      mtu: 1500,
      socketPath: '/run/vhost/c1.sock',
      pciID: '0000:00:1f.0',
    },
  ],
  ips: [
    { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.88.0.1' },
    { dst: '::/0', gw: 'fd00::1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 },
  ],
  dns,
};

const golden10 = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:58:00:01' },
    { name: 'veth1234', mac: '0a:58:0a:58:00:02' },
    { name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1' },
  ],
  ips: [
    { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.88.0.1' },
    { dst: '::/0', gw: 'fd00::1' },
  ],
  dns,
};

const golden0x = (cniVersion: '0.3.0' | '0.3.1' | '0.4.0') => ({
  cniVersion,
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:58:00:01' },
    { name: 'veth1234', mac: '0a:58:0a:58:00:02' },
    { name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1' },
  ],
  ips: [
    { version: '4', address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 },
    { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.88.0.1' },
    { dst: '::/0', gw: 'fd00::1' },
  ],
  dns,
});

const golden: Record<CniVersion, object> = {
  '0.3.0': golden0x('0.3.0'),
  '0.3.1': golden0x('0.3.1'),
  '0.4.0': golden0x('0.4.0'),
  '1.0.0': golden10,
  '1.1.0': golden11,
};

/** The same attachment in the current shape, as a plugin returns it. */
const current: CniResult = {
  interfaces: golden11.interfaces,
  ips: golden11.ips,
  routes: golden11.routes,
  dns,
};
/** What survives a trip through a version older than 1.1.0. */
const currentWithout11: CniResult = {
  interfaces: golden10.interfaces,
  ips: golden10.ips,
  routes: golden10.routes,
  dns,
};

describe('result conversion between every pair of versions', () => {
  for (const from of SUPPORTED_VERSIONS) {
    for (const to of SUPPORTED_VERSIONS) {
      it(`${from} → ${to}`, () => {
        // 1.1.0's extra fields cannot come back once an older version dropped them.
        const expected = to === '1.1.0' && from !== '1.1.0' ? { ...golden10, cniVersion: '1.1.0' } : golden[to];
        expect(convertResult(golden[from], to)).toEqual(expected);
      });
    }
  }
});

describe('encodeResult', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`writes the current shape as ${v}`, () => {
      expect(encodeResult(current, v)).toEqual(golden[v]);
    });
  }

  it('leaves out empty lists and an empty dns, as the reference does with omitempty', () => {
    expect(encodeResult({ interfaces: [], ips: [], routes: [], dns: {} }, '1.0.0')).toEqual({ cniVersion: '1.0.0' });
    expect(encodeResult({ dns: { nameservers: [], domain: '' } }, '0.4.0')).toEqual({ cniVersion: '0.4.0' });
    expect(encodeResult({}, '1.1.0')).toEqual({ cniVersion: '1.1.0' });
  });

  it('writes an IPAM result (no interfaces, no interface index)', () => {
    expect(encodeResult({ ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }] }, '0.3.1')).toEqual({
      cniVersion: '0.3.1',
      ips: [{ version: '4', address: '10.1.0.2/24', gateway: '10.1.0.1' }],
    });
  });

  it('fails as an internal error when a plugin returns an address that is not one (0.x needs its family)', () => {
    expect(failure(() => encodeResult({ ips: [{ address: 'nope/24' }] }, '0.4.0'))).toMatchObject({
      code: 999,
      msg: 'result address "nope/24" is not an IP address in CIDR notation',
    });
  });
});

describe('decodeResult', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`reads a ${v} result into the current shape`, () => {
      expect(decodeResult(golden[v])).toEqual(v === '1.1.0' ? current : currentWithout11);
    });
  }

  it('reads a result without cniVersion (libcni fills it in, other runtimes may not)', () => {
    const { cniVersion: _, ...rest } = golden10;
    expect(decodeResult(rest)).toEqual(currentWithout11);
  });

  it('derives the family itself instead of trusting ips[].version', () => {
    const r = decodeResult({ cniVersion: '0.4.0', ips: [{ version: '6', address: '10.0.0.2/8' }] });
    expect(encodeResult(r, '0.4.0').ips).toEqual([{ version: '4', address: '10.0.0.2/8' }]);
  });

  it('drops fields no version defines', () => {
    expect(decodeResult({ ips: [{ address: '10.0.0.2/8', colour: 'blue' }], extra: 1 })).toEqual({
      ips: [{ address: '10.0.0.2/8' }],
    });
  });

  it('treats null like absent, as Go does', () => {
    expect(decodeResult({ cniVersion: '1.0.0', interfaces: null, ips: null, dns: null, routes: null })).toEqual({});
  });

  it('refuses versions with another shape, code 1', () => {
    expect(failure(() => decodeResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/8' } }, 'prevResult'))).toEqual({
      code: 1,
      msg: 'prevResult has the unsupported cniVersion "0.2.0"',
      details: 'berth reads results of versions 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
    });
  });

  it('names the bad field and value, code 7', () => {
    const cases: [unknown, string][] = [
      [[], 'prevResult must be an object, not an array'],
      [{ interfaces: {} }, 'prevResult.interfaces must be an array, not an object'],
      [{ interfaces: [{ mac: 'x' }] }, 'prevResult.interfaces[0].name is missing'],
      [
        { interfaces: [{ name: 'eth0', mtu: -1 }] },
        'prevResult.interfaces[0].mtu must be a whole number from 0 to 4294967295, not -1',
      ],
      [
        { interfaces: [{ name: 'eth0', mtu: '1500' }] },
        'prevResult.interfaces[0].mtu must be a whole number from 0 to 4294967295, not "1500"',
      ],
      [{ ips: [{ gateway: '10.0.0.1' }] }, 'prevResult.ips[0].address is missing'],
      [{ ips: [{ address: '10.0.0.2' }] }, 'prevResult.ips[0].address "10.0.0.2" is not an address in CIDR notation'],
      [
        { ips: [{ address: '10.0.0.2/33' }] },
        'prevResult.ips[0].address "10.0.0.2/33" is not an address in CIDR notation',
      ],
      [
        { ips: [{ address: 'fd00::2/129' }] },
        'prevResult.ips[0].address "fd00::2/129" is not an address in CIDR notation',
      ],
      [{ ips: [{ address: 'x/8' }] }, 'prevResult.ips[0].address "x/8" is not an address in CIDR notation'],
      [
        { ips: [{ address: '10.0.0.2/8', gateway: '10.0.0' }] },
        'prevResult.ips[0].gateway "10.0.0" is not an IP address',
      ],
      [
        { ips: [{ address: '10.0.0.2/8', interface: 1.5 }] },
        'prevResult.ips[0].interface must be a whole number from 0 to 4294967295, not 1.5',
      ],
      [{ routes: [{ gw: '10.0.0.1' }] }, 'prevResult.routes[0].dst is missing'],
      [{ routes: [{ dst: 'default' }] }, 'prevResult.routes[0].dst "default" is not an address in CIDR notation'],
      [{ routes: [{ dst: '0.0.0.0/0', gw: 'router' }] }, 'prevResult.routes[0].gw "router" is not an IP address'],
      [
        { routes: [{ dst: '0.0.0.0/0', table: 2 ** 32 }] },
        'prevResult.routes[0].table must be a whole number from 0 to 4294967295, not 4294967296',
      ],
      [{ dns: { nameservers: '1.1.1.1' } }, 'prevResult.dns.nameservers must be an array, not "1.1.1.1"'],
      [{ dns: { search: [1] } }, 'prevResult.dns.search[0] must be a string, not 1'],
    ];
    for (const [raw, msg] of cases) {
      expect(failure(() => decodeResult(raw, 'prevResult'))).toMatchObject({ code: 7, msg });
    }
  });
});
