import { describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { Address } from '../../netlink/addresses.js';
import type { Link } from '../../netlink/links.js';
import type { LoopbackKernel, LoopbackNetns } from '../../network/loopback.js';
import type { NetnsState } from '../../network/netns.js';
import type { AddRequest, CheckRequest, CniResult, DelRequest, NetConf, PluginContext } from '../types.js';
import { isLoopbackAddress, loopbackPlugin, loopbackResult } from './loopback.js';

const NS = '/run/netns/c1';

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::2', false],
    ['fe80::1', false],
    ['not an address', false],
  ])('%s → %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
});

describe('loopbackResult', () => {
  it('reports lo with the first address of each family, as the reference does', () => {
    expect(loopbackResult(NS, ['127.0.0.1/8', '127.0.0.2/8'], ['::1/128'])).toEqual({
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: NS }],
      ips: [
        { address: '127.0.0.1/8', interface: 0 },
        { address: '::1/128', interface: 0 },
      ],
    });
  });

  it('leaves out a family lo has no address of (IPv6 disabled), and ips when it has none', () => {
    expect(loopbackResult(NS, ['127.0.0.1/8'], []).ips).toEqual([{ address: '127.0.0.1/8', interface: 0 }]);
    expect(loopbackResult(NS, [], [])).toEqual({ interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: NS }] });
  });

  it('refuses a non-loopback address on lo, naming it', () => {
    const e = catchBerth(() => loopbackResult(NS, ['127.0.0.1/8', '10.1.2.3/32'], ['::1/128']));
    expect(e.msg).toBe(`lo in ${NS} has the non-loopback address 10.1.2.3/32`);
    expect(catchBerth(() => loopbackResult(NS, ['127.0.0.1/8'], ['::1/128', 'fd00::5/128'])).msg).toContain(
      'fd00::5/128',
    );
  });
});

/** A netns with only lo, recording what the plugin did to it. */
function fakeKernel(opts: { state?: NetnsState; up?: boolean; v4?: string[]; v6?: string[]; noLo?: boolean } = {}) {
  const calls: string[] = [];
  let up = opts.up ?? false;
  const state = opts.state ?? 'netns';
  const lo = (): Link => ({
    index: 1,
    name: 'lo',
    type: 'loopback',
    mtu: 65536,
    up,
    promisc: false,
    flags: up ? 1 : 0,
    operState: 'unknown',
  });
  const addr = (cidr: string, family: 4 | 6): Address => ({ index: 1, cidr, family, scope: 'host', flags: 0 });
  const netns: LoopbackNetns = {
    getLink: async (ref) => {
      calls.push(`getLink ${ref}`);
      return opts.noLo || ref !== 'lo' ? null : lo();
    },
    setLinkUp: async (ref) => {
      calls.push(`up ${ref}`);
      up = true;
    },
    setLinkDown: async (ref) => {
      calls.push(`down ${ref}`);
      up = false;
    },
    listAddresses: async (_ref, family) => {
      // Like the kernel: ::1 exists only while lo is up.
      if (family === 4) return (opts.v4 ?? ['127.0.0.1/8']).map((a) => addr(a, 4));
      return up ? (opts.v6 ?? ['::1/128']).map((a) => addr(a, 6)) : [];
    },
    close: () => {
      calls.push('close');
    },
  };
  const kernel: LoopbackKernel = {
    inspect: (path) => {
      calls.push(`inspect ${path}`);
      return state;
    },
    open: (path) => {
      calls.push(`open ${path}`);
      return netns;
    },
  };
  return { kernel, calls, isUp: () => up };
}

const config = (extra: Partial<NetConf> = {}): NetConf => ({
  cniVersion: '1.1.0',
  name: 'lo-net',
  type: 'berth-loopback',
  args: {},
  runtimeConfig: {},
  raw: {},
  ...extra,
});
const common = { containerId: 'c1', ifName: 'eth0', args: new Map<string, string>(), path: [] };
const addRequest = (extra: Partial<NetConf> = {}): AddRequest => ({
  command: 'ADD',
  netns: NS,
  ...common,
  config: config(extra),
});
const checkRequest = (): CheckRequest => ({
  command: 'CHECK',
  netns: NS,
  ...common,
  config: { ...config(), prevResult: {} },
});
const delRequest = (netns?: string): DelRequest => ({
  command: 'DEL',
  ...common,
  ...(netns === undefined ? {} : { netns }),
  config: config(),
});

function context() {
  const logs: string[] = [];
  const ctx: PluginContext = { log: (m) => logs.push(m) };
  return { ctx, logs };
}

describe('loopbackPlugin ADD', () => {
  it('sets lo up, then reports it with the addresses it has once up, and closes the handle', async () => {
    const k = fakeKernel();
    const result = await loopbackPlugin(k.kernel).add(addRequest(), context().ctx);
    expect(k.isUp()).toBe(true);
    expect(result).toEqual(loopbackResult(NS, ['127.0.0.1/8'], ['::1/128']));
    expect(k.calls).toEqual([`inspect ${NS}`, `open ${NS}`, 'getLink lo', 'up lo', 'close']);
  });

  it('ignores CNI_IFNAME: only lo is touched and reported', async () => {
    const k = fakeKernel();
    const result = await loopbackPlugin(k.kernel).add({ ...addRequest(), ifName: 'eth7' }, context().ctx);
    expect(result.interfaces?.map((i) => i.name)).toEqual(['lo']);
    expect(k.calls).not.toContain('up eth7');
  });

  it('passes a prevResult through unchanged, after setting lo up', async () => {
    const prevResult: CniResult = {
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: NS }],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      dns: { nameservers: ['10.88.0.1'] },
    };
    const k = fakeKernel();
    expect(await loopbackPlugin(k.kernel).add(addRequest({ prevResult }), context().ctx)).toBe(prevResult);
    expect(k.isUp()).toBe(true);
  });

  it('still refuses a non-loopback address on lo when chained', async () => {
    const k = fakeKernel({ v4: ['127.0.0.1/8', '192.0.2.1/32'] });
    const e = await rejection(loopbackPlugin(k.kernel).add(addRequest({ prevResult: {} }), context().ctx));
    expect(e.msg).toContain('192.0.2.1/32');
  });

  it('is code 3 for a netns that does not exist and 4 for a path that is not a netns, without opening it', async () => {
    const gone = fakeKernel({ state: 'missing' });
    const e3 = await rejection(loopbackPlugin(gone.kernel).add(addRequest(), context().ctx));
    expect([e3.code, e3.msg]).toEqual([ErrorCode.UnknownContainer, `network namespace ${NS} does not exist`]);
    expect(gone.calls).toEqual([`inspect ${NS}`]);

    const file = fakeKernel({ state: 'not-netns' });
    const e4 = await rejection(loopbackPlugin(file.kernel).add(addRequest(), context().ctx));
    expect([e4.code, e4.msg]).toEqual([ErrorCode.InvalidEnvironment, `CNI_NETNS ${NS} is not a network namespace`]);
  });

  it.each([
    ['own', "is the network namespace the plugin runs in (the host's)"],
    ['host', "is the host's network namespace (that of PID 1)"],
  ] as const)('is code 4 for the %s netns, on ADD and CHECK, without opening it', async (state, says) => {
    const k = fakeKernel({ state });
    const add = await rejection(loopbackPlugin(k.kernel).add(addRequest(), context().ctx));
    expect([add.code, add.msg]).toEqual([ErrorCode.InvalidEnvironment, `CNI_NETNS ${NS} ${says}, not a container's`]);
    expect(add.details).toContain("give the container's own netns");
    const check = await rejection(loopbackPlugin(k.kernel).check(checkRequest(), context().ctx));
    expect(check.code).toBe(ErrorCode.InvalidEnvironment);
    expect(k.calls).toEqual([`inspect ${NS}`, `inspect ${NS}`]);
  });

  it('fails when the netns has no lo, and closes the handle', async () => {
    const k = fakeKernel({ noLo: true });
    const e = await rejection(loopbackPlugin(k.kernel).add(addRequest(), context().ctx));
    expect(e.msg).toContain('has no interface named lo');
    expect(k.calls.at(-1)).toBe('close');
  });
});

describe('loopbackPlugin DEL', () => {
  it('sets lo down', async () => {
    const k = fakeKernel({ up: true });
    await loopbackPlugin(k.kernel).del(delRequest(NS), context().ctx);
    expect(k.isUp()).toBe(false);
    expect(k.calls).toEqual([`inspect ${NS}`, `open ${NS}`, 'getLink lo', 'down lo', 'close']);
  });

  it('succeeds without touching anything when CNI_NETNS is absent', async () => {
    const k = fakeKernel({ up: true });
    await loopbackPlugin(k.kernel).del(delRequest(), context().ctx);
    expect(k.calls).toEqual([]);
  });

  it.each(['missing', 'not-netns', 'own', 'host', 'denied'] as const)(
    'succeeds when the netns is %s, and says so on stderr',
    async (state) => {
      const k = fakeKernel({ state });
      const { ctx, logs } = context();
      await loopbackPlugin(k.kernel).del(delRequest(NS), ctx);
      expect(k.calls).toEqual([`inspect ${NS}`]);
      expect(logs).toEqual([expect.stringContaining(`${NS} is`)]);
    },
  );

  it('succeeds when the netns vanishes between the look and the open', async () => {
    const k = fakeKernel();
    const vanished: LoopbackKernel = {
      inspect: k.kernel.inspect,
      open: () => {
        throw Object.assign(new Error(`open ${NS}: no such file`), { code: 'ENOENT', errno: -2, syscall: 'open' });
      },
    };
    const { ctx, logs } = context();
    await loopbackPlugin(vanished).del(delRequest(NS), ctx);
    expect(logs).toEqual([expect.stringContaining('went away')]);
  });
});

describe('loopbackPlugin CHECK', () => {
  it('passes when lo is up', async () => {
    const k = fakeKernel({ up: true });
    await loopbackPlugin(k.kernel).check(checkRequest(), context().ctx);
    expect(k.calls.at(-1)).toBe('close');
  });

  it('fails when lo is down', async () => {
    const e = await rejection(loopbackPlugin(fakeKernel({ up: false }).kernel).check(checkRequest(), context().ctx));
    expect(e.msg).toBe(`lo in ${NS} is down`);
  });

  it('fails with code 3 when the netns is gone', async () => {
    const e = await rejection(
      loopbackPlugin(fakeKernel({ state: 'missing' }).kernel).check(checkRequest(), context().ctx),
    );
    expect(e.code).toBe(ErrorCode.UnknownContainer);
  });
});

function catchBerth(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BerthError) return e;
    throw e;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BerthError) return e;
    throw e;
  }
  throw new Error('expected a rejection with a BerthError, the promise resolved');
}
