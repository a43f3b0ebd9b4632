/**
 * The thin CNI client (netlink/src/cni-client.c) answers VERSION itself: byte for byte what the
 * TypeScript skel prints for the same stdin (the bundle beside it, <name>.js), for configs of every
 * version, malformed ones and odd JSON. No root needed: VERSION touches nothing and starts no daemon.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST_CNI } from './helpers/cni.js';

const built = existsSync(join(DIST_CNI, 'berth-bridge')) && existsSync(join(DIST_CNI, 'berth-bridge.js'));

function version(file: string, stdin: string | Buffer, env: Record<string, string> = {}): string {
  const r = spawnSync(file, [], {
    env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION', ...env },
    input: stdin,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect([r.status, r.stderr], `${file} on ${JSON.stringify(stdin).slice(0, 80)}`).toEqual([0, '']);
  return r.stdout;
}

const INPUTS: readonly (string | Buffer)[] = [
  '{"cniVersion":"1.0.0"}',
  '{"cniVersion":"0.3.1","name":"n","type":"berth-bridge"}',
  ' \n\t{ "name" : "x" , "cniVersion" : "0.4.0" }\r\n',
  '{"cniVersion":"9.12.345"}', // the x.y.z shape is echoed even when unsupported
  '{"cniVersion":"1.0"}',
  '{"cniVersion":"v1.0.0"}',
  '{"cniVersion":1}',
  '{"cniVersion":null}',
  '{"cniVersion":"0.4.0","cniVersion":"1.0.0"}', // the last wins, as in JSON.parse
  '{"cniVersion":"0.4.0","cniVersion":7}',
  '{"cni\\u0056ersion":"0.3.0"}', // an escaped key is the same key
  '{"cniVersion":"1\\u002e0.0"}',
  '{"cniVersion\\u0000":"0.3.0"}',
  '{"prevResult":{"cniVersion":"0.3.0"},"cniVersion":"1.0.0"}', // only the top level counts
  '{"prevResult":{"cniVersion":"0.3.0"}}',
  '{"cniVersion":"1.0.0","args":{"a":[1,-2.5e+3,true,false,null,"é\\"\\\\"],"b":{}}}',
  '{"cniVersion":"1.0.0"} trailing',
  '{"cniVersion":"1.0.0",}',
  '{"cniVersion":"1.0.0"',
  '{"cniVersion":"1.0.0","n":01}',
  '{"cniVersion":"1.0.0","s":"tab\tinside"}',
  '["cniVersion","1.0.0"]',
  '"1.0.0"',
  '',
  'not json',
  Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"cniVersion":"0.4.0"}')]), // a BOM
  Buffer.concat([Buffer.from('{"cniVersion":"0.4.0","x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
  `{"cniVersion":"0.3.1","big":"${'x'.repeat(2 << 20)}"}`,
];

describe.skipIf(!built)('the CNI client answers VERSION as the skel does', () => {
  it('for configs of every version, malformed ones and odd JSON', () => {
    for (const stdin of INPUTS) {
      const fromC = version(join(DIST_CNI, 'berth-bridge'), stdin);
      expect(fromC, `stdin ${JSON.stringify(String(stdin)).slice(0, 80)}`).toBe(
        version(join(DIST_CNI, 'berth-bridge.js'), stdin),
      );
    }
  });

  it.each(['berth', 'berth-bandwidth', 'berth-dns', 'berth-ipam', 'berth-loopback', 'berth-macvlan', 'berth-portmap'])(
    'under the name %s too',
    (name) => {
      for (const stdin of INPUTS.slice(0, 2)) {
        expect(version(join(DIST_CNI, name), stdin)).toBe(version(join(DIST_CNI, `${name}.js`), stdin));
      }
    },
  );

  it('also with the daemon off, and with stdin from /dev/null', () => {
    const exe = join(DIST_CNI, 'berth-bridge');
    expect(JSON.parse(version(exe, '{"cniVersion":"0.4.0"}', { BERTH_DAEMON: '0' }))).toMatchObject({
      cniVersion: '0.4.0',
    });
    const r = spawnSync(exe, [], {
      env: { CNI_COMMAND: 'VERSION' },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
  });
});
