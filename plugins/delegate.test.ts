import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { delegate, findPlugin } from './delegate.js';

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
});
