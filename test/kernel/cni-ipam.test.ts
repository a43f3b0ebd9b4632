/**
 * berth-ipam as the delegated IPAM of the reference bridge plugin: the bridge
 * execs it from CNI_PATH with the whole netconf on stdin and its own CNI_*
 * environment. The bridge runs inside a throwaway "host" netns (`ip netns exec`),
 * so its bridge and veths never reach the machine's own netns; the container is
 * a second throwaway netns.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltIpam, builtIpam } from '../../plugins/ipam/built.js';
import { REFERENCE_CNI } from '../helpers/cni.js';
import type { IpAddr } from '../helpers/ip-json.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const BRIDGE = join(REFERENCE_CNI, 'bridge');
const haveBridge = existsSync(BRIDGE);
const PLUGIN_TIMEOUT_MS = 30_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the plugin's JSON as printed
  readonly json: any;
}

const title = !haveBridge
  ? `reference bridge delegating to berth-ipam [skipped: no ${BRIDGE}]`
  : kernelSuite('reference bridge delegating to berth-ipam');

describe.skipIf(notRoot || !haveBridge)(title, () => {
  const netns = new TestNetns();
  let built: BuiltIpam;
  let dir: string;

  beforeAll(() => {
    TestNetns.removeStale();
    built = builtIpam();
  });
  afterEach(() => {
    netns.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterAll(() => {
    netns.cleanup();
    if (built) rmSync(built.root, { recursive: true, force: true });
  });

  /** A bridge netconf as a runtime passes it; the reference bridge (1.1.x) speaks up to 1.0.0. */
  function bridgeConf(subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: 'brnet',
      type: 'bridge',
      bridge: 'btipam0',
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'berth-ipam', dataDir: join(dir, 'data'), ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      ...extra,
    };
  }

  /** The reference bridge run inside the host netns, with berth-ipam first in CNI_PATH. */
  function bridge(command: string, host: TestNs, container: TestNs, id: string, config: unknown): Run {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: container.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${built.cniDir}:${REFERENCE_CNI}`,
    };
    const r = spawnSync('ip', ['netns', 'exec', host.name, BRIDGE], {
      env,
      input: JSON.stringify(config),
      encoding: 'utf8',
      timeout: PLUGIN_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    if (r.error) throw r.error;
    let json: unknown;
    try {
      json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {}
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  const reservations = () =>
    readdirSync(join(dir, 'data', 'brnet'))
      .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.') && !f.startsWith('.'))
      .sort();

  it('ADD gets its address from berth-ipam into the container; CHECK and DEL go through to it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-ipam-bridge-'));
    const host = await netns.create('ipamh');
    const c1 = await netns.create('ipamc1');
    const c2 = await netns.create('ipamc2');
    const conf = bridgeConf('10.62.0.0/24');

    const add1 = bridge('ADD', host, c1, 'ctr1', conf);
    expect(add1.code, `${add1.stdout}${add1.stderr}`).toBe(0);
    expect(add1.json.ips).toEqual([{ interface: 2, address: '10.62.0.2/24', gateway: '10.62.0.1' }]);
    expect(add1.json.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    const add2 = bridge('ADD', host, c2, 'ctr2', conf);
    expect(add2.code, `${add2.stdout}${add2.stderr}`).toBe(0);
    expect(add2.json.ips[0].address).toBe('10.62.0.3/24');

    // The kernel's view: the address berth-ipam chose is on eth0 in the container.
    const addrs = netns.ipJson<IpAddr[]>(c1, ['addr', 'show', 'dev', 'eth0']);
    expect(addrs[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      '10.62.0.2/24',
    ]);
    expect(readFileSync(join(dir, 'data', 'brnet', '10.62.0.2'), 'utf8')).toBe('ctr1\r\neth0');
    // And it works: container to container across the bridge, addresses of our own namespaces only.
    netns.exec(c1, ['ping', '-c', '1', '-W', '2', '10.62.0.3']);

    const check = bridge('CHECK', host, c1, 'ctr1', { ...conf, prevResult: add1.json });
    expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);

    const del = bridge('DEL', host, c1, 'ctr1', conf);
    expect(del.code, `${del.stdout}${del.stderr}`).toBe(0);
    expect(reservations()).toEqual(['10.62.0.3']);
    expect(bridge('DEL', host, c1, 'ctr1', conf).code).toBe(0);

    // The IPAM's CHECK failure reaches the runtime through the bridge, with its code.
    const stale = bridge('CHECK', host, c2, 'ctr2', {
      ...conf,
      prevResult: { ...add2.json, ips: [{ ...add2.json.ips[0], address: '10.62.0.9/24' }] },
    });
    expect(stale.code).toBe(1);
    expect(stale.json).toMatchObject({
      code: 3,
      msg: 'prevResult gives container ctr2 (eth0) the address 10.62.0.9/24, but its reservation in range set 0 is 10.62.0.3/24',
    });
  });

  it('an exhausted range fails the bridge ADD with berth-ipam code 100', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-ipam-bridge-'));
    const host = await netns.create('ipamh');
    const c1 = await netns.create('ipamc1');
    const c2 = await netns.create('ipamc2');
    const conf = bridgeConf('10.63.0.0/30'); // one address: .2

    expect(bridge('ADD', host, c1, 'ctr1', conf).code).toBe(0);
    const full = bridge('ADD', host, c2, 'ctr2', conf);
    expect(full.code).toBe(1);
    expect(full.json).toMatchObject({
      code: 100,
      msg: 'no free address in range set 0 (10.63.0.0/30 (10.63.0.1-10.63.0.2)): all 1 address is taken',
    });
    expect(reservations()).toEqual(['10.63.0.2']);
  });
});
