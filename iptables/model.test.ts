import { describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../base/errors.js';
import { familiesOf, normalizeRules, ownerTag, validateOwner } from './model.js';

const bad = (f: () => unknown, msg: RegExp) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    expect((e as BerthError).code).toBe(ErrorCode.InvalidConfig);
    expect((e as BerthError).message).toMatch(msg);
    return;
  }
  throw new Error('expected an InvalidConfig error');
};

describe('normalizeRules', () => {
  it('puts addresses in the form nft and iptables print', () => {
    const r = normalizeRules({
      masquerade: [
        { source: 'FD00:0:0::7', subnet: 'fd00:0::/64' },
        { source: '10.0.0.9/32', subnet: '10.0.0.0/24' },
        { source: '::ffff:10.0.0.8', subnet: '10.0.0.0/24' },
      ],
      ports: [{ protocol: 'tcp', hostIP: '0.0.0.0', hostPort: 80, containerIP: '10.0.0.9', containerPort: 8080 }],
    });
    expect(r.masquerade).toEqual([
      { source: 'fd00::7', subnet: 'fd00::/64' },
      { source: '10.0.0.9', subnet: '10.0.0.0/24' },
      { source: '10.0.0.8', subnet: '10.0.0.0/24' },
    ]);
    expect(r.ports).toEqual([{ protocol: 'tcp', hostPort: 80, containerIP: '10.0.0.9', containerPort: 8080 }]);
    expect(r.bridges).toEqual([]);
  });

  it('drops exact duplicates', () => {
    const p = { protocol: 'udp' as const, hostPort: 53, containerIP: '10.0.0.2', containerPort: 53 };
    expect(normalizeRules({ ports: [p, p] }).ports).toHaveLength(1);
  });

  it('names the bad value', () => {
    bad(
      () => normalizeRules({ masquerade: [{ source: '10.0.0.300', subnet: '10.0.0.0/24' }] }),
      /masquerade\[0\]\.source "10\.0\.0\.300"/,
    );
    bad(
      () => normalizeRules({ masquerade: [{ source: '10.0.0.3', subnet: '10.0.0.7/24' }] }),
      /host bits.*did you mean 10\.0\.0\.0\/24/,
    );
    bad(
      () => normalizeRules({ masquerade: [{ source: '10.0.0.3', subnet: 'fd00::/64' }] }),
      /different address families/,
    );
    bad(
      () =>
        normalizeRules({
          masquerade: [
            { source: '10.0.0.3', subnet: '10.0.0.0/24' },
            { source: '10.0.0.3', subnet: '10.0.0.0/16' },
          ],
        }),
      /listed with subnets/,
    );
    bad(
      () => normalizeRules({ bridges: [{ name: 'a-name-far-too-long', subnets: [], isolate: true }] }),
      /interface name/,
    );
    bad(() => normalizeRules({ bridges: [{ name: 'br"0', subnets: [], isolate: true }] }), /quotes/);
    bad(
      () => normalizeRules({ bridges: [{ name: 'br0', subnets: [], isolate: 'yes' as unknown as boolean }] }),
      /isolate "yes" is not a boolean/,
    );
    bad(
      () =>
        normalizeRules({
          ports: [{ protocol: 'icmp' as 'tcp', hostPort: 1, containerIP: '10.0.0.2', containerPort: 1 }],
        }),
      /protocol "icmp"/,
    );
    bad(
      () => normalizeRules({ ports: [{ protocol: 'tcp', hostPort: 0, containerIP: '10.0.0.2', containerPort: 1 }] }),
      /hostPort 0 is not a port/,
    );
    bad(
      () =>
        normalizeRules({ ports: [{ protocol: 'tcp', hostPort: 1, containerIP: '10.0.0.2', containerPort: 70000 }] }),
      /containerPort 70000/,
    );
    bad(
      () =>
        normalizeRules({
          ports: [{ protocol: 'tcp', hostIP: '::1', hostPort: 1, containerIP: 'fd00::2', containerPort: 1 }],
        }),
      /::1 cannot be published/,
    );
    bad(
      () =>
        normalizeRules({
          ports: [{ protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 1, containerIP: 'fd00::2', containerPort: 1 }],
        }),
      /different address families/,
    );
    bad(
      () =>
        normalizeRules({
          ports: [
            { protocol: 'tcp', hostPort: 80, containerIP: '10.0.0.2', containerPort: 80 },
            { protocol: 'tcp', hostPort: 80, containerIP: '10.0.0.3', containerPort: 80 },
          ],
        }),
      /host port 80\/tcp is already mapped to 10\.0\.0\.2:80/,
    );
  });

  it('lets one host port go to a v4 and a v6 container address', () => {
    const r = normalizeRules({
      ports: [
        { protocol: 'tcp', hostPort: 80, containerIP: '10.0.0.2', containerPort: 80 },
        { protocol: 'tcp', hostPort: 80, containerIP: 'fd00::2', containerPort: 80 },
      ],
    });
    expect([...familiesOf(r)].sort()).toEqual([4, 6]);
  });
});

describe('owners', () => {
  it('tags safe ids as they are and others by hash', () => {
    expect(ownerTag({ kind: 'container', id: 'abc123' })).toBe('berth container abc123');
    expect(ownerTag({ kind: 'network', id: 'x'.repeat(200) })).toMatch(/^berth network #[0-9a-f]{32}$/);
    expect(ownerTag({ kind: 'network', id: 'a b' })).not.toBe(ownerTag({ kind: 'network', id: 'a c' }));
  });

  it('refuses an unknown kind or an empty id', () => {
    bad(() => validateOwner({ kind: 'pod' as 'network', id: 'x' }), /kind "pod"/);
    bad(() => validateOwner({ kind: 'network', id: '' }), /id "" is empty/);
  });
});
