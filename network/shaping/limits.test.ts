import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import {
  CNI_KEYS,
  defaultBurst,
  formatLimit,
  frameOf,
  LIBRARY_KEYS,
  maxBurst,
  shaperOf,
  validateBandwidth,
  validateBurst,
  validateRate,
} from './limits.js';

const FRAME = frameOf(1500); // 1514 bytes, 12112 bits

describe('validateRate and validateBurst', () => {
  it('take whole numbers of bits per second and bits', () => {
    expect(validateRate(20_000_000, 'ingressRate')).toBe(20_000_000);
    expect(validateRate(8, 'ingressRate')).toBe(8);
    expect(validateBurst(200_000, 'ingressBurst')).toBe(200_000);
  });

  it.each([
    [0, 'ingressRate 0 is no rate: a limit must be above 0 bits per second'],
    [-8, 'ingressRate -8 is no rate: a limit must be above 0 bits per second'],
    [7, 'ingressRate 7 is below 8 bits per second, the least the kernel counts (it counts bytes)'],
    [1.5, 'ingressRate must be a whole number of bits per second, not 1.5'],
    ['10mbit', 'ingressRate must be a whole number of bits per second, not "10mbit"'],
    [2 ** 60, `ingressRate must be a whole number of bits per second, not ${2 ** 60}`],
  ])('refuse the rate %j with code 7 naming the key', (rate, msg) => {
    expect(failure(() => validateRate(rate, 'ingressRate'))).toMatchObject({ code: 7, msg });
  });

  it.each([
    [0, 'egressBurst must be a whole number of bits, at least 8, not 0'],
    [7, 'egressBurst must be a whole number of bits, at least 8, not 7'],
    [null, 'egressBurst must be a whole number of bits, at least 8, not null'],
    [0xffffffff * 8, `egressBurst ${0xffffffff * 8} is 4 GiB or more, more than the kernel holds`],
  ])('refuse the burst %j with code 7 naming the key', (burst, msg) => {
    expect(failure(() => validateBurst(burst, 'egressBurst'))).toMatchObject({ code: 7, msg });
  });
});

describe('the burst of a limit', () => {
  it('defaults to 10 ms at the rate, at least 128 KiB and a frame', () => {
    expect(defaultBurst(200_000_000, FRAME)).toBe(2_000_000);
    expect(defaultBurst(20_000_000, FRAME)).toBe(1_048_576);
    expect(defaultBurst(1_000_000, FRAME)).toBe(1_048_576);
    expect(defaultBurst(1_000_000, frameOf(140_000))).toBe(140_014 * 8);
    expect(defaultBurst(1_000_000_000, FRAME)).toBe(10_000_000);
  });

  it('is at most what 2^32 ticks of 64 ns carry at the rate', () => {
    // 125 000 bytes/s × 274.88 s.
    expect(maxBurst(1_000_000)).toBe(34_359_738 * 8);
  });
});

describe('shaperOf', () => {
  it("is the reference's TBF: handle 1:, the rate, the burst, 25 ms of queue", () => {
    expect(shaperOf({ rate: 20_000_000, burst: 160_000 }, CNI_KEYS.ingress, 'veth0', FRAME)).toEqual({
      rate: 20_000_000,
      burst: 160_000,
      cut: false,
      tbf: { kind: 'tbf', handle: '1:', rate: 20_000_000, burst: 160_000, latencyMs: 25 },
    });
    expect(shaperOf({ rate: 20_000_000 }, LIBRARY_KEYS.egress, 'veth0', FRAME).burst).toBe(1_048_576);
  });

  it("cuts Kubernetes' burst of 2^31 - 1 bits to what the kernel holds at a low rate", () => {
    const s = shaperOf({ rate: 1_000_000, burst: 2 ** 31 - 1 }, CNI_KEYS.egress, 'veth0', FRAME);
    expect(s).toMatchObject({ burst: maxBurst(1_000_000), cut: true });
    expect(shaperOf({ rate: 100_000_000, burst: 2 ** 31 - 1 }, CNI_KEYS.egress, 'veth0', FRAME).cut).toBe(false);
  });

  it('refuses a burst below one full frame of the link, naming the key and the least that works', () => {
    expect(failure(() => shaperOf({ rate: 1e6, burst: 12_111 }, CNI_KEYS.ingress, 'veth0', FRAME))).toEqual({
      code: 7,
      msg: 'ingressBurst 12111 is less than one full frame on veth0 (MTU 1500 + 14 bytes = 12112 bits): every full-size packet would be dropped',
      details: 'give at least 12112',
    });
    expect(shaperOf({ rate: 1e6, burst: 12_112 }, CNI_KEYS.ingress, 'veth0', FRAME).burst).toBe(12_112);
  });

  it('refuses a rate whose 25 ms of queue the kernel cannot count, naming the rate', () => {
    const e = failure(() => shaperOf({ rate: 2e12, burst: 8_000_000 }, CNI_KEYS.egress, 'veth0', FRAME));
    expect(e.code).toBe(7);
    expect(e.msg).toMatch(/^egressRate 2000000000000 is more than the kernel can hold with egressBurst 8000000: /);
    expect(shaperOf({ rate: 1e12, burst: 8_000_000 }, CNI_KEYS.egress, 'veth0', FRAME).rate).toBe(1e12);
  });
});

describe('validateBandwidth', () => {
  it('takes each direction with a rate and an optional burst', () => {
    expect(validateBandwidth({ ingress: { rate: 10e6 }, egress: { rate: 20e6, burst: 200_000 } })).toEqual({
      ingress: { rate: 10e6 },
      egress: { rate: 20e6, burst: 200_000 },
    });
    expect(validateBandwidth({})).toEqual({});
  });

  it.each([
    [null, 'bandwidth must be an object, not null'],
    [{ ingress: 10e6 }, 'bandwidth.ingress must be an object, not 10000000'],
    [{ ingress: {} }, 'bandwidth.ingress.rate must be a whole number of bits per second, not undefined'],
    [{ egress: { rate: 0 } }, 'bandwidth.egress.rate 0 is no rate: a limit must be above 0 bits per second'],
    [{ egress: { rate: 1e6, burst: -1 } }, 'bandwidth.egress.burst must be a whole number of bits, at least 8, not -1'],
  ])('refuses %j with code 7 naming the key', (input, msg) => {
    expect(failure(() => validateBandwidth(input))).toMatchObject({ code: 7, msg });
  });
});

describe('formatLimit', () => {
  it('writes a limit as tc writes rates', () => {
    expect(formatLimit({ rate: 20_000_000 })).toBe('20mbit');
    expect(formatLimit({ rate: 1e9, burst: 1_000_000 })).toBe('1gbit burst 1mbit');
  });
});
