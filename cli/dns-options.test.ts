import { describe, expect, it } from 'vitest';
import { sandboxDnsOf } from './dns-options.js';
import { UsageError } from './usage.js';

describe('sandboxDnsOf', () => {
  it('gives nothing for no options, and settings and hosts for some', () => {
    expect(sandboxDnsOf({})).toEqual({});
    expect(
      sandboxDnsOf({
        dns: ['192.0.2.53'],
        'dns-search': ['example.org'],
        'dns-option': ['ndots:2'],
        'add-host': ['db:10.89.0.9', 'v6:[fd00::9]', 'raw6:fd00::10'],
      }),
    ).toEqual({
      dns: { nameservers: ['192.0.2.53'], search: ['example.org'], options: ['ndots:2'] },
      hosts: [
        { address: '10.89.0.9', names: ['db'] },
        { address: 'fd00::9', names: ['v6'] },
        { address: 'fd00::10', names: ['raw6'] },
      ],
    });
  });

  it.each([
    [{ 'add-host': ['db'] }, '--add-host "db" is not NAME:IP'],
    [{ 'add-host': ['db:'] }, '--add-host "db:" is not NAME:IP'],
    [{ 'add-host': ['db:10.0.0.300'] }, 'invalid hosts address "10.0.0.300"'],
    [{ dns: ['resolver'] }, 'invalid nameserver "resolver"'],
    [{ 'dns-option': ['two words'] }, 'invalid resolver option "two words"'],
  ])('refuses %j as bad usage: %s', (args, msg) => {
    expect(() => sandboxDnsOf(args)).toThrow(UsageError);
    expect(() => sandboxDnsOf(args)).toThrow(msg);
  });
});
