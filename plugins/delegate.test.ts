import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { delegate, findPlugin, supportedVersions } from './delegate.js';

// A fake IPAM plugin: echoes what it was given as its result, or fails as told.
const dir = mkdtempSync(join(tmpdir(), 'berth-delegate-'));
const fake = join(dir, 'fake-ipam');
writeFileSync(
  fake,
  `#!/bin/sh
input=$(cat)
case "$CNI_COMMAND" in
  ADD) printf '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.5/24","gateway":"10.1.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["%s"]}}' "$CNI_CONTAINERID/$CNI_IFNAME/$CNI_ARGS" ;;
  DEL) case "$input" in *fail*) printf '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}'; exit 1 ;; esac ;;
  CHECK) echo "not json" >&2; exit 3 ;;
esac
`,
);
chmodSync(fake, 0o755);

// Plugins of another age: each logs "<verb> <cniVersion>" and speaks the versions in its name's list.
const log = join(dir, 'calls.log');
function agedPlugin(name: string, versions: readonly string[]): void {
  const file = join(dir, name);
  writeFileSync(
    file,
    `#!/bin/sh
input=$(cat)
version=$(printf '%s' "$input" | sed -n 's/.*"cniVersion":"\\([0-9.]*\\)".*/\\1/p')
echo "$CNI_COMMAND $version" >> ${log}
case "$CNI_COMMAND" in
  VERSION) printf '{"cniVersion":"%s","supportedVersions":${JSON.stringify(versions)}}' "$version"; exit 0 ;;
esac
case " ${versions.join(' ')} " in
  *" $version "*) ;;
  *) printf '{"code":1,"msg":"incompatible CNI versions","details":"config is %s"}' "$version"; exit 1 ;;
esac
[ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"%s","ips":[{"address":"10.1.0.5/24"}]}' "$version"
exit 0
`,
  );
  chmodSync(file, 0o755);
}
agedPlugin('old-ipam', ['0.3.1', '0.4.0', '1.0.0']);
agedPlugin('new-ipam', ['0.4.0', '1.0.0', '1.1.0']);
agedPlugin('ancient-ipam', ['0.3.1', '0.4.0']);
// Like the Go skel on VERSION: answers without reading stdin, then a refusal of ADD, also unread.
writeFileSync(
  join(dir, 'deaf-ipam'),
  `#!/bin/sh
case "$CNI_COMMAND" in
  VERSION) printf '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
  *) printf '{"code":7,"msg":"bad config","details":"unread"}'; exit 1 ;;
esac
`,
);
chmodSync(join(dir, 'deaf-ipam'), 0o755);
const calls = () => {
  const text = readFileSync(log, 'utf8').trim();
  writeFileSync(log, '');
  return text === '' ? [] : text.split('\n');
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { path: ['/nonexistent', dir], containerId: 'c1', ifName: 'eth0', netns: '/run/netns/x' };

describe('delegate', () => {
  it('finds the plugin in CNI_PATH order and names the directories when it is missing', () => {
    expect(findPlugin('fake-ipam', ['/nonexistent', dir])).toBe(fake);
    expect(() => findPlugin('nope', ['/a', '/b'])).toThrow('no plugin "nope" in CNI_PATH (/a:/b)');
    expect(() => findPlugin('../bin/sh', ['/usr'])).toThrow('invalid plugin type "../bin/sh"');
  });

  it('passes the CNI variables on and decodes an older result into the current shape', () => {
    const r = delegate('fake-ipam', {
      ...base,
      command: 'ADD',
      args: new Map([['IgnoreUnknown', '1']]),
      config: { name: 'n' },
    });
    expect(r).toEqual({
      ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['c1/eth0/IgnoreUnknown=1'] },
    });
  });

  it("turns the delegate's error JSON into an error with its code", () => {
    expect(() => delegate('fake-ipam', { ...base, command: 'DEL', config: { name: 'fail' } })).toThrow(
      expect.objectContaining({ code: 11, msg: 'fake-ipam: busy', details: 'try later' }),
    );
  });

  it('reports a delegate that fails without error JSON with its status and stderr', () => {
    expect(() => delegate('fake-ipam', { ...base, command: 'CHECK', config: { name: 'n' } })).toThrow(
      expect.objectContaining({ code: 999, msg: 'fake-ipam failed with exit status 3', details: 'not json' }),
    );
  });

  it("takes the answer of a plugin that exits without reading stdin (the write's EPIPE is no failure)", () => {
    // Larger than a pipe's buffer, so the write cannot finish before the plugin exits.
    const config = { cniVersion: '1.0.0', name: 'n', pad: 'x'.repeat(256 * 1024) };
    expect(() => delegate('deaf-ipam', { ...base, command: 'ADD', config })).toThrow(
      expect.objectContaining({ code: 7, msg: 'deaf-ipam: bad config', details: 'unread' }),
    );
    expect(supportedVersions(join(dir, 'deaf-ipam'))).toEqual(['0.4.0', '1.0.0']);
  });

  describe('a delegate older than the config', () => {
    const call = (type: string, command: 'ADD' | 'DEL' | 'GC' | 'STATUS', cniVersion: string) => {
      writeFileSync(log, '');
      return delegate(type, { ...base, command, config: { cniVersion, name: 'n' } });
    };

    it('gets ADD and DEL of a 1.1.0 config as 1.0.0, the same shape', () => {
      expect(call('old-ipam', 'ADD', '1.1.0')).toEqual({ ips: [{ address: '10.1.0.5/24' }] });
      expect(calls()).toEqual(['ADD 1.1.0', 'VERSION 1.1.0', 'ADD 1.0.0']);
      expect(call('old-ipam', 'DEL', '1.1.0')).toBeUndefined();
      expect(calls()).toEqual(['DEL 1.1.0', 'VERSION 1.1.0', 'DEL 1.0.0']);
    });

    it('keeps its refusal when it does not speak 1.0.0, or when the config was not 1.1.0', () => {
      expect(() => call('ancient-ipam', 'ADD', '1.1.0')).toThrow(
        expect.objectContaining({ code: 1, msg: 'ancient-ipam: incompatible CNI versions' }),
      );
      expect(calls()).toEqual(['ADD 1.1.0', 'VERSION 1.1.0']);
      expect(() => call('ancient-ipam', 'ADD', '1.0.0')).toThrow(expect.objectContaining({ code: 1 }));
      expect(calls()).toEqual(['ADD 1.0.0']);
    });

    it('is asked no GC or STATUS, which it does not have; a 1.1.0 delegate is', () => {
      expect(call('old-ipam', 'GC', '1.1.0')).toBeUndefined();
      expect(calls()).toEqual(['VERSION 1.1.0']);
      expect(call('old-ipam', 'STATUS', '1.1.0')).toBeUndefined();
      expect(calls()).toEqual(['VERSION 1.1.0']);
      call('new-ipam', 'GC', '1.1.0');
      expect(calls()).toEqual(['VERSION 1.1.0', 'GC 1.1.0']);
      call('new-ipam', 'STATUS', '1.1.0');
      expect(calls()).toEqual(['VERSION 1.1.0', 'STATUS 1.1.0']);
    });

    it('a delegate that speaks 1.1.0 is run once', () => {
      call('new-ipam', 'ADD', '1.1.0');
      expect(calls()).toEqual(['ADD 1.1.0']);
    });
  });
});
