import { describe, expect, it } from 'vitest';
import { broadcastOf, formatIp } from '../base/address.js';
import { parseCidr, parseIp, parseMac } from './ip.js';

describe('addresses', () => {
  it('parses IPv4 and IPv6 into network-order bytes and back', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    const v6 = parseIp('fd00::1');
    expect(v6.family).toBe(6);
    expect(Buffer.from(v6.bytes).toString('hex')).toBe('fd000000000000000000000000000001');
    expect(formatIp(v6.bytes)).toBe('fd00::1');
    expect(formatIp(parseIp('FD00:0:0:0:0:0:0:1').bytes)).toBe('fd00::1');
    expect(formatIp(Uint8Array.of(192, 168, 0, 1))).toBe('192.168.0.1');
  });

  it.each(['10.1', '010.1.1.1x', '0x0a.0.0.1', '256.0.0.1', 'fe80::1%eth0', 'fd00:::1', ''])('refuses %j', (text) => {
    expect(() => parseIp(text, 'gateway')).toThrow(`invalid gateway '${text}'`);
  });

  it('parses CIDRs keeping the host part, and refuses bad ones by their full text', () => {
    expect(parseCidr('10.0.0.2/24')).toEqual({ family: 4, bytes: Uint8Array.of(10, 0, 0, 2), prefixLen: 24 });
    expect(parseCidr('fd00::2/64').prefixLen).toBe(64);
    for (const bad of ['10.0.0.2', '10.0.0.2/33', 'fd00::/129', '10.0.0.2/', '10.0.0.2/2a', 'x/24']) {
      expect(() => parseCidr(bad)).toThrow(`invalid CIDR '${bad}'`);
    }
  });

  it('computes an IPv4 subnet broadcast', () => {
    expect(formatIp(broadcastOf(parseCidr('10.0.0.2/24')))).toBe('10.0.0.255');
    expect(formatIp(broadcastOf(parseCidr('172.16.5.1/12')))).toBe('172.31.255.255');
    expect(formatIp(broadcastOf(parseCidr('10.0.0.2/32')))).toBe('10.0.0.2');
  });

  it('parses MACs, naming a bad one in the error', () => {
    expect(Array.from(parseMac('02:42:AC:11:00:02'))).toEqual([2, 0x42, 0xac, 0x11, 0, 2]);
    for (const bad of ['02:42:ac:11:00', '02-42-ac-11-00-02', '02:42:ac:11:00:0g']) {
      expect(() => parseMac(bad)).toThrow(`invalid MAC address '${bad}'`);
    }
  });
});
