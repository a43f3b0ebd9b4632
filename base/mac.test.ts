import { describe, expect, it } from 'vitest';
import { formatMac, tryParseMac } from './mac.js';

describe('MAC addresses', () => {
  it('parses six hex pairs in either case and prints them lower-case', () => {
    expect(Array.from(tryParseMac('02:42:AC:11:00:02')!)).toEqual([2, 0x42, 0xac, 0x11, 0, 2]);
    expect(formatMac(Uint8Array.of(2, 0x42, 0xac, 0x11, 0, 2))).toBe('02:42:ac:11:00:02');
  });

  it('refuses anything else', () => {
    for (const bad of ['02:42:ac:11:00', '02-42-ac-11-00-02', '02:42:ac:11:00:0g', '02:42:ac:11:00:02:03', '']) {
      expect(tryParseMac(bad)).toBeUndefined();
    }
  });
});
