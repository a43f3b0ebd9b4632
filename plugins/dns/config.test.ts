import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../base/errors.js';
import { failure } from '../../base/testutil.js';
import {
  allInOneDnsConf,
  cniNames,
  cniNamesNetwork,
  containerAddresses,
  DEFAULT_DOMAIN,
  parseDnsConf,
  withNameServer,
} from './config.js';

const result = {
  interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/c1' }],
  ips: [
    { address: '10.95.0.5/24', gateway: '10.95.0.1', interface: 2 },
    { address: 'fd00:95::5/64', gateway: 'fd00:95::1', interface: 2 },
  ],
  dns: { nameservers: ['192.0.2.53'], search: ['example.org'] },
};

describe('parseDnsConf', () => {
  it("takes domainName and stateDir with dnsname's defaults", () => {
    expect(parseDnsConf({})).toEqual({ domainName: DEFAULT_DOMAIN, stateDir: '/var/lib/berth' });
    expect(parseDnsConf({ domainName: 'Web.Internal', stateDir: '/tmp/s' })).toEqual({
      domainName: 'web.internal',
      stateDir: '/tmp/s',
    });
  });

  it.each([
    [{ domainName: 5 }, '"domainName" must be a string, not 5'],
    [{ domainName: 'a..b' }, 'invalid domainName "a..b": not a DNS name'],
    [{ stateDir: '' }, 'invalid "stateDir" ""'],
  ])('refuses %j with code 7', (raw, msg) => {
    const f = failure(() => parseDnsConf(raw));
    expect(f.code).toBe(ErrorCode.InvalidConfig);
    expect(f.msg).toBe(msg);
  });
});

describe('allInOneDnsConf', () => {
  it('is on with true or a domainName under "dns", the stateDir the top level one; CNI\'s own dns keys leave it off', () => {
    expect(allInOneDnsConf({})).toBeUndefined();
    expect(allInOneDnsConf({ dns: false })).toBeUndefined();
    expect(allInOneDnsConf({ dns: { nameservers: ['192.0.2.53'] } })).toBeUndefined();
    expect(allInOneDnsConf({ dns: true, stateDir: '/s' })).toEqual({ domainName: DEFAULT_DOMAIN, stateDir: '/s' });
    expect(allInOneDnsConf({ dns: { domainName: 'x.test' } })).toEqual({
      domainName: 'x.test',
      stateDir: '/var/lib/berth',
    });
    expect(failure(() => allInOneDnsConf({ dns: 'yes' })).msg).toBe(
      '"dns" must be true, false or an object, not "yes"',
    );
    expect(failure(() => allInOneDnsConf({ dns: { domainName: '-x' } })).msg).toBe(
      'invalid dns.domainName "-x": not a DNS name',
    );
  });
});

describe('cniNames', () => {
  it('is K8S_POD_NAME, then the aliases podman sends for this network', () => {
    const args = new Map([['K8S_POD_NAME', 'Web']]);
    expect(cniNames(args, { aliases: { net1: ['www', 'web'], net2: ['other'] } }, 'net1')).toEqual(['web', 'www']);
    expect(cniNames(args, {}, 'net1')).toEqual(['web']);
    expect(cniNames(new Map(), { aliases: ['a1'] }, 'net1')).toEqual(['a1']);
    expect(cniNames(new Map(), { aliases: { other: ['x'] } }, 'net1')).toEqual([]);
  });

  it('refuses a name that is no DNS name, and aliases that are no list, with code 7', () => {
    expect(failure(() => cniNames(new Map([['K8S_POD_NAME', 'bad_-']]), {}, 'n'))).toMatchObject({
      code: 7,
      msg: 'invalid K8S_POD_NAME "bad_-": not a DNS name',
    });
    expect(failure(() => cniNames(new Map(), { aliases: { n: 'www' } }, 'n')).msg).toBe(
      'runtimeConfig.aliases for network n is not a list of names: "www"',
    );
  });
});

describe('cniNamesNetwork', () => {
  it('listens on the gateways, answers for the subnets, under the domain', () => {
    expect(cniNamesNetwork('net1', result, 'dns.berth')).toEqual({
      network: 'net1',
      listen: ['10.95.0.1', 'fd00:95::1'],
      subnets: ['10.95.0.0/24', 'fd00:95::/64'],
      domain: 'dns.berth',
    });
  });

  it('refuses a result without a gateway with code 7, saying to chain after a gateway bridge', () => {
    const f = failure(() => cniNamesNetwork('net1', { ips: [{ address: '10.95.0.5/24' }] }, 'dns.berth'));
    expect(f.code).toBe(ErrorCode.InvalidConfig);
    expect(f.details).toMatch(/"isGateway": true/);
  });
});

describe('containerAddresses and withNameServer', () => {
  it("takes the container's addresses without prefix, and puts the name service first in the dns", () => {
    expect(containerAddresses(result)).toEqual(['10.95.0.5', 'fd00:95::5']);
    const settings = cniNamesNetwork('net1', result, 'dns.berth');
    expect(withNameServer(result, settings).dns).toEqual({
      nameservers: ['10.95.0.1', 'fd00:95::1', '192.0.2.53'],
      domain: 'dns.berth',
      search: ['dns.berth', 'example.org'],
    });
  });
});
