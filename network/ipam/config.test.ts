import { describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { parseIpamConfig, requestedIpFromArgs } from './config.js';
import { parseResolvConf } from './dns.js';
import { rangeText } from './range.js';

function failure(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

const net = (ipam: unknown, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'mynet',
  type: 'bridge',
  ipam,
  ...extra,
});

describe('parseIpamConfig', () => {
  it('reads host-local ranges for dual stack with defaults', () => {
    const c = parseIpamConfig(
      net({
        type: 'host-local',
        ranges: [
          [{ subnet: '10.22.0.0/24', rangeStart: '10.22.0.10' }, { subnet: '10.23.0.0/24' }],
          [{ subnet: 'fd00:22::/64' }],
        ],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:22::1' }],
      }),
    );
    expect(c.name).toBe('mynet');
    expect(c.type).toBe('host-local');
    expect(c.dataDir).toBe('/var/lib/cni/networks');
    expect(c.rangeSets.map((s) => s.map(rangeText))).toEqual([
      ['10.22.0.0/24 (10.22.0.10-10.22.0.254)', '10.23.0.0/24 (10.23.0.1-10.23.0.254)'],
      ['fd00:22::/64 (fd00:22::1-fd00:22::ffff:ffff:ffff:ffff)'],
    ]);
    expect(c.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:22::1' }]);
    expect(c.requestedIPs).toEqual([]);
    expect(c.resolvConf).toBeUndefined();
  });

  it('reads the old single-range keys as a first set, before ranges', () => {
    const c = parseIpamConfig(
      net({
        type: 'host-local',
        subnet: '10.1.0.0/16',
        rangeStart: '10.1.5.0',
        rangeEnd: '10.1.5.99',
        gateway: '10.1.0.1',
        ranges: [[{ subnet: 'fd00::/64' }]],
        dataDir: '/run/berth/ipam',
        resolvConf: '/etc/resolv.conf',
      }),
    );
    expect(c.rangeSets.map((s) => s.map(rangeText))).toEqual([
      ['10.1.0.0/16 (10.1.5.0-10.1.5.99)'],
      ['fd00::/64 (fd00::1-fd00::ffff:ffff:ffff:ffff)'],
    ]);
    expect(c.dataDir).toBe('/run/berth/ipam');
    expect(c.resolvConf).toBe('/etc/resolv.conf');
  });

  it('names the old keys as written in their errors', () => {
    expect(failure(() => parseIpamConfig(net({ subnet: '10.1.2.3/16' }))).msg).toBe(
      'ipam.subnet "10.1.2.3/16" has host bits set',
    );
  });

  it('puts runtime ipRanges first and collects requested IPs from every source', () => {
    const c = parseIpamConfig(
      net(
        { ranges: [[{ subnet: '10.2.0.0/24' }]] },
        {
          runtimeConfig: { ipRanges: [[{ subnet: '10.9.0.0/24' }]], ips: ['10.9.0.7/24'] },
          args: { cni: { ips: ['10.2.0.8'] } },
        },
      ),
      'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.9.0.5',
    );
    expect(c.rangeSets.map((s) => s[0]!.subnet)).toEqual(['10.9.0.0/24', '10.2.0.0/24']);
    expect(c.requestedIPs).toEqual(['10.9.0.5', '10.2.0.8', '10.9.0.7']);
  });

  it('rejects configs without ipam, name or ranges, saying what to add', () => {
    expect(failure(() => parseIpamConfig({ name: 'x' })).msg).toBe('the network config has no "ipam" object');
    expect(failure(() => parseIpamConfig({ ipam: {} })).msg).toBe('the network config has no "name"');
    const e = failure(() => parseIpamConfig(net({ type: 'host-local' })));
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.msg).toBe('the ipam section has no address ranges');
    expect(e.details).toContain('"ranges"');
  });

  it('rejects malformed ranges with the path of the bad value', () => {
    expect(failure(() => parseIpamConfig(net({ ranges: [{ subnet: '10.0.0.0/8' }] }))).msg).toMatch(
      /^ipam\.ranges\[0\] must be a list of ranges/,
    );
    expect(failure(() => parseIpamConfig(net({ ranges: [[{ subnet: 10 }]] }))).msg).toMatch(
      /^ipam\.ranges\[0\]\[0\] must be an object with a "subnet"/,
    );
    expect(failure(() => parseIpamConfig(net({ ranges: [[{ subnet: '10.0.0.0/8', gateway: 1 }]] }))).msg).toBe(
      'ipam.ranges[0][0].gateway must be a string, not 1',
    );
    expect(failure(() => parseIpamConfig(net({ ranges: [[{ subnet: '10.0.0.0/33' }]] }))).msg).toBe(
      'ipam.ranges[0][0].subnet "10.0.0.0/33" is not a valid subnet',
    );
  });

  it('rejects range sets that overlap each other', () => {
    const e = failure(() =>
      parseIpamConfig(net({ ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: '10.0.5.0/24' }]] })),
    );
    expect(e.msg).toBe('range sets ipam.ranges[0] and ipam.ranges[1] overlap');
  });

  it('allows two sets of one family from cniVersion 0.3.0 only', () => {
    const ipam = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }]] };
    expect(parseIpamConfig(net(ipam)).rangeSets).toHaveLength(2);
    expect(failure(() => parseIpamConfig(net(ipam, { cniVersion: '0.2.0' }))).msg).toBe(
      'cniVersion 0.2.0 allows one address per family, but the config has 2 IPv4 and 0 IPv6 range sets',
    );
  });

  it('keeps the 1.1.0 route attributes and checks their range', () => {
    const c = parseIpamConfig(
      net({
        subnet: '10.0.0.0/24',
        routes: [{ dst: '10.8.0.0/16', gw: '10.0.0.9', mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 }],
      }),
    );
    expect(c.routes).toEqual([
      { dst: '10.8.0.0/16', gw: '10.0.0.9', mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 },
    ]);
    const e = failure(() =>
      parseIpamConfig(net({ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', scope: 300 }] })),
    );
    expect(e.msg).toBe('ipam.routes[0].scope 300 is not a whole number from 0 to 255');
    expect(
      failure(() => parseIpamConfig(net({ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', mtu: '9000' }] }))).msg,
    ).toBe('ipam.routes[0].mtu "9000" is not a whole number from 0 to 4294967295');
  });

  it('rejects bad requested IPs and routes', () => {
    expect(failure(() => parseIpamConfig(net({ subnet: '10.0.0.0/24' }, { runtimeConfig: { ips: ['x'] } }))).msg).toBe(
      'runtimeConfig.ips[0] "x" is not an IP address',
    );
    expect(failure(() => parseIpamConfig(net({ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0' }] }))).msg).toBe(
      'ipam.routes[0].dst "0.0.0.0" is not a CIDR',
    );
    expect(
      failure(() => parseIpamConfig(net({ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }))).msg,
    ).toBe('ipam.routes[0].gw fd00::1 is not of the family of dst 0.0.0.0/0');
  });
});

describe('requestedIpFromArgs', () => {
  it('reads IP= and ignores other keys', () => {
    expect(requestedIpFromArgs('')).toBeUndefined();
    expect(requestedIpFromArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default')).toBeUndefined();
    expect(requestedIpFromArgs('IP=FD00::5')).toBe('fd00::5');
  });

  it('rejects malformed pairs and addresses with code 4', () => {
    const pair = failure(() => requestedIpFromArgs('IP'));
    expect(pair.code).toBe(ErrorCode.InvalidEnvironment);
    expect(pair.msg).toBe('CNI_ARGS holds "IP", not a KEY=VALUE pair');
    expect(failure(() => requestedIpFromArgs('IP=10.0.0')).msg).toBe('CNI_ARGS IP=10.0.0 is not an IP address');
  });
});

describe('parseResolvConf', () => {
  it('reads nameservers, domain, search and options as host-local does', () => {
    const text = [
      '# generated',
      'nameserver 10.0.0.53',
      '; old comment',
      'nameserver   fd00::53  ',
      'domain example.org',
      'search a.example b.example',
      'search c.example',
      'options ndots:5 edns0',
      'nameserver',
      '',
    ].join('\n');
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.0.0.53', 'fd00::53'],
      domain: 'example.org',
      search: ['a.example', 'b.example', 'c.example'],
      options: ['ndots:5', 'edns0'],
    });
    expect(parseResolvConf('')).toEqual({ nameservers: [], search: [], options: [] });
  });
});
