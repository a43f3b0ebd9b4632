import { describe, expect, it } from 'vitest';
import {
  broadcastOf,
  canonicalIp,
  familyOf,
  firstHostOf,
  formatIp,
  ipFromBigint,
  ipText,
  ipToBigint,
  isIpv4Mapped,
  subnetBounds,
  subnetOf,
  tryParseCidr,
  tryParseIp,
  unmapped,
} from './address.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('tryParseIp', () => {
  it('parses IPv4 and IPv6 into network-order bytes', () => {
    expect(tryParseIp('10.1.2.3')).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    const v6 = tryParseIp('fd00::1')!;
    expect(v6.family).toBe(6);
    expect(hex(v6.bytes)).toBe('fd000000000000000000000000000001');
  });

  it.each([
    '10.1',
    '010.1.1.1',
    '10.0.0.01',
    '0x0a.0.0.1',
    '256.0.0.1',
    '10.0.0.1/32',
    'fe80::1%eth0',
    'fd00:::1',
    '[fd00::1]',
    'localhost',
    ' 10.0.0.1',
    '',
  ])('refuses %j', (text) => {
    expect(tryParseIp(text)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    expect(tryParseIp(undefined as unknown as string)).toBeUndefined();
    expect(tryParseIp(10 as unknown as string)).toBeUndefined();
  });

  it('keeps an IPv4-mapped address IPv6 until asked to unmap it', () => {
    const mapped = tryParseIp('::ffff:10.1.2.3')!;
    expect(mapped.family).toBe(6);
    expect(isIpv4Mapped(mapped)).toBe(true);
    expect(unmapped(mapped)).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    const plain = tryParseIp('fd00::1')!;
    expect(isIpv4Mapped(plain)).toBe(false);
    expect(unmapped(plain)).toBe(plain);
    expect(isIpv4Mapped(tryParseIp('10.1.2.3')!)).toBe(false);
  });
});

describe('tryParseCidr', () => {
  it('keeps the host part', () => {
    expect(tryParseCidr('10.0.0.2/24')).toEqual({ family: 4, bytes: Uint8Array.of(10, 0, 0, 2), prefixLen: 24 });
    expect(tryParseCidr('fd00::2/64')?.prefixLen).toBe(64);
    expect(tryParseCidr('0.0.0.0/0')?.prefixLen).toBe(0);
    expect(tryParseCidr('fd00::/128')?.prefixLen).toBe(128);
  });

  it.each([
    '10.0.0.2',
    '10.0.0.2/33',
    'fd00::/129',
    '10.0.0.2/',
    '10.0.0.2/2a',
    '10.0.0.2/1234',
    'x/24',
    '/24',
    '10.1/8',
  ])('refuses %j', (text) => {
    expect(tryParseCidr(text)).toBeUndefined();
  });
});

describe('forms', () => {
  it('prints IPv4 dotted and IPv6 in RFC 5952 form', () => {
    expect(formatIp(Uint8Array.of(192, 168, 0, 1))).toBe('192.168.0.1');
    expect(formatIp(tryParseIp('FD00:0:0:0:0:0:0:A')!.bytes)).toBe('fd00::a');
    expect(formatIp(tryParseIp('2001:db8:0:0:1:0:0:1')!.bytes)).toBe('2001:db8::1:0:0:1');
    expect(() => formatIp(Uint8Array.of(1, 2, 3))).toThrow('an IP address has 4 or 16 bytes, not 3');
  });

  it('turns addresses into numbers and back', () => {
    expect(ipToBigint(tryParseIp('10.1.2.3')!)).toBe(0x0a010203n);
    expect(ipToBigint(tryParseIp('fd00::1')!)).toBe((0xfd00n << 112n) | 1n);
    expect(ipFromBigint(4, 0x0a010203n)).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    expect(ipText(6, (0xfd00n << 112n) | 0xan)).toBe('fd00::a');
    expect(ipText(4, 0xffffffffn)).toBe('255.255.255.255');
  });

  it('finds the bounds of a subnet, its broadcast address, its first host', () => {
    expect(subnetBounds(tryParseCidr('10.0.0.7/24')!)).toEqual({ first: 0x0a000000n, last: 0x0a0000ffn });
    expect(formatIp(broadcastOf(tryParseCidr('10.0.0.2/24')!))).toBe('10.0.0.255');
    expect(formatIp(broadcastOf(tryParseCidr('172.16.5.1/12')!))).toBe('172.31.255.255');
    expect(formatIp(broadcastOf(tryParseCidr('10.0.0.2/32')!))).toBe('10.0.0.2');
    expect(subnetOf('10.1.2.3/24')).toBe('10.1.2.0/24');
    expect(subnetOf('fd00:1::5/64')).toBe('fd00:1::/64');
    expect(firstHostOf('10.1.2.3/24')).toBe('10.1.2.1');
    expect(firstHostOf('fd00:1::5/64')).toBe('fd00:1::1');
    expect(() => subnetOf('10.1.2.3')).toThrow('is not an address with a prefix length');
  });

  it('tells the family of an address or CIDR', () => {
    expect(familyOf('10.0.0.1')).toBe(4);
    expect(familyOf('10.0.0.0/8')).toBe(4);
    expect(familyOf('fd00::/64')).toBe(6);
  });
});

describe('canonicalIp', () => {
  it('writes an address canonically, without a zone; undefined for what is none', () => {
    expect(canonicalIp('fd00:0:0::0001')).toBe('fd00::1');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('10.0.0')).toBeUndefined();
  });
});
