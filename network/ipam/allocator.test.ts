import { describe, expect, it } from 'vitest';
import { ipText } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { Allocator, candidates } from './allocator.js';
import { MemoryStore } from './memory-store.js';
import { parseIp, parseRangeSet, type RangeConfig, type RangeSet } from './range.js';
import type { Reservation } from './store.js';

const set = (...ranges: RangeConfig[]): RangeSet => parseRangeSet(ranges, 'test');
const v4 = set({ subnet: '10.0.0.0/29' }); // .1 gateway, .2-.6 handed out, .7 broadcast
const v6 = set({ subnet: 'fd00::/126' }); // ::1 gateway, ::2 and ::3 handed out

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected the promise to reject');
}

const ips = (store: MemoryStore) => store.snapshot().map((r) => r.ip);

describe('candidates', () => {
  const order = (s: RangeSet, last?: string) =>
    [...candidates(s, last ? parseIp(last) : undefined)].map((c) => ipText(s[c.rangeIndex]!.family, c.value));

  it('starts at rangeStart without a last address, skipping the gateway', () => {
    expect(order(v4)).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('starts after the last address and wraps around to it', () => {
    expect(order(v4, '10.0.0.4')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(order(v4, '10.0.0.6')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('ignores a last address outside the set', () => {
    expect(order(v4, '192.168.0.9')).toEqual(order(v4));
  });

  it('walks the ranges of a set in order, wrapping from the last to the first', () => {
    const two = set(
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.12' },
      { subnet: '10.9.0.0/24', rangeStart: '10.9.0.1', rangeEnd: '10.9.0.3', gateway: '10.9.0.2' },
    );
    expect(order(two, '10.0.0.11')).toEqual(['10.0.0.12', '10.9.0.1', '10.9.0.3', '10.0.0.10', '10.0.0.11']);
    expect(order(two, '10.9.0.3')).toEqual(['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.9.0.1', '10.9.0.3']);
  });

  it('hands out the last IPv6 address but never the network address', () => {
    expect(order(set({ subnet: 'fd00::/126', rangeStart: 'fd00::' }))).toEqual(['fd00::2', 'fd00::3']);
  });
});

describe('Allocator.allocate', () => {
  it('returns the address with its prefix and gateway', async () => {
    const a = new Allocator(new MemoryStore(), [v4]);
    expect(await a.allocate('c1', 'eth0')).toEqual([
      {
        rangeSetIndex: 0,
        family: 4,
        ip: '10.0.0.2',
        address: '10.0.0.2/29',
        gateway: '10.0.0.1',
        subnet: '10.0.0.0/29',
      },
    ]);
  });

  it('goes round robin: a released address is not reused until the range has been walked', async () => {
    const store = new MemoryStore();
    const a = new Allocator(store, [v4]);
    expect((await a.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.2');
    expect((await a.allocate('c2', 'eth0'))[0]!.ip).toBe('10.0.0.3');
    await a.release('c1', 'eth0');
    expect((await a.allocate('c3', 'eth0'))[0]!.ip).toBe('10.0.0.4');
  });

  it('wraps around to free addresses at the start, skipping reserved ones', async () => {
    const store = new MemoryStore(
      [
        { ip: '10.0.0.2', containerID: 'x', ifname: 'eth0' },
        { ip: '10.0.0.4', containerID: 'y', ifname: 'eth0' },
      ],
      { 0: '10.0.0.5' },
    );
    const a = new Allocator(store, [v4]);
    expect((await a.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.6');
    expect((await a.allocate('c2', 'eth0'))[0]!.ip).toBe('10.0.0.3');
    expect((await a.allocate('c3', 'eth0'))[0]!.ip).toBe('10.0.0.5');
  });

  it('fails on a full range with a message naming it, its size and the fix', async () => {
    const store = new MemoryStore();
    const a = new Allocator(store, [v4]);
    for (let i = 0; i < 5; i++) await a.allocate(`c${i}`, 'eth0');
    const e = await rejection(a.allocate('one-too-many', 'eth0'));
    expect(e.code).toBe(ErrorCode.RangeExhausted);
    expect(e.code).toBe(100);
    expect(e.msg).toBe('no free address in range set 0 (10.0.0.0/29 (10.0.0.1-10.0.0.6)): all 5 addresses are taken');
    expect(e.details).toContain('larger range');
    expect(e.details).toContain('berth gc');
    expect(store.snapshot()).toHaveLength(5);
  });

  it('refuses a second allocation for the same attachment, naming what it holds', async () => {
    const a = new Allocator(new MemoryStore(), [v4]);
    await a.allocate('c1', 'eth0');
    const e = await rejection(a.allocate('c1', 'eth0'));
    expect(e.msg).toBe('container c1 (eth0) already holds 10.0.0.2 in range set 0 (10.0.0.0/29 (10.0.0.1-10.0.0.6))');
    expect((await a.allocate('c1', 'eth1'))[0]!.ip).toBe('10.0.0.3');
  });

  it('rejects a container ID or ifname that would break the reservation file', async () => {
    const a = new Allocator(new MemoryStore(), [v4]);
    expect((await rejection(a.allocate('', 'eth0'))).code).toBe(ErrorCode.InvalidEnvironment);
    expect((await rejection(a.allocate('a\r\nb', 'eth0'))).code).toBe(ErrorCode.InvalidEnvironment);
    expect((await rejection(a.allocate('c1', ''))).code).toBe(ErrorCode.InvalidEnvironment);
  });

  it('serializes concurrent allocations: 20 at once get 20 distinct addresses', async () => {
    const big = set({ subnet: '10.1.0.0/24' });
    const a = new Allocator(new MemoryStore(), [big]);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => a.allocate(`c${i}`, 'eth0')));
    expect(new Set(got.map((g) => g[0]!.ip)).size).toBe(20);
  });
});

describe('requested addresses', () => {
  it('hands out a requested free address and records it as the last reserved', async () => {
    const store = new MemoryStore();
    const a = new Allocator(store, [v4]);
    expect((await a.allocate('c1', 'eth0', ['10.0.0.5']))[0]!.address).toBe('10.0.0.5/29');
    expect((await a.allocate('c2', 'eth0'))[0]!.ip).toBe('10.0.0.6');
  });

  it('names the address and its holder when it is taken', async () => {
    const a = new Allocator(new MemoryStore([{ ip: '10.0.0.5', containerID: 'abc123', ifname: 'eth1' }]), [v4]);
    const e = await rejection(a.allocate('c1', 'eth0', ['10.0.0.5']));
    expect(e.msg).toBe('requested IP 10.0.0.5 is already reserved by container abc123 (eth1)');
  });

  it('rejects the gateway, an address outside every range, and a non-address', async () => {
    const a = new Allocator(new MemoryStore(), [v4, v6]);
    expect((await rejection(a.allocate('c', 'eth0', ['10.0.0.1']))).msg).toBe(
      'requested IP 10.0.0.1 is the gateway of 10.0.0.0/29',
    );
    const outside = await rejection(a.allocate('c', 'eth0', ['10.0.0.7']));
    expect(outside.msg).toBe('requested IP 10.0.0.7 is in none of the ranges of this network');
    expect(outside.details).toContain('10.0.0.0/29 (10.0.0.1-10.0.0.6); fd00::/126 (fd00::1-fd00::3)');
    expect((await rejection(a.allocate('c', 'eth0', ['nope']))).msg).toBe('requested IP "nope" is not an IP address');
  });

  it('takes an address requested twice (CNI_ARGS and runtimeConfig.ips) once', async () => {
    const store = new MemoryStore();
    const a = new Allocator(store, [v4, v6]);
    const got = await a.allocate('c', 'eth0', ['10.0.0.4', 'fd00::3', '10.0.0.4']);
    expect(got.map((g) => g.ip)).toEqual(['10.0.0.4', 'fd00::3']);
    expect(ips(store)).toEqual(['10.0.0.4', 'fd00::3']);
  });

  it('rejects two requested addresses in one set', async () => {
    const a = new Allocator(new MemoryStore(), [v4]);
    const e = await rejection(a.allocate('c', 'eth0', ['10.0.0.3', '10.0.0.4']));
    expect(e.msg).toBe('requested IPs 10.0.0.3 and 10.0.0.4 are both in range set 0');
  });
});

describe('dual stack and all-or-nothing', () => {
  it('takes one address per set, and lookup finds them', async () => {
    const a = new Allocator(new MemoryStore(), [v4, v6]);
    const got = await a.allocate('c1', 'eth0', ['fd00::3']);
    expect(got.map((g) => [g.rangeSetIndex, g.address, g.gateway])).toEqual([
      [0, '10.0.0.2/29', '10.0.0.1'],
      [1, 'fd00::3/126', 'fd00::1'],
    ]);
    expect(await a.lookup('c1', 'eth0')).toEqual(got);
    expect(await a.lookup('c1', 'eth1')).toEqual([]);
  });

  it('releases the first set when the second is full', async () => {
    const full: Reservation[] = [
      { ip: 'fd00::2', containerID: 'x', ifname: 'eth0' },
      { ip: 'fd00::3', containerID: 'y', ifname: 'eth0' },
    ];
    const store = new MemoryStore(full);
    const a = new Allocator(store, [v4, v6]);
    const e = await rejection(a.allocate('c1', 'eth0'));
    expect(e.code).toBe(ErrorCode.RangeExhausted);
    expect(e.msg).toContain('range set 1 (fd00::/126 (fd00::1-fd00::3)): all 2 addresses are taken');
    expect(store.snapshot()).toEqual(full);
  });

  it('releases the first set when the address requested in the second is taken', async () => {
    const store = new MemoryStore([{ ip: 'fd00::2', containerID: 'x', ifname: 'eth0' }]);
    const a = new Allocator(store, [v4, v6]);
    await rejection(a.allocate('c1', 'eth0', ['fd00::2']));
    expect(ips(store)).toEqual(['fd00::2']);
  });
});

describe('release, lookup and GC', () => {
  it('release is idempotent and touches only the attachment', async () => {
    const store = new MemoryStore();
    const a = new Allocator(store, [v4, v6]);
    await a.allocate('c1', 'eth0');
    await a.allocate('c1', 'eth1');
    expect(await a.release('c1', 'eth0')).toEqual(['10.0.0.2', 'fd00::2']);
    expect(await a.release('c1', 'eth0')).toEqual([]);
    expect(await a.release('never-seen', 'eth0')).toEqual([]);
    expect(ips(store)).toEqual(['10.0.0.3', 'fd00::3']);
  });

  it('releases an ID-only (old host-local) reservation by container ID, unless an exact one exists', async () => {
    const store = new MemoryStore([
      { ip: '10.0.0.2', containerID: 'old', ifname: '' },
      { ip: '10.0.0.3', containerID: 'both', ifname: '' },
      { ip: '10.0.0.4', containerID: 'both', ifname: 'eth0' },
    ]);
    const a = new Allocator(store, [v4]);
    expect(await a.lookup('old', 'eth0')).toHaveLength(1);
    expect(await a.release('old', 'eth0')).toEqual(['10.0.0.2']);
    expect(await a.release('both', 'eth0')).toEqual(['10.0.0.4']);
    expect(await a.release('both', 'eth0')).toEqual(['10.0.0.3']);
    expect(store.snapshot()).toEqual([]);
  });

  it('GC releases what no valid attachment holds, keeping ID-only ones of valid containers', async () => {
    const store = new MemoryStore([
      { ip: '10.0.0.2', containerID: 'live', ifname: 'eth0' },
      { ip: '10.0.0.3', containerID: 'live', ifname: 'eth1' },
      { ip: '10.0.0.4', containerID: 'dead', ifname: 'eth0' },
      { ip: '10.0.0.5', containerID: 'live', ifname: '' },
      { ip: '10.0.0.6', containerID: 'gone', ifname: '' },
    ]);
    const a = new Allocator(store, [v4]);
    const released = await a.gc([{ containerID: 'live', ifname: 'eth0' }]);
    expect(released.map((r) => r.ip)).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.6']);
    expect(ips(store)).toEqual(['10.0.0.2', '10.0.0.5']);
    expect(await a.gc([])).toHaveLength(2);
    expect(await a.list()).toEqual([]);
  });
});
