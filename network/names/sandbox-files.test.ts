import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../base/errors.js';
import { failure } from '../../base/testutil.js';
import { sandboxBinds, sandboxHosts, sandboxResolvConf, validateDnsSettings } from './sandbox-files.js';

const host = {
  text: 'nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n',
  systemdText: 'nameserver 192.0.2.1\n',
};

describe('sandboxResolvConf', () => {
  it('points at the name services of its networks, their domains searched before the host domains', () => {
    const text = sandboxResolvConf(
      undefined,
      [{ listen: ['10.89.0.1'], domain: 'dns.berth' }, { listen: ['10.90.0.1'] }],
      host,
    );
    expect(text).toBe(
      '# written by berth for this sandbox\nnameserver 10.89.0.1\nnameserver 10.90.0.1\nsearch dns.berth corp.example\noptions edns0\n',
    );
  });

  it("without a name service, has the host's resolvers a sandbox can reach (the stub's upstreams)", () => {
    expect(sandboxResolvConf(undefined, [], host)).toContain('nameserver 192.0.2.1\nsearch corp.example\n');
    expect(sandboxResolvConf(undefined, [], { text: 'nameserver 127.0.0.1\nnameserver ::1\n' })).toBe(
      '# written by berth for this sandbox\n',
    );
  });

  it('takes what was given over anything else', () => {
    const text = sandboxResolvConf(
      { nameservers: ['192.0.2.53'], search: ['a.example'], options: ['ndots:2'] },
      [{ listen: ['10.89.0.1'], domain: 'dns.berth' }],
      host,
    );
    expect(text).toBe(
      '# written by berth for this sandbox\nnameserver 192.0.2.53\nsearch a.example\noptions ndots:2\n',
    );
  });
});

describe('sandboxHosts', () => {
  it('has localhost, its own addresses under its name, then the entries given', () => {
    const text = sandboxHosts({ name: 'api', addresses: ['10.89.0.2'] }, [
      { address: '192.0.2.7', names: ['db', 'db.example'] },
    ]);
    const lines = text.split('\n');
    expect(lines).toContain('127.0.0.1\tlocalhost');
    expect(lines).toContain('10.89.0.2\tapi');
    expect(lines.at(-2)).toBe('192.0.2.7\tdb db.example');
  });
});

describe('validateDnsSettings', () => {
  it('takes good settings', () => {
    expect(() =>
      validateDnsSettings(
        { nameservers: ['192.0.2.1', 'fd00::1'], search: ['example.org'], options: ['ndots:2', 'edns0'] },
        [{ address: '192.0.2.7', names: ['db'] }],
      ),
    ).not.toThrow();
  });

  it.each([
    [{ nameservers: ['not-an-ip'] }, undefined, 'invalid nameserver "not-an-ip"'],
    [{ nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'] }, undefined, '4 nameservers given'],
    [{ search: ['bad..domain'] }, undefined, 'invalid search domain "bad..domain": not a DNS name'],
    [{ options: ['ndots 2'] }, undefined, 'invalid resolver option "ndots 2"'],
    [undefined, [{ address: '10.0.0.300', names: ['x'] }], 'invalid hosts address "10.0.0.300"'],
    [undefined, [{ address: '10.0.0.3', names: [] }], 'hosts entry 10.0.0.3 has no name'],
    [undefined, [{ address: '10.0.0.3', names: ['-x'] }], 'invalid host name "-x": not a DNS name'],
  ])('refuses %j %j with code 7: %s', (dns, hosts, msg) => {
    const f = failure(() => validateDnsSettings(dns, hosts));
    expect(f.code).toBe(ErrorCode.InvalidConfig);
    expect(f.msg).toBe(msg);
  });
});

describe('sandboxBinds', () => {
  it('binds resolv.conf and hosts over /etc', () => {
    expect(sandboxBinds('/etc/netns/api')).toEqual([
      { source: '/etc/netns/api/resolv.conf', target: '/etc/resolv.conf' },
      { source: '/etc/netns/api/hosts', target: '/etc/hosts' },
    ]);
  });
});
