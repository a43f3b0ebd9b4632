import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { CAPABILITY_KEYS, CNI_KEYS } from '../../network/shaping/limits.js';
import { parseNetConf } from '../skel/config.js';
import { parseBandwidthConf } from './config.js';

const parse = (extra: Record<string, unknown>) =>
  parseBandwidthConf(parseNetConf({ cniVersion: '1.0.0', name: 'net', type: 'berth-bandwidth', ...extra }, 'ADD'));

describe('parseBandwidthConf', () => {
  it("takes the reference's keys, in bits per second and bits", () => {
    expect(parse({ ingressRate: 20e6, ingressBurst: 160_000, egressRate: 10e6, egressBurst: 80_000 })).toEqual({
      bandwidth: { ingress: { rate: 20e6, burst: 160_000 }, egress: { rate: 10e6, burst: 80_000 } },
      keys: CNI_KEYS,
    });
  });

  it('lets the bandwidth capability win over the keys, whole', () => {
    const conf = parse({
      ingressRate: 20e6,
      ingressBurst: 160_000,
      runtimeConfig: { bandwidth: { egressRate: 5e6, egressBurst: 2 ** 31 - 1 } },
    });
    expect(conf).toEqual({ bandwidth: { egress: { rate: 5e6, burst: 2 ** 31 - 1 } }, keys: CAPABILITY_KEYS });
  });

  it('reads no limit from absent keys, zeros and empty subnet lists, as the reference does', () => {
    expect(parse({})).toBeUndefined();
    expect(parse({ ingressRate: 0, ingressBurst: 0, shapedSubnets: [], unshapedSubnets: null })).toBeUndefined();
    expect(parse({ runtimeConfig: { bandwidth: {} } })).toBeUndefined();
    expect(parse({ egressRate: 1e6, egressBurst: 100_000, ingressRate: 0 })).toEqual({
      bandwidth: { egress: { rate: 1e6, burst: 100_000 } },
      keys: CNI_KEYS,
    });
  });

  it.each([
    [{ ingressRate: 1e6 }, 7, 'ingressRate is set, so ingressBurst must be too'],
    [{ egressBurst: 1e6 }, 7, 'egressBurst is set, so egressRate must be too'],
    [{ ingressRate: -1, ingressBurst: 1e5 }, 7, 'ingressRate -1 is no rate: a limit must be above 0 bits per second'],
    [{ ingressRate: '10mbit', ingressBurst: 1e5 }, 7, 'ingressRate must be a whole number of bits per second'],
    [
      { runtimeConfig: { bandwidth: { egressRate: 1e6, egressBurst: 2 ** 40 } } },
      7,
      `runtimeConfig.bandwidth.egressBurst ${2 ** 40} is 4 GiB or more`,
    ],
    [{ runtimeConfig: { bandwidth: { egressRate: 1e6 } } }, 7, 'runtimeConfig.bandwidth.egressRate is set, so'],
    [{ runtimeConfig: { bandwidth: 10 } }, 7, 'runtimeConfig.bandwidth must be an object, not 10'],
    [{ shapedSubnets: ['10.0.0.0/8'] }, 2, 'berth does not support "shapedSubnets" (["10.0.0.0/8"])'],
    [
      { runtimeConfig: { bandwidth: { unshapedSubnets: ['10.0.0.0/8'] } } },
      2,
      'berth does not support "runtimeConfig.bandwidth.unshapedSubnets"',
    ],
  ])('refuses %j with code %i naming the key', (extra, code, msg) => {
    const e = failure(() => parse(extra));
    expect(e.code).toBe(code);
    expect(e.msg).toContain(msg);
    expect(e.details).not.toBe('');
  });
});
