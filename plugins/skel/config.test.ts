import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { decodeJson, parseNetConf, parseValidAttachments, sniffVersion } from './config.js';
import { locateJsonError } from './json.js';

const base = { cniVersion: '1.1.0', name: 'berth', type: 'berth-bridge' };

describe('locateJsonError', () => {
  it('finds nothing wrong in valid JSON', () => {
    for (const s of [
      '{}',
      ' [ ] ',
      '"x"',
      '0',
      '-1.5e+3',
      'null',
      '{"a":[1,{"b":[true,false,null]}],"c":"\\u00e9\\n"}',
    ]) {
      expect(JSON.parse(s)).toBeDefined();
      expect(locateJsonError(s)).toBeUndefined();
    }
  });

  it('points at the first wrong character and says what was expected', () => {
    const cases: [string, number, string][] = [
      ['{"a":}', 5, 'a value'],
      ['{"a":1', 6, "',' or '}'"],
      ['{"a":1}x', 7, 'the end of the input'],
      ["{'a':1}", 1, 'a property name in double quotes'],
      ['[1,]', 3, 'a value'],
      ['{"a":1,}', 7, 'a property name in double quotes'],
      ['{"a" 1}', 5, "':'"],
      ['{"a":[1 2]}', 8, "',' or ']'"],
      ['{"a":"\\q"}', 7, 'an escape: one of " \\ / b f n r t u'],
      ['{"a":"\\u12G4"}', 8, 'four hex digits after \\u'],
      ['{"a":"x', 7, "a closing '\"'"],
      ['{"a":"\u0001"}', 6, 'control characters escaped as \\u00XX'],
      ['{"a":tru}', 5, 'a value'],
      ['{"a":01}', 6, "',' or '}'"],
      ['[[[[', 4, 'a value'],
    ];
    for (const [text, offset, expected] of cases) {
      expect(() => JSON.parse(text)).toThrow();
      expect(locateJsonError(text)).toMatchObject({ offset, expected });
    }
  });

  it('counts lines and columns from 1', () => {
    expect(locateJsonError('{\n  "name": "x",\n  "type": \n}')).toEqual({
      offset: 28,
      line: 4,
      column: 1,
      expected: 'a value',
    });
  });

  it('survives nesting deeper than a recursive parser could', () => {
    const deep = `${'['.repeat(100_000)}x`;
    expect(locateJsonError(deep)).toMatchObject({ offset: 100_000, expected: 'a value' });
  });
});

describe('decodeJson', () => {
  it('parses a config, with or without a byte order mark', () => {
    expect(decodeJson('{"a":1}')).toEqual({ a: 1 });
    expect(decodeJson('\ufeff{"a":1}')).toEqual({ a: 1 });
  });

  it('names the position of a syntax error, code 6', () => {
    expect(failure(() => decodeJson('{\n  "cniVersion": "1.1.0",\n  "name": "x",\n}'))).toEqual({
      code: 6,
      msg: 'network configuration on stdin is not valid JSON: expected a property name in double quotes at line 4 column 1 (offset 42)',
      details: 'near ".0\\",\\n  \\"name\\": \\"x\\",\\n}"',
    });
  });

  it('refuses empty stdin, code 6', () => {
    for (const s of ['', '  \n']) {
      expect(failure(() => decodeJson(s))).toMatchObject({ code: 6, msg: 'no network configuration on stdin' });
    }
  });
});

describe('sniffVersion', () => {
  it("finds the config's version-shaped cniVersion, and nothing else", () => {
    expect(sniffVersion('{"cniVersion":"0.4.0"}')).toBe('0.4.0');
    expect(sniffVersion('{"cniVersion":"9.9.9"}')).toBe('9.9.9');
    expect(sniffVersion('{"cniVersion":"</script>"}')).toBeUndefined();
    expect(sniffVersion('{"cniVersion":1}')).toBeUndefined();
    expect(sniffVersion('{"cniVersion":')).toBeUndefined();
    expect(sniffVersion('null')).toBeUndefined();
    expect(sniffVersion('')).toBeUndefined();
  });
});

describe('parseNetConf', () => {
  it('returns the typed config, with the raw object for plugin keys', () => {
    const raw = {
      ...base,
      bridge: 'berth0',
      ipam: { type: 'host-local' },
      args: { cni: { ips: ['10.0.0.9'] } },
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      capabilities: { portMappings: true },
    };
    expect(parseNetConf(raw, 'ADD')).toEqual({
      cniVersion: '1.1.0',
      name: 'berth',
      type: 'berth-bridge',
      args: { cni: { ips: ['10.0.0.9'] } },
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      raw,
    });
  });

  it('defaults args and runtimeConfig to empty objects', () => {
    expect(parseNetConf(base, 'ADD')).toMatchObject({ args: {}, runtimeConfig: {} });
    expect(parseNetConf({ ...base, args: null }, 'ADD')).toMatchObject({ args: {} });
  });

  it('refuses JSON that is not an object, code 6', () => {
    expect(failure(() => parseNetConf([base], 'ADD'))).toMatchObject({
      code: 6,
      msg: 'network configuration on stdin is an array, not an object',
    });
    expect(failure(() => parseNetConf('x', 'ADD'))).toMatchObject({
      code: 6,
      msg: 'network configuration on stdin is "x", not an object',
    });
  });

  it('checks the version before anything else, code 1', () => {
    expect(failure(() => parseNetConf({ cniVersion: '0.2.0' }, 'ADD'))).toMatchObject({
      code: 1,
      msg: 'incompatible CNI version "0.2.0"',
    });
    expect(failure(() => parseNetConf({ ...base, cniVersion: undefined }, 'ADD'))).toMatchObject({ code: 1 });
    expect(failure(() => parseNetConf({ ...base, cniVersion: '0.3.1' }, 'CHECK'))).toMatchObject({
      code: 1,
      msg: 'config version "0.3.1" does not allow CHECK',
    });
    expect(failure(() => parseNetConf({ ...base, cniVersion: '1.0.0' }, 'GC'))).toMatchObject({ code: 1 });
    expect(failure(() => parseNetConf({ ...base, cniVersion: '1.0.0' }, 'STATUS'))).toMatchObject({ code: 1 });
  });

  it('needs a name in the spec pattern, code 7', () => {
    expect(failure(() => parseNetConf({ ...base, name: undefined }, 'ADD'))).toEqual({
      code: 7,
      msg: 'the network configuration has no name',
      details: '',
    });
    for (const name of ['-net', 'my net', 'a/b', 7]) {
      const f = failure(() => parseNetConf({ ...base, name }, 'ADD'));
      expect(f).toMatchObject({ code: 7, msg: `invalid network name ${JSON.stringify(name)}` });
      expect(f.details).toContain('starts with a letter or digit');
    }
  });

  it('needs a type that names a file, code 7', () => {
    expect(failure(() => parseNetConf({ ...base, type: '' }, 'ADD'))).toMatchObject({
      code: 7,
      msg: 'the network configuration has no type',
    });
    for (const type of ['../bridge', 'a\\b', ['bridge']]) {
      expect(failure(() => parseNetConf({ ...base, type }, 'ADD'))).toMatchObject({
        code: 7,
        msg: `invalid plugin type ${JSON.stringify(type)}`,
      });
    }
  });

  it('needs args and runtimeConfig to be objects, code 7', () => {
    expect(failure(() => parseNetConf({ ...base, args: 'K=V' }, 'ADD'))).toMatchObject({
      code: 7,
      msg: 'args must be an object, not "K=V"',
    });
    expect(failure(() => parseNetConf({ ...base, runtimeConfig: [] }, 'ADD'))).toMatchObject({
      code: 7,
      msg: 'runtimeConfig must be an object, not an array',
    });
  });

  it('reads a prevResult of an older version into the current shape', () => {
    const prevResult = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }],
      ips: [{ version: '4', address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
    };
    expect(parseNetConf({ ...base, cniVersion: '0.4.0', prevResult }, 'DEL').prevResult).toEqual({
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
    });
    expect(parseNetConf({ ...base, prevResult: null }, 'ADD')).not.toHaveProperty('prevResult');
  });

  it('names a bad prevResult field, code 7', () => {
    expect(
      failure(() => parseNetConf({ ...base, prevResult: { ips: [{ address: '10.0.0.1' }] } }, 'ADD')),
    ).toMatchObject({ code: 7, msg: 'prevResult.ips[0].address "10.0.0.1" is not an address in CIDR notation' });
  });
});

describe('parseValidAttachments', () => {
  const list = [
    { containerID: 'c1', ifname: 'eth0' },
    { containerID: 'c2', ifname: 'net1' },
  ];
  const expected = [
    { containerId: 'c1', ifName: 'eth0' },
    { containerId: 'c2', ifName: 'net1' },
  ];

  it('reads cni.dev/valid-attachments, or the older cni.dev/attachments', () => {
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': list })).toEqual(expected);
    expect(parseValidAttachments({ 'cni.dev/attachments': list })).toEqual(expected);
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': list, 'cni.dev/attachments': [] })).toEqual(expected);
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': [] })).toEqual([]);
  });

  it('refuses a GC without the list rather than collect everything, code 7', () => {
    expect(failure(() => parseValidAttachments({}))).toMatchObject({
      code: 7,
      msg: 'GC without cni.dev/valid-attachments',
    });
  });

  it('names a malformed list or entry, code 7', () => {
    expect(failure(() => parseValidAttachments({ 'cni.dev/valid-attachments': {} }))).toMatchObject({
      code: 7,
      msg: 'cni.dev/valid-attachments must be an array, not {}',
    });
    for (const entry of [{ containerID: 'c1' }, { containerID: '', ifname: 'eth0' }, 'c1', null]) {
      expect(failure(() => parseValidAttachments({ 'cni.dev/attachments': [entry] }))).toMatchObject({
        code: 7,
        msg: `cni.dev/attachments[0] is ${JSON.stringify(entry)}`,
      });
    }
  });
});
