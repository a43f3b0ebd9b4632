import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { OverlayNetwork } from './model.js';
import { resolveOverlay } from './spec.js';

const at = '2026-01-01T00:00:00.000Z';
const web = resolveOverlay({ name: 'web', subnet: '10.240.0.0/16' }, [], at);

describe('resolveOverlay', () => {
  it('fills the defaults: the lowest free VNI, /24 blocks, the MTU from the underlay', () => {
    expect(web).toEqual({ name: 'web', subnet: '10.240.0.0/16', blockPrefix: 24, vni: 1, mtu: 0, createdAt: at });
    expect(resolveOverlay({ name: 'db', subnet: '10.241.0.0/16' }, [web], at).vni).toBe(2);
    expect(
      resolveOverlay({ name: 'db', subnet: '10.241.0.0/16', vni: 7, mtu: 1400, blockPrefix: 26 }, [web], at),
    ).toMatchObject({
      vni: 7,
      mtu: 1400,
      blockPrefix: 26,
    });
    expect(resolveOverlay({ name: 'db', subnet: '10.241.0.0/16', dns: { domain: 'x.test' } }, [web], at).dns).toEqual({
      domain: 'x.test',
    });
  });

  it.each<[string, Parameters<typeof resolveOverlay>[0], readonly OverlayNetwork[], string]>([
    ['a taken name', { name: 'web', subnet: '10.9.0.0/16' }, [web], 'an overlay network named "web" already exists'],
    [
      'an overlapping subnet',
      { name: 'db', subnet: '10.240.128.0/17' },
      [web],
      'overlay subnet 10.240.128.0/17 overlaps overlay network "web" (10.240.0.0/16)',
    ],
    ['a VNI in use', { name: 'db', subnet: '10.9.0.0/16', vni: 1 }, [web], 'VNI 1 is in use by overlay network "web"'],
    ['a VNI too large', { name: 'db', subnet: '10.9.0.0/16', vni: 16777216 }, [], 'invalid VNI 16777216'],
    ['VNI 0', { name: 'db', subnet: '10.9.0.0/16', vni: 0 }, [], 'invalid VNI 0'],
    [
      'a subnet too small for a block',
      { name: 'db', subnet: '10.9.0.0/26' },
      [],
      'overlay subnet 10.9.0.0/26 is too small for a block of /24',
    ],
    ['no subnet', { name: 'db' } as never, [], 'overlay network db needs a subnet'],
    ['a bad MTU', { name: 'db', subnet: '10.9.0.0/16', mtu: 20 }, [], 'invalid MTU 20'],
    ['a bad name', { name: '-x', subnet: '10.9.0.0/16' }, [], 'invalid network name "-x"'],
  ])('refuses %s with code 7 and a fix', (_, opts, existing, msg) => {
    const f = failure(() => resolveOverlay(opts, existing, at));
    expect(f).toMatchObject({ code: 7, msg });
    expect(f.details).not.toBe('');
  });
});
