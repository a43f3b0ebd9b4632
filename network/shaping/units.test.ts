import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { formatRate, parseRate } from './units.js';

describe('parseRate', () => {
  it.each([
    ['10mbit', 10_000_000],
    ['1gbit', 1_000_000_000],
    ['1Gbit', 1_000_000_000],
    ['500kbit', 500_000],
    ['1.5mbit', 1_500_000],
    ['.5kbit', 500],
    ['2tbit', 2e12],
    ['1kibit', 1024],
    ['1mibit', 1_048_576],
    ['1gibit', 1_073_741_824],
    ['800', 800], // a bare number is bits per second, as in tc
    ['800bit', 800],
    ['1bps', 8], // bps is bytes per second, as in tc
    ['1kbps', 8000],
    ['1MBps', 8_000_000],
    ['1kibps', 8192],
    ['1e6bit', 1_000_000],
    [' 20mbit ', 20_000_000],
    ['0.0001bit', 0], // the caller refuses it as no rate
  ])('reads %j as %i bits per second', (text, bits) => {
    expect(parseRate(text, '--ingress-rate')).toBe(bits);
  });

  it.each([
    ['10 mbit', 'is not a rate'],
    ['mbit', 'is not a rate'],
    ['', 'is not a rate'],
    ['-10mbit', 'is not a rate'],
    ['10mb', 'has an unknown unit "mb"'],
    ['10megabit', 'has an unknown unit "megabit"'],
    ['50%', "is a share of the link's speed, which a veth does not have"],
  ])('refuses %j with code 7 naming the option', (text, msg) => {
    const e = failure(() => parseRate(text, '--egress-rate'));
    expect(e.code).toBe(7);
    expect(e.msg).toBe(`--egress-rate ${JSON.stringify(text)} ${msg}`);
    expect(e.details).not.toBe('');
  });
});

describe('formatRate', () => {
  it.each([
    [20_000_000, '20mbit'],
    [1_500_000_000, '1.5gbit'],
    [2e12, '2tbit'],
    [200_000, '200kbit'],
    [1_048_576, '1.049mbit'],
    [800, '800bit'],
  ])('writes %i as %j', (bits, text) => {
    expect(formatRate(bits)).toBe(text);
  });

  it('reads back what it writes for decimal rates', () => {
    for (const bits of [8, 999, 1000, 12_345_000, 7e9]) expect(parseRate(formatRate(bits), 'x')).toBe(bits);
  });
});
