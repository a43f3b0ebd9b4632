import { describe, expect, it } from 'vitest';
import { parseBandwidthArgs } from './bandwidth.js';
import { UsageError } from './usage.js';

describe('parseBandwidthArgs', () => {
  it('reads the rates in tc units, each direction on its own', () => {
    expect(parseBandwidthArgs({ 'ingress-rate': '10mbit', 'egress-rate': '1gbit' })).toEqual({
      ingress: { rate: 10_000_000 },
      egress: { rate: 1_000_000_000 },
    });
    expect(parseBandwidthArgs({ 'egress-rate': '500kbit' })).toEqual({ egress: { rate: 500_000 } });
    expect(parseBandwidthArgs({})).toBeUndefined();
  });

  it.each([
    [{ 'ingress-rate': '10 mbit' }, '--ingress-rate "10 mbit" is not a rate'],
    [{ 'ingress-rate': '10mb' }, '--ingress-rate "10mb" has an unknown unit "mb"'],
    [{ 'egress-rate': '0' }, '--egress-rate 0 is no rate: a limit must be above 0 bits per second'],
    [{ 'egress-rate': '0mbit' }, '--egress-rate 0 is no rate'],
    [{ 'egress-rate': '4bit' }, '--egress-rate 4 is below 8 bits per second'],
    [{ 'egress-rate': '1e30bit' }, '--egress-rate must be a whole number of bits per second'],
  ])('refuses %j as bad usage naming the option', (args, msg) => {
    let err: unknown;
    try {
      parseBandwidthArgs(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).msg).toContain(msg);
  });
});
