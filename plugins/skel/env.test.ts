import { describe, expect, it } from 'vitest';
import { validateContainerId } from '../../base/names.js';
import { failure } from '../../base/testutil.js';
import { type Environment, parseCniArgs, parseCniPath, parseCommand, parseEnv, validateIfName } from './env.js';

const full: Environment = {
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/run/netns/test',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

describe('CNI_COMMAND', () => {
  it('accepts every verb of spec 1.1.0', () => {
    for (const c of ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']) expect(parseCommand(c)).toBe(c);
  });

  it('refuses a missing or empty one with code 4 instead of exiting silently', () => {
    for (const v of [undefined, '']) {
      const f = failure(() => parseCommand(v));
      expect(f.code).toBe(4);
      expect(f.msg).toBe('CNI_COMMAND is not set');
      expect(f.details).toContain('ADD, DEL, CHECK, STATUS, GC, VERSION');
    }
  });

  it('names an unknown one; verbs are case-sensitive', () => {
    expect(failure(() => parseCommand('INIT'))).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND "INIT"' });
    expect(failure(() => parseCommand('add'))).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND "add"' });
  });
});

describe('CNI_CONTAINERID', () => {
  it('accepts the spec pattern', () => {
    for (const id of ['a', '0', 'abc_DEF.1-2', 'f'.repeat(64)]) expect(validateContainerId(id)).toBe(id);
  });

  it('refuses what does not start with a letter or digit, or holds other characters', () => {
    for (const id of ['-abc', '_abc', '.abc', 'ab c', 'ab/c', 'ab:c', 'ab;c', 'é', 'abc\n']) {
      const f = failure(() => validateContainerId(id));
      expect(f).toMatchObject({ code: 4, msg: `invalid CNI_CONTAINERID "${id}"` });
      expect(f.details).toContain('letter or digit');
    }
  });
});

describe('CNI_IFNAME', () => {
  it('accepts 1 to 15 bytes', () => {
    for (const n of ['e', 'eth0', 'net1.100', 'a'.repeat(15), 'veth-x_y@1']) expect(validateIfName(n)).toBe(n);
  });

  it('refuses an empty name', () => {
    expect(failure(() => validateIfName(''))).toMatchObject({ code: 4, msg: 'CNI_IFNAME is empty' });
  });

  it('counts bytes, as the kernel does', () => {
    expect(failure(() => validateIfName('a'.repeat(16)))).toMatchObject({
      code: 4,
      msg: `CNI_IFNAME "${'a'.repeat(16)}" is 16 bytes long`,
    });
    // 8 characters, 16 bytes in UTF-8.
    expect(failure(() => validateIfName('éééééééé'))).toMatchObject({
      code: 4,
      msg: expect.stringContaining('16 bytes'),
    });
  });

  it('refuses . and ..', () => {
    for (const n of ['.', '..']) {
      expect(failure(() => validateIfName(n))).toMatchObject({
        code: 4,
        msg: `CNI_IFNAME "${n}" is not a usable name`,
      });
    }
  });

  it('refuses /, : and whitespace, naming the character and where it is', () => {
    expect(failure(() => validateIfName('eth/0'))).toMatchObject({
      code: 4,
      msg: 'CNI_IFNAME "eth/0" contains "/" at 3',
    });
    expect(failure(() => validateIfName('eth0:1'))).toMatchObject({ msg: 'CNI_IFNAME "eth0:1" contains ":" at 4' });
    expect(failure(() => validateIfName('eth 0'))).toMatchObject({ msg: 'CNI_IFNAME "eth 0" contains " " at 3' });
    expect(failure(() => validateIfName('eth\t0'))).toMatchObject({ msg: 'CNI_IFNAME "eth\t0" contains "\\t" at 3' });
  });
});

describe('CNI_ARGS', () => {
  it('is empty when unset or empty', () => {
    expect(parseCniArgs(undefined).size).toBe(0);
    expect(parseCniArgs('').size).toBe(0);
  });

  it('keeps every pair, known to berth or not, in order', () => {
    const args = parseCniArgs(
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1;FOO=',
    );
    expect([...args]).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web-0'],
      ['K8S_POD_INFRA_CONTAINER_ID', 'abc'],
      ['K8S_POD_UID', 'u-1'],
      ['FOO', ''],
    ]);
  });

  it('refuses a malformed pair with code 4, naming it', () => {
    for (const [value, pair] of [
      ['FOO', 'FOO'],
      ['A=1;B', 'B'],
      ['A=1;', ''],
      ['=1', '=1'],
      ['A=b=c', 'A=b=c'],
      ['A=1;;B=2', ''],
    ]) {
      const f = failure(() => parseCniArgs(value));
      expect(f).toMatchObject({ code: 4, msg: `CNI_ARGS has an invalid pair "${pair}"` });
      expect(f.details).toContain('KEY=VALUE');
    }
  });
});

describe('CNI_PATH', () => {
  it('splits on ":" and drops empty entries', () => {
    expect(parseCniPath(undefined)).toEqual([]);
    expect(parseCniPath('')).toEqual([]);
    expect(parseCniPath('/opt/cni/bin')).toEqual(['/opt/cni/bin']);
    expect(parseCniPath('/opt/cni/bin::/usr/lib/cni:')).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
  });
});

describe('parseEnv: what each verb needs (spec 1.1.0, section 2)', () => {
  it('ADD and CHECK need CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME', () => {
    for (const command of ['ADD', 'CHECK'] as const) {
      expect(parseEnv(command, full)).toEqual({
        command,
        containerId: 'c0ffee',
        netns: '/run/netns/test',
        ifName: 'eth0',
        args: new Map([
          ['IgnoreUnknown', '1'],
          ['K8S_POD_NAME', 'web'],
        ]),
        path: ['/opt/cni/bin', '/usr/lib/cni'],
      });
      expect(failure(() => parseEnv(command, {}))).toEqual({
        code: 4,
        msg: `missing environment variables CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME for ${command}`,
        details: `${command} needs CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME`,
      });
      expect(failure(() => parseEnv(command, { ...full, CNI_NETNS: '' }))).toMatchObject({
        code: 4,
        msg: `missing environment variable CNI_NETNS for ${command}`,
      });
    }
  });

  it('CNI_ARGS and CNI_PATH are optional for ADD', () => {
    const env = parseEnv('ADD', { CNI_CONTAINERID: 'c', CNI_NETNS: '/n', CNI_IFNAME: 'eth0' });
    expect(env).toMatchObject({ args: new Map(), path: [] });
  });

  it('DEL needs CNI_CONTAINERID and CNI_IFNAME; CNI_NETNS is optional', () => {
    expect(parseEnv('DEL', { ...full, CNI_NETNS: undefined })).toMatchObject({ command: 'DEL', netns: undefined });
    expect(parseEnv('DEL', { ...full, CNI_NETNS: '' })).toMatchObject({ command: 'DEL', netns: undefined });
    expect(parseEnv('DEL', full)).toMatchObject({ command: 'DEL', netns: '/run/netns/test' });
    expect(failure(() => parseEnv('DEL', { CNI_NETNS: '/n' }))).toMatchObject({
      code: 4,
      msg: 'missing environment variables CNI_CONTAINERID, CNI_IFNAME for DEL',
    });
  });

  it('checks the values, not only their presence', () => {
    expect(failure(() => parseEnv('DEL', { ...full, CNI_IFNAME: 'a:b' }))).toMatchObject({ code: 4 });
    expect(failure(() => parseEnv('ADD', { ...full, CNI_CONTAINERID: '-x' }))).toMatchObject({ code: 4 });
    expect(failure(() => parseEnv('CHECK', { ...full, CNI_ARGS: 'x' }))).toMatchObject({ code: 4 });
  });

  it('GC needs CNI_PATH and takes nothing about a container', () => {
    expect(parseEnv('GC', { ...full, CNI_IFNAME: 'not/valid' })).toEqual({
      command: 'GC',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
    });
    expect(failure(() => parseEnv('GC', { ...full, CNI_PATH: undefined }))).toEqual({
      code: 4,
      msg: 'missing environment variable CNI_PATH for GC',
      details: 'GC needs CNI_COMMAND, CNI_PATH',
    });
  });

  it('STATUS needs nothing but CNI_COMMAND and ignores container variables', () => {
    expect(parseEnv('STATUS', {})).toEqual({ command: 'STATUS', path: [] });
    expect(parseEnv('STATUS', { ...full, CNI_CONTAINERID: '-bad' })).toEqual({
      command: 'STATUS',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
    });
  });

  it('VERSION needs nothing but CNI_COMMAND', () => {
    expect(parseEnv('VERSION', { CNI_IFNAME: '..' })).toEqual({ command: 'VERSION' });
  });
});
