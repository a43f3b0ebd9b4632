import { describe, expect, it } from 'vitest';
import { ipText } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import {
  formatIp,
  parseCidr,
  parseIp,
  parseRange,
  parseRangeSet,
  type RangeConfig,
  rangeIndexFor,
  rangeSetSize,
  rangeText,
} from './range.js';

function failure(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

const range = (raw: RangeConfig) => parseRange(raw, 'r');
const text = (r: ReturnType<typeof range>) => ({
  subnet: r.subnet,
  start: ipText(r.family, r.rangeStart),
  end: ipText(r.family, r.rangeEnd),
  gateway: ipText(r.family, r.gateway),
  size: r.size,
});

describe('addresses', () => {
  it('parses strictly and prints as Go does', () => {
    expect(formatIp(parseIp('10.0.0.1')!)).toBe('10.0.0.1');
    expect(formatIp(parseIp('FD00:0:0:0:0:0:0:A')!)).toBe('fd00::a');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(parseIp('::ffff:10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    for (const wrong of ['010.0.0.1', '10.1', '10.0.0.256', 'fe80::1%eth0', '', 'abc', '10.0.0.1/24']) {
      expect(parseIp(wrong), wrong).toBeUndefined();
    }
  });

  it('parses CIDRs', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ ip: { family: 4, value: 0x0a000000n }, prefixLength: 8 });
    for (const wrong of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', '::ffff:10.0.0.0/104']) {
      expect(parseCidr(wrong), wrong).toBeUndefined();
    }
  });
});

describe('parseRange defaults', () => {
  it('IPv4: .1 to broadcast-1, gateway .1 and not counted', () => {
    expect(text(range({ subnet: '10.22.0.0/24' }))).toEqual({
      subnet: '10.22.0.0/24',
      start: '10.22.0.1',
      end: '10.22.0.254',
      gateway: '10.22.0.1',
      size: 253n,
    });
  });

  it('IPv6: ::1 to the last address', () => {
    expect(text(range({ subnet: 'fd00:22::/120' }))).toEqual({
      subnet: 'fd00:22::/120',
      start: 'fd00:22::1',
      end: 'fd00:22::ff',
      gateway: 'fd00:22::1',
      size: 254n,
    });
  });

  it('keeps explicit start, end and gateway; the gateway outside the range costs nothing', () => {
    const r = range({ subnet: '10.0.0.0/16', rangeStart: '10.0.1.10', rangeEnd: '10.0.1.19', gateway: '10.0.0.1' });
    expect(text(r)).toMatchObject({ start: '10.0.1.10', end: '10.0.1.19', gateway: '10.0.0.1', size: 10n });
    expect(rangeText(r)).toBe('10.0.0.0/16 (10.0.1.10-10.0.1.19)');
  });

  it('a /30 has one address besides the gateway', () => {
    expect(range({ subnet: '10.0.0.4/30' }).size).toBe(1n);
  });

  it('a range spanning the network and broadcast addresses does not count them', () => {
    const r = range({ subnet: '10.0.0.0/29', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.7', gateway: '10.0.0.6' });
    expect(r.size).toBe(5n);
  });
});

describe('parseRange validation', () => {
  it('names an invalid subnet and shows the form', () => {
    const e = failure(() => range({ subnet: '10.0.0.0' }));
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.msg).toBe('r.subnet "10.0.0.0" is not a valid subnet');
    expect(e.details).toContain('CIDR');
  });

  it('says what the network address would be when host bits are set', () => {
    const e = failure(() => range({ subnet: '10.22.3.7/16' }));
    expect(e.msg).toBe('r.subnet "10.22.3.7/16" has host bits set');
    expect(e.details).toBe('the network address of 10.22.3.7/16 is 10.22.0.0; write "10.22.0.0/16"');
    expect(failure(() => range({ subnet: 'fd00::5/64' })).details).toContain('write "fd00::/64"');
  });

  it('rejects /31, /32, /127 and /128 as having nothing to hand out', () => {
    for (const subnet of ['10.0.0.0/31', '10.0.0.1/32', 'fd00::/127', 'fd00::/128']) {
      const e = failure(() => range({ subnet }));
      expect(e.msg, subnet).toMatch(/has no address to hand out$/);
    }
    expect(failure(() => range({ subnet: '10.0.0.0/31' })).details).toContain(
      'use a /30 or larger, e.g. "10.0.0.0/30"',
    );
  });

  it('rejects rangeStart, rangeEnd and gateway outside the subnet, naming the value and the bounds', () => {
    const start = failure(() => range({ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }));
    expect(start.msg).toBe('r.rangeStart 10.0.1.5 is outside the subnet 10.0.0.0/24');
    expect(start.details).toContain('between 10.0.0.1 and 10.0.0.254');
    expect(failure(() => range({ subnet: '10.0.0.0/24', rangeEnd: '9.255.255.255' })).msg).toBe(
      'r.rangeEnd 9.255.255.255 is outside the subnet 10.0.0.0/24',
    );
    expect(failure(() => range({ subnet: '10.0.0.0/24', gateway: '10.0.2.1' })).msg).toBe(
      'r.gateway 10.0.2.1 is outside the subnet 10.0.0.0/24',
    );
  });

  it('rejects an address of the other family and one that is no address', () => {
    expect(failure(() => range({ subnet: '10.0.0.0/24', gateway: 'fd00::1' })).msg).toBe(
      'r.gateway fd00::1 is an IPv6 address but the subnet 10.0.0.0/24 is IPv4',
    );
    expect(failure(() => range({ subnet: '10.0.0.0/24', rangeStart: 'ten' })).msg).toBe(
      'r.rangeStart "ten" is not an IP address',
    );
  });

  it('rejects a start after the end', () => {
    const e = failure(() => range({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.200', rangeEnd: '10.0.0.100' }));
    expect(e.msg).toBe('r: rangeStart 10.0.0.200 is after rangeEnd 10.0.0.100');
  });

  it('rejects a gateway on the network or broadcast address', () => {
    expect(failure(() => range({ subnet: '10.0.0.0/24', gateway: '10.0.0.0' })).msg).toBe(
      'r.gateway 10.0.0.0 is the network address of 10.0.0.0/24',
    );
    expect(failure(() => range({ subnet: '10.0.0.0/24', gateway: '10.0.0.255' })).msg).toBe(
      'r.gateway 10.0.0.255 is the broadcast address of 10.0.0.0/24',
    );
  });

  it('rejects a range whose only address is the gateway', () => {
    const e = failure(() => range({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' }));
    expect(e.msg).toBe('r (10.0.0.0/24 (10.0.0.1-10.0.0.1)) has no address to hand out');
  });
});

describe('parseRangeSet', () => {
  it('accepts several disjoint ranges, of one subnet or several', () => {
    const set = parseRangeSet(
      [
        { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.19' },
        { subnet: '10.0.0.0/24', rangeStart: '10.0.0.20', rangeEnd: '10.0.0.29' },
        { subnet: '10.1.0.0/24' },
      ],
      's',
    );
    expect(set).toHaveLength(3);
    expect(rangeSetSize(set)).toBe(10n + 10n + 253n);
    expect(rangeIndexFor(set, parseIp('10.0.0.25')!)).toBe(1);
    expect(rangeIndexFor(set, parseIp('10.0.0.5')!)).toBe(-1);
  });

  it('rejects overlapping ranges, naming both', () => {
    const e = failure(() =>
      parseRangeSet(
        [
          { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.100' },
          { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50' },
        ],
        'ipam.ranges[0]',
      ),
    );
    expect(e.msg).toBe(
      'ipam.ranges[0][0] (10.0.0.0/24 (10.0.0.10-10.0.0.100)) and ipam.ranges[0][1] (10.0.0.0/24 (10.0.0.50-10.0.0.254)) overlap',
    );
  });

  it('rejects mixed families and says how to split them', () => {
    const e = failure(() => parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }], 'ipam.ranges[0]'));
    expect(e.msg).toBe(
      'ipam.ranges[0] mixes IPv4 (ipam.ranges[0][0], 10.0.0.0/24) and IPv6 (ipam.ranges[0][1], fd00::/64)',
    );
    expect(e.details).toContain('own set');
  });

  it('rejects an empty set', () => {
    expect(failure(() => parseRangeSet([], 'ipam.ranges[1]')).msg).toBe('ipam.ranges[1] is an empty range set');
  });

  it('names the range of the set in a range error', () => {
    const e = failure(() => parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '10.1.0.9/24' }], 'ipam.ranges[0]'));
    expect(e.msg).toBe('ipam.ranges[0][1].subnet "10.1.0.9/24" has host bits set');
  });
});
