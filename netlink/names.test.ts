import { describe, expect, it } from 'vitest';
import { isValidIfName } from '../base/names.js';
import { validateIfIndex, validateIfName } from './names.js';

describe('interface names', () => {
  it.each(['eth0', 'a', 'veth-12345678ab', 'br.100', 'bond_0', 'ünï'])('takes %j', (name) => {
    expect(validateIfName(name)).toBe(name);
  });

  it.each([
    ['', 'empty'],
    ['veth-123456789ab', '16 bytes'],
    ['ünïcödé-12345', '13 characters but 17 bytes'],
    ['a/b', "a '/'"],
    ['a:b', "a ':'"],
    ['a b', 'a space'],
    ['a\tb', 'a tab'],
    ['.', "'.'"],
    ['..', "'..'"],
  ])('refuses %j (%s), naming it', (name) => {
    expect(isValidIfName(name)).toBe(false);
    expect(() => validateIfName(name)).toThrow(`invalid interface name '${name}'`);
  });

  it('refuses indexes that are not positive integers', () => {
    expect(validateIfIndex(7)).toBe(7);
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31])
      expect(() => validateIfIndex(bad)).toThrow(`invalid interface index ${bad}`);
  });
});
