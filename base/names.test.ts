import { describe, expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import {
  DNS_NAME_RULE,
  ifNameProblem,
  isCniName,
  isValidIfName,
  validateContainerId,
  validateDnsName,
  validateIfName,
} from './names.js';
import { failure } from './testutil.js';

describe('interface names', () => {
  it.each(['eth0', 'a', 'x'.repeat(15), 'veth-x_y@1', 'br.100', 'ünï'])('takes %j', (name) => {
    expect(isValidIfName(name)).toBe(true);
    expect(ifNameProblem(name)).toBe('');
  });

  it.each([
    ['', 'is empty'],
    ['x'.repeat(16), 'is 16 bytes long'],
    ['éééééééé', 'is 16 bytes long'],
    ['.', 'is not a usable name'],
    ['..', 'is not a usable name'],
    ['eth/0', 'contains "/" at 3'],
    ['eth:0', 'contains ":" at 3'],
    ['eth 0', 'contains " " at 3'],
    ['eth\t0', 'contains "\\t" at 3'],
    ['br"0', 'contains "\\"" at 2'],
    ["br'0", 'contains "\'" at 2'],
    ['br\\0', 'contains "\\\\" at 2'],
    ['br\u00010', 'contains "\\u0001" at 2'],
    ['br\u007f', 'contains "\\u007f" at 2'],
  ])('refuses %j: it %s', (name, problem) => {
    expect(ifNameProblem(name)).toBe(problem);
    expect(isValidIfName(name)).toBe(false);
  });
});

describe('validateIfName', () => {
  it.each(['eth0', 'a', 'x'.repeat(15)])('accepts %s', (n) => expect(validateIfName(n)).toBe(n));
  it.each([
    ['', 'invalid interface name ""'],
    ['x'.repeat(16), `invalid interface name "${'x'.repeat(16)}"`],
    ['eth/0', 'invalid interface name "eth/0"'],
    ['eth:0', 'invalid interface name "eth:0"'],
    ['eth 0', 'invalid interface name "eth 0"'],
    ['..', 'invalid interface name ".."'],
  ])('refuses %j', (n, message) => expect(() => validateIfName(n)).toThrow(message));

  it('is code 7, names what the name is for, what is wrong and the rule', () => {
    const e = failure(() => validateIfName('br"0', 'bridges[0].name'));
    expect(e.code).toBe(ErrorCode.InvalidConfig);
    expect(e.msg).toBe('invalid bridges[0].name "br\\"0"');
    expect(e.details).toMatch(/^it contains "\\"" at 2; an interface name is 1 to 15 bytes, .*quotes/);
  });
});

describe('container IDs', () => {
  it('accepts the spec pattern', () => {
    for (const id of ['a', '0', 'abc_DEF.1-2', 'f'.repeat(64)]) {
      expect(isCniName(id)).toBe(true);
      expect(validateContainerId(id)).toBe(id);
    }
  });

  it('refuses what does not start with a letter or digit, or holds other characters, with code 4', () => {
    for (const id of ['', '-abc', '_abc', '.abc', 'ab c', 'ab/c', 'ab:c', 'ab;c', 'é', 'abc\n']) {
      expect(isCniName(id)).toBe(false);
      const e = failure(() => validateContainerId(id));
      expect(e).toMatchObject({ code: ErrorCode.InvalidEnvironment, msg: `invalid CNI_CONTAINERID "${id}"` });
      expect(e.details).toContain('letter or digit');
    }
    expect(isCniName(7)).toBe(false);
  });
});

describe('DNS names', () => {
  it.each([
    ['web', 'web'],
    ['Web-1', 'web-1'],
    ['my_app', 'my_app'],
    ['db.internal', 'db.internal'],
    ['x'.repeat(63), 'x'.repeat(63)],
  ])('takes %j as %j', (name, lower) => {
    expect(validateDnsName(name)).toBe(lower);
  });

  it.each(['', '-web', 'web-', 'a..b', '.web', 'web.', 'we b', 'wéb', 'x'.repeat(64), `${'a'.repeat(60)}.`.repeat(5)])(
    'refuses %j with code 7, naming it and the rule',
    (name) => {
      const f = failure(() => validateDnsName(name, 'alias'));
      expect(f.code).toBe(ErrorCode.InvalidConfig);
      expect(f.msg).toBe(`invalid alias ${JSON.stringify(name)}: not a DNS name`);
      expect(f.details).toBe(DNS_NAME_RULE);
    },
  );
});
