import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binding } from '../../base/binding.js';
import { MemoryStore, parseRangeSet, type Reservation } from '../../network/ipam/index.js';
import { runSkel } from '../skel/skel.js';
import { type IpamPluginOptions, ipamPlugin, usage } from './ipam.js';

interface Run {
  readonly status: 0 | 1;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON the plugin printed
  readonly out: any;
  readonly stderr: string;
}

interface Invocation {
  readonly containerId?: string;
  readonly ifName?: string;
  readonly args?: string;
}

let dir: string;
let dataDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-ipam-plugin-'));
  dataDir = join(dir, 'data');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** One verb through the skel, as the executable runs it, with the plugin in this process. */
async function run(
  command: string,
  config: Record<string, unknown>,
  inv: Invocation = {},
  options: IpamPluginOptions = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const env: Record<string, string> = { CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' };
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    env.CNI_CONTAINERID = inv.containerId ?? 'ctr1';
    env.CNI_IFNAME = inv.ifName ?? 'eth0';
    if (command !== 'DEL') env.CNI_NETNS = '/var/run/netns/test';
  }
  if (inv.args !== undefined) env.CNI_ARGS = inv.args;
  const status = await runSkel(ipamPlugin(options), {
    env,
    stdin: JSON.stringify(config),
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { status, out: stdout.trim() === '' ? undefined : JSON.parse(stdout), stderr };
}

/** A network config as a runtime passes it: bridge-like main plugin, the IPAM section inside. */
function netconf(ipam: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'testnet',
    type: 'bridge',
    ipam: { type: 'berth-ipam', dataDir, ranges: [[{ subnet: '10.30.0.0/29' }]], ...ipam },
    ...extra,
  };
}

const dualStack = { ranges: [[{ subnet: '10.30.0.0/29' }], [{ subnet: 'fd00:30::/125' }]] };
const netDir = () => join(dataDir, 'testnet');
const files = () => readdirSync(netDir()).sort();

describe('ADD', () => {
  it('hands out one address per range set, with gateway, routes and dns, and no interfaces', async () => {
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(
      resolv,
      'nameserver 10.30.0.1\nnameserver fd00:30::1\ndomain example.test\nsearch a.test b.test\noptions ndots:2\n',
    );
    const r = await run(
      'ADD',
      netconf({
        ...dualStack,
        resolvConf: resolv,
        routes: [{ dst: '0.0.0.0/0' }, { dst: '10.8.0.0/16', gw: '10.30.0.6', mtu: 1400 }],
      }),
    );
    expect(r.status).toBe(0);
    expect(r.out).toEqual({
      cniVersion: '1.1.0',
      ips: [
        { address: '10.30.0.2/29', gateway: '10.30.0.1' },
        { address: 'fd00:30::2/125', gateway: 'fd00:30::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.8.0.0/16', gw: '10.30.0.6', mtu: 1400 }],
      dns: {
        nameservers: ['10.30.0.1', 'fd00:30::1'],
        domain: 'example.test',
        search: ['a.test', 'b.test'],
        options: ['ndots:2'],
      },
    });
    // host-local's layout, byte for byte.
    expect(files()).toEqual(['10.30.0.2', 'fd00:30::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(readFileSync(join(netDir(), '10.30.0.2'), 'utf8')).toBe('ctr1\r\neth0');
    expect(readFileSync(join(netDir(), 'last_reserved_ip.1'), 'utf8')).toBe('fd00:30::2');
  });

  it('writes the result in the config version: ips[].version in 0.4.0, no 1.1.0 route attributes before 1.1.0', async () => {
    const routes = [{ dst: '0.0.0.0/0', mtu: 1400 }];
    const v04 = await run('ADD', netconf({ routes }, { cniVersion: '0.4.0' }), { containerId: 'a' });
    expect(v04.out).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.30.0.2/29', gateway: '10.30.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    const v10 = await run('ADD', netconf({ routes }, { cniVersion: '1.0.0' }), { containerId: 'b' });
    expect(v10.out).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.30.0.3/29', gateway: '10.30.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
  });

  it('goes round robin over the range like host-local', async () => {
    const got: string[] = [];
    for (const id of ['a', 'b']) got.push((await run('ADD', netconf(), { containerId: id })).out.ips[0].address);
    await run('DEL', netconf(), { containerId: 'a' });
    got.push((await run('ADD', netconf(), { containerId: 'c' })).out.ips[0].address);
    expect(got).toEqual(['10.30.0.2/29', '10.30.0.3/29', '10.30.0.4/29']);
  });

  it('honours a requested address from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips', async () => {
    const fromEnv = await run('ADD', netconf(), { containerId: 'env', args: 'IgnoreUnknown=1;IP=10.30.0.5' });
    expect(fromEnv.out.ips).toEqual([{ address: '10.30.0.5/29', gateway: '10.30.0.1' }]);
    const fromArgs = await run('ADD', netconf({}, { args: { cni: { ips: ['10.30.0.4'] } } }), { containerId: 'args' });
    expect(fromArgs.out.ips[0].address).toBe('10.30.0.4/29');
    const fromCap = await run('ADD', netconf(dualStack, { runtimeConfig: { ips: ['fd00:30::7/125'] } }), {
      containerId: 'cap',
    });
    expect(fromCap.out.ips.map((i: { address: string }) => i.address)).toEqual(['10.30.0.6/29', 'fd00:30::7/125']);
    // The same address from two sources is one request.
    const both = await run('ADD', netconf({}, { runtimeConfig: { ips: ['10.30.0.3/29'] } }), {
      containerId: 'both',
      args: 'IP=10.30.0.3',
    });
    expect(both.out.ips[0].address).toBe('10.30.0.3/29');
  });

  it('refuses a requested address that is taken, naming its holder, and reserves nothing', async () => {
    await run('ADD', netconf(), { containerId: 'first', args: 'IP=10.30.0.5' });
    const r = await run('ADD', netconf(dualStack), { containerId: 'second', args: 'IP=10.30.0.5' });
    expect(r.status).toBe(1);
    expect(r.out).toMatchObject({
      code: 7,
      msg: 'requested IP 10.30.0.5 is already reserved by container first (eth0)',
    });
    expect(files()).toEqual(['10.30.0.5', 'last_reserved_ip.0', 'lock']);
  });

  it('fails a second ADD of the same attachment as host-local does, keeping the first reservation', async () => {
    expect((await run('ADD', netconf())).status).toBe(0);
    const again = await run('ADD', netconf());
    expect(again.status).toBe(1);
    expect(again.out).toMatchObject({
      code: 7,
      msg: 'container ctr1 (eth0) already holds 10.30.0.2 in range set 0 (10.30.0.0/29 (10.30.0.1-10.30.0.6))',
    });
    expect(files()).toEqual(['10.30.0.2', 'last_reserved_ip.0', 'lock']);
    // Another interface of the same container is another attachment.
    expect((await run('ADD', netconf(), { ifName: 'eth1' })).out.ips[0].address).toBe('10.30.0.3/29');
  });

  it('fails with code 100 naming the range when it is full, and takes nothing from the other sets', async () => {
    for (let i = 0; i < 5; i++) expect((await run('ADD', netconf(), { containerId: `c${i}` })).status).toBe(0);
    const r = await run('ADD', netconf({ ranges: [[{ subnet: 'fd00:30::/125' }], [{ subnet: '10.30.0.0/29' }]] }), {
      containerId: 'late',
    });
    expect(r.out).toEqual({
      cniVersion: '1.1.0',
      code: 100,
      msg: 'no free address in range set 1 (10.30.0.0/29 (10.30.0.1-10.30.0.6)): all 5 addresses are taken',
      details: expect.stringContaining('larger range'),
    });
    expect(files().filter((f) => f.startsWith('fd00'))).toEqual([]);
  });

  it('refuses an invalid range with code 7 naming it, before touching the data dir', async () => {
    const r = await run('ADD', netconf({ ranges: [[{ subnet: '10.30.0.0/29' }], [{ subnet: '10.31.0.7/24' }]] }));
    expect(r.out).toMatchObject({ code: 7, msg: 'ipam.ranges[1][0].subnet "10.31.0.7/24" has host bits set' });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses a config without an ipam section or ranges', async () => {
    const none = await run('ADD', { cniVersion: '1.1.0', name: 'testnet', type: 'berth-ipam' });
    expect(none.out).toMatchObject({ code: 7, msg: 'the network config has no "ipam" object' });
    const empty = await run('ADD', netconf({ ranges: undefined }));
    expect(empty.out).toMatchObject({ code: 7, msg: 'the ipam section has no address ranges' });
  });

  it('reads resolvConf before reserving: an unreadable one leaves nothing behind', async () => {
    const r = await run('ADD', netconf({ resolvConf: join(dir, 'missing.conf') }));
    expect(r.out).toMatchObject({ code: 7 });
    expect(r.out.msg).toContain('missing.conf cannot be read');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('reports a data dir that is not a folder as an I/O failure naming it', async () => {
    writeFileSync(join(dir, 'plain-file'), '');
    const r = await run('ADD', netconf({ dataDir: join(dir, 'plain-file') }));
    expect(r.out).toMatchObject({
      code: 5,
      msg: expect.stringContaining(`IPAM data dir ${join(dir, 'plain-file', 'testnet')}`),
    });
    expect(r.out.msg).toContain('ENOTDIR');
  });

  it('fails with code 11 when the lock is held past ipam.lockTimeoutMs', async () => {
    mkdirSync(netDir(), { recursive: true });
    const fd = openSync(join(netDir(), 'lock'), 'a');
    try {
      binding().flock(fd, true, 1000);
      const started = Date.now();
      const r = await run('ADD', netconf({ lockTimeoutMs: 150 }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(r.out).toMatchObject({
        code: 11,
        msg: `timed out after 150 ms waiting for the IPAM lock ${join(netDir(), 'lock')}`,
      });
    } finally {
      closeSync(fd);
    }
    expect(files()).toEqual(['lock']);
    expect((await run('ADD', netconf({ lockTimeoutMs: 150 }))).status).toBe(0);
  });

  it('refuses an ipam.lockTimeoutMs that is not a number of milliseconds', async () => {
    const r = await run('ADD', netconf({ lockTimeoutMs: '5s' }));
    expect(r.out).toMatchObject({ code: 7, msg: expect.stringContaining('ipam.lockTimeoutMs "5s"') });
  });
});

describe('DEL', () => {
  it('releases the attachment and only it; a second DEL succeeds', async () => {
    await run('ADD', netconf(dualStack), { containerId: 'a' });
    await run('ADD', netconf(dualStack), { containerId: 'a', ifName: 'eth1' });
    const del = await run('DEL', netconf(dualStack), { containerId: 'a' });
    expect(del).toEqual({ status: 0, out: undefined, stderr: '' });
    expect(files()).toEqual(['10.30.0.3', 'fd00:30::3', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect((await run('DEL', netconf(dualStack), { containerId: 'a' })).status).toBe(0);
    expect((await run('DEL', netconf(dualStack), { containerId: 'never-added' })).status).toBe(0);
  });

  it('succeeds without the data dir and does not create it', async () => {
    const r = await run('DEL', netconf());
    expect(r.status).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('releases even when the config no longer parses (a range edited since the ADD)', async () => {
    await run('ADD', netconf());
    const r = await run('DEL', netconf({ ranges: [[{ subnet: 'not-a-subnet' }]], lockTimeoutMs: -1 }));
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('ipam.lockTimeoutMs -1');
    expect(files()).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('frees an ID-only reservation of an old host-local', async () => {
    mkdirSync(netDir(), { recursive: true });
    writeFileSync(join(netDir(), '10.30.0.4'), 'ctr1');
    expect((await run('DEL', netconf())).status).toBe(0);
    expect(existsSync(join(netDir(), '10.30.0.4'))).toBe(false);
  });
});

describe('CHECK', () => {
  const prevResult = (...addresses: string[]) => ({
    cniVersion: '1.1.0',
    ips: addresses.map((address) => ({ address })),
  });

  it('succeeds while the attachment holds an address in every set matching prevResult', async () => {
    const add = await run('ADD', netconf(dualStack));
    const r = await run('CHECK', netconf(dualStack, { prevResult: add.out }));
    expect(r).toEqual({ status: 0, out: undefined, stderr: '' });
  });

  it('ignores prevResult addresses outside its ranges (another plugin of the chain made them)', async () => {
    await run('ADD', netconf());
    expect((await run('CHECK', netconf({}, { prevResult: prevResult('10.30.0.2/29', '192.0.2.9/24') }))).status).toBe(
      0,
    );
  });

  it('fails naming the attachment when it holds nothing, or the data dir is gone', async () => {
    await run('ADD', netconf(), { containerId: 'other' });
    const r = await run('CHECK', netconf({}, { prevResult: prevResult('10.30.0.2/29') }));
    expect(r.out).toMatchObject({
      code: 3,
      msg: 'container ctr1 (eth0) holds no address in range set 0 (10.30.0.0/29 (10.30.0.1-10.30.0.6)) of network testnet',
    });
    rmSync(dataDir, { recursive: true });
    const gone = await run('CHECK', netconf({}, { prevResult: prevResult('10.30.0.2/29') }));
    expect(gone.out).toMatchObject({
      code: 3,
      msg: `container ctr1 (eth0) holds no address on network testnet: ${netDir()} does not exist`,
    });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('fails naming the missing set when the attachment holds only some', async () => {
    const store = new MemoryStore([{ ip: '10.30.0.2', containerID: 'ctr1', ifname: 'eth0' }]);
    const r = await run(
      'CHECK',
      netconf(dualStack, { prevResult: prevResult('10.30.0.2/29') }),
      {},
      {
        openStore: () => store,
      },
    );
    expect(r.out).toMatchObject({
      code: 3,
      msg: expect.stringContaining('holds no address in range set 1 (fd00:30::/125'),
    });
  });

  it('fails when prevResult gives another address than the reservation', async () => {
    await run('ADD', netconf());
    const r = await run('CHECK', netconf({}, { prevResult: prevResult('10.30.0.5/29') }));
    expect(r.out).toMatchObject({
      code: 3,
      msg: 'prevResult gives container ctr1 (eth0) the address 10.30.0.5/29, but its reservation in range set 0 is 10.30.0.2/29',
    });
  });

  it('needs prevResult, as the spec makes it mandatory for CHECK', async () => {
    await run('ADD', netconf());
    expect((await run('CHECK', netconf())).out).toMatchObject({ code: 7, msg: 'CHECK without prevResult' });
  });
});

describe('GC', () => {
  const gcConf = (valid: { containerID: string; ifname: string }[], ipam: Record<string, unknown> = {}) =>
    netconf(ipam, { 'cni.dev/valid-attachments': valid });

  it('releases every reservation that is not a valid attachment, and says which', async () => {
    await run('ADD', netconf(dualStack), { containerId: 'live' });
    await run('ADD', netconf(dualStack), { containerId: 'live', ifName: 'eth1' });
    await run('ADD', netconf(dualStack), { containerId: 'dead' });
    const r = await run('GC', gcConf([{ containerID: 'live', ifname: 'eth0' }], dualStack));
    expect(r.status).toBe(0);
    expect(r.out).toBeUndefined();
    expect(r.stderr.trim().split('\n')).toEqual([
      'released 10.30.0.3 of container live (eth1): not a valid attachment',
      'released 10.30.0.4 of container dead (eth0): not a valid attachment',
      'released fd00:30::3 of container live (eth1): not a valid attachment',
      'released fd00:30::4 of container dead (eth0): not a valid attachment',
    ]);
    expect(files()).toEqual(['10.30.0.2', 'fd00:30::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
  });

  it('with an empty list releases everything; without the data dir it is a no-op that creates nothing', async () => {
    await run('ADD', netconf());
    expect((await run('GC', gcConf([]))).status).toBe(0);
    expect(files()).toEqual(['last_reserved_ip.0', 'lock']);
    rmSync(dataDir, { recursive: true });
    expect((await run('GC', gcConf([]))).status).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses to run without the list of valid attachments', async () => {
    await run('ADD', netconf());
    expect((await run('GC', netconf())).out).toMatchObject({ code: 7, msg: 'GC without cni.dev/valid-attachments' });
    expect(files()).toContain('10.30.0.2');
  });
});

describe('STATUS', () => {
  it('succeeds with free addresses, creating the network folder it will write in', async () => {
    expect(await run('STATUS', netconf())).toEqual({ status: 0, out: undefined, stderr: '' });
    // The write probe leaves nothing behind.
    expect(files()).toEqual(['lock']);
  });

  it('fails with code 50 when a range set is full, saying how many are taken', async () => {
    for (let i = 0; i < 5; i++) await run('ADD', netconf(dualStack), { containerId: `c${i}` });
    // The IPv6 /125 still has 1 of 6 free; the IPv4 /29 has none, and an ADD needs both.
    const r = await run('STATUS', netconf(dualStack));
    expect(r.out).toEqual({
      cniVersion: '1.1.0',
      code: 50,
      msg: 'network testnet has no free address: range set 0 (10.30.0.0/29 (10.30.0.1-10.30.0.6)) has all 5 taken',
      details: expect.stringContaining('larger range'),
    });
    await run('DEL', netconf(dualStack), { containerId: 'c3' });
    expect((await run('STATUS', netconf(dualStack))).status).toBe(0);
  });

  it('fails with code 50 when the data dir cannot be written', async () => {
    writeFileSync(join(dir, 'plain-file'), '');
    const r = await run('STATUS', netconf({ dataDir: join(dir, 'plain-file') }));
    expect(r.out).toMatchObject({
      code: 50,
      msg: expect.stringContaining(
        `the IPAM data dir ${join(dir, 'plain-file', 'testnet')} cannot be written: ENOTDIR`,
      ),
    });
  });

  it('is refused for configs older than 1.1.0, which have no STATUS', async () => {
    expect((await run('STATUS', netconf({}, { cniVersion: '1.0.0' }))).out).toMatchObject({ code: 1 });
  });
});

describe('usage', () => {
  const set = parseRangeSet([{ subnet: '10.40.0.0/29' }], 'test'); // .2 to .6 handed out
  const r = (ip: string): Reservation => ({ ip, containerID: 'x', ifname: 'eth0' });

  it('counts reservations in the set, not those outside it or on addresses never handed out', () => {
    expect(
      usage(set, [r('10.40.0.2'), r('10.40.0.6'), r('10.41.0.2'), r('10.40.0.1'), r('10.40.0.7'), r('fd00::2')]),
    ).toEqual({
      size: 5n,
      taken: 2n,
    });
  });
});
