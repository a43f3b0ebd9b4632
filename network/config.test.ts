import { describe, expect, it } from 'vitest';
import { type NetworkConfig, overlaps, pickSubnet, resolveNetwork } from './config.js';

const web = resolveNetwork({ name: 'web', subnet: '10.89.0.0/24' }, []);

describe('resolveNetwork', () => {
  it('fills the defaults of a bridge network', () => {
    expect(web).toEqual({
      name: 'web',
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      driver: 'bridge',
      bridgeName: 'berth-web',
      subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1', prefixLength: 24 }],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: true,
      promiscuous: false,
    });
  });

  it('picks the first free /24 of the default pool when no subnet is given', () => {
    expect(resolveNetwork({ name: 'db' }, [web]).subnets[0]!.subnet).toBe('10.89.1.0/24');
    expect(pickSubnet(['10.89.0.0/23'])).toBe('10.89.2.0/24');
  });

  it('names a hashed bridge when berth-<name> would pass 15 bytes', () => {
    expect(resolveNetwork({ name: 'a-very-long-name', subnet: '10.1.0.0/16' }, []).bridgeName).toMatch(
      /^br-[0-9a-f]{12}$/,
    );
  });

  it('takes an IPv6 subnet beside the IPv4 one', () => {
    const n = resolveNetwork({ name: 'v6', subnet: '10.2.0.0/24', subnet6: 'fd00:1::/64' }, []);
    expect(n.subnets[1]).toEqual({ subnet: 'fd00:1::/64', gateway: 'fd00:1::1', prefixLength: 64 });
  });

  it.each<[string, Parameters<typeof resolveNetwork>[0], string]>([
    ['an invalid subnet', { name: 'x', subnet: '10.0.0.0/33' }, 'invalid subnet "10.0.0.0/33"'],
    [
      'host bits',
      { name: 'x', subnet: '10.0.0.5/24' },
      'subnet 10.0.0.5/24 has host bits set: did you mean 10.0.0.0/24?',
    ],
    [
      'a gateway outside',
      { name: 'x', subnet: '10.0.0.0/24', gateway: '10.0.1.1' },
      'gateway 10.0.1.1 is outside the subnet 10.0.0.0/24',
    ],
    [
      'a broadcast gateway',
      { name: 'x', subnet: '10.0.0.0/24', gateway: '10.0.0.255' },
      'gateway 10.0.0.255 is the network or broadcast address',
    ],
    [
      'an overlap',
      { name: 'x', subnet: '10.89.0.128/25' },
      'subnet 10.89.0.128/25 overlaps network "web" (10.89.0.0/24)',
    ],
    ['a taken name', { name: 'web', subnet: '10.3.0.0/24' }, 'a network named "web" already exists'],
    ['a bad name', { name: '-web' }, 'invalid network name "-web"'],
    [
      'a long bridge name',
      { name: 'x', subnet: '10.3.0.0/24', bridgeName: 'abcdefghijklmnop' },
      'invalid bridge name "abcdefghijklmnop"',
    ],
    [
      'a taken bridge',
      { name: 'x', subnet: '10.3.0.0/24', bridgeName: 'berth-web' },
      'bridge berth-web already belongs to network "web"',
    ],
    ['a bad MTU', { name: 'x', subnet: '10.3.0.0/24', mtu: 50 }, 'invalid MTU 50'],
    [
      'a subnet on host',
      { name: 'x', driver: 'host', subnet: '10.3.0.0/24' },
      'the host driver takes no subnet or bridge',
    ],
    ['names on host', { name: 'x', driver: 'host', dns: true }, 'the host driver has no names'],
    [
      'a bad domain',
      { name: 'x', subnet: '10.3.0.0/24', dns: { domain: 'a..b' } },
      'invalid DNS domain "a..b": not a DNS name',
    ],
  ])('refuses %s with a message that names the value', (_what, opts, message) => {
    expect(() => resolveNetwork(opts, [web as NetworkConfig])).toThrow(message);
  });
});

describe('a macvlan network', () => {
  const lan = { name: 'lan', driver: 'macvlan', subnet: '192.168.7.0/24', gateway: '192.168.7.254' } as const;

  it("keeps its parent and mode, the LAN's router as gateway, the parent's MTU, and nothing of a bridge", () => {
    expect(resolveNetwork({ ...lan, macvlan: { parent: 'eth0' } }, [web])).toEqual({
      name: 'lan',
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      driver: 'macvlan',
      bridgeName: '',
      subnets: [{ subnet: '192.168.7.0/24', gateway: '192.168.7.254', prefixLength: 24 }],
      mtu: 0,
      masquerade: false,
      isolate: false,
      hairpin: false,
      promiscuous: false,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    });
    const vepa = resolveNetwork({ ...lan, mtu: 1400, macvlan: { parent: 'eth0', mode: 'vepa' } }, []);
    expect(vepa).toMatchObject({ mtu: 1400, macvlan: { parent: 'eth0', mode: 'vepa' } });
  });

  it('keeps a bridge network off its subnet, as it keeps off theirs', () => {
    const mv = resolveNetwork({ ...lan, subnet: '10.89.1.0/24', gateway: '10.89.1.1', macvlan: { parent: 'eth0' } }, [
      web,
    ]);
    expect(() => resolveNetwork({ name: 'db', subnet: '10.89.1.128/25' }, [web, mv])).toThrow(
      'subnet 10.89.1.128/25 overlaps network "lan" (10.89.1.0/24)',
    );
    expect(resolveNetwork({ name: 'db' }, [web, mv]).subnets[0]!.subnet).toBe('10.89.2.0/24');
  });

  // Its own refusals (parent, mode, MTU, a bridge network's keys) are drivers/macvlan/config.test.ts's.
  it("refuses a bridge network's subnet, and what its driver refuses", () => {
    expect(() =>
      resolveNetwork({ ...lan, subnet: '10.89.0.0/16', gateway: '10.89.7.1', macvlan: { parent: 'eth0' } }, [web]),
    ).toThrow('subnet 10.89.0.0/16 overlaps network "web" (10.89.0.0/24)');
    expect(() => resolveNetwork({ ...lan }, [web])).toThrow(
      'macvlan network lan needs a parent: the device on the LAN',
    );
  });
});

describe("a network's driver", () => {
  it('is asked for its part after the name, and refuses what it does not make', () => {
    expect(() => resolveNetwork({ name: 'web', driver: 'overlay', subnet: '10.240.0.0/16' }, [web])).toThrow(
      'a network named "web" already exists',
    );
    expect(() => resolveNetwork({ name: 'o', driver: 'overlay', subnet: '10.240.0.0/16' }, [web])).toThrow(
      'overlay network o is not made here',
    );
    expect(() => resolveNetwork({ name: 'c', driver: 'container' }, [web])).toThrow('unknown driver "container"');
    expect(() => resolveNetwork({ name: 'v', driver: 'vlan' as never }, [web])).toThrow('unknown driver "vlan"');
  });

  it('gets the common part from here: name, id and driver', () => {
    expect(resolveNetwork({ name: 'h', driver: 'null' }, [web])).toEqual({
      name: 'h',
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      driver: 'null',
      bridgeName: '',
      subnets: [],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: true,
      promiscuous: false,
    });
  });
});

describe('dns', () => {
  it('is off unless asked; true is on without a domain; a domain is kept lower-case', () => {
    expect(resolveNetwork({ name: 'a', subnet: '10.3.0.0/24' }, []).dns).toBeUndefined();
    expect(resolveNetwork({ name: 'a', subnet: '10.3.0.0/24', dns: false }, []).dns).toBeUndefined();
    expect(resolveNetwork({ name: 'a', subnet: '10.3.0.0/24', dns: true }, []).dns).toEqual({});
    expect(resolveNetwork({ name: 'a', subnet: '10.3.0.0/24', dns: { domain: 'Web.Example' } }, []).dns).toEqual({
      domain: 'web.example',
    });
  });
});

describe('overlaps', () => {
  it('sees containment both ways and ignores other families', () => {
    expect(overlaps('10.0.0.0/8', '10.1.0.0/16')).toBe(true);
    expect(overlaps('10.1.0.0/16', '10.0.0.0/8')).toBe(true);
    expect(overlaps('10.1.0.0/16', '10.2.0.0/16')).toBe(false);
    expect(overlaps('10.0.0.0/8', 'fd00::/8')).toBe(false);
  });
});
