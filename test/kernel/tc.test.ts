import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../netlink/errors.js';
import type { NetlinkHandle } from '../../netlink/handle.js';
import type { Link } from '../../netlink/links.js';
import { type TbfSpec, tbfDifferences } from '../../netlink/tc.js';
import { throughput as measure } from '../helpers/iperf.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

/**
 * Traffic control against the kernel: two namespaces joined by a veth, a TBF
 * on one end, an ingress qdisc with a u32 filter redirecting to an IFB link
 * shaped by a TBF, and iperf3 between the addresses the test gave them as the
 * witness that the kernel shapes at the rate asked. `tc -j` cross-checks what
 * the handle reads back.
 */

const A = '10.95.0.1';
const B = '10.95.0.2';
const MBIT = 1_000_000;

interface TcQdisc {
  kind: string;
  handle: string;
  parent?: string;
  root?: boolean;
  options?: { rate?: number; burst?: number };
}

interface TcFilter {
  kind: string;
  pref: number;
  protocol: string;
  options?: {
    fh?: string;
    flowid?: string;
    match?: { value: string; mask: string };
    actions?: { kind: string; mirred_action?: string; direction?: string; to_dev?: string }[];
  };
}

describe.skipIf(notRoot)(kernelSuite('traffic control over netlink in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const servers: ChildProcess[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    for (const s of servers.splice(0)) if (s.exitCode === null && s.pid) process.kill(s.pid, 'SIGKILL');
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  /** Namespaces a and b joined by the veth va (in a) / vb (in b), addressed and up. */
  async function pair(): Promise<{ a: TestNs; b: TestNs; ha: NetlinkHandle; hb: NetlinkHandle }> {
    const a = await netns.create('tca');
    const b = await netns.create('tcb');
    const ha = netns.handle(a);
    const hb = netns.handle(b);
    await ha.createVeth('va', 'vb', { peerNetnsPath: b.path });
    await ha.addAddress('va', `${A}/24`);
    await hb.addAddress('vb', `${B}/24`);
    await ha.setLinkUp('va');
    await hb.setLinkUp('vb');
    return { a, b, ha, hb };
  }

  /** Bits per second that arrive at `to` from `from` in a bounded iperf3 run, as the receiver counts them. */
  const throughput = (from: TestNs, to: TestNs, toAddr: string) => measure(from.path, to.path, toAddr, servers);

  function tcJson<T>(ns: TestNs, args: readonly string[]): T {
    return JSON.parse(netns.exec(ns, ['tc', '-j', ...args])) as T;
  }

  it('works in the psched ticks of 64 ns that TBF readings assume', () => {
    // The second field is PSCHED_TICKS2NS(1).
    const [, nsPerTick] = readFileSync('/proc/net/psched', 'utf8').trim().split(/\s+/);
    expect(Number.parseInt(nsPerTick ?? '', 16)).toBe(64);
  });

  it('shapes what leaves a veth with a TBF, reads it back, replaces it and deletes it', async () => {
    const { a, b, ha } = await pair();
    const unshaped = await throughput(a, b, B);

    const spec: TbfSpec = { kind: 'tbf', handle: '1:', rate: 10 * MBIT, burst: 80_000, latencyMs: 25 };
    await ha.addQdisc('va', spec);
    const va = (await ha.getLink('va')) as Link;
    const qdiscs = await ha.listQdiscs('va');
    expect(qdiscs).toEqual([
      {
        index: va.index,
        kind: 'tbf',
        handle: '1:',
        parent: 'root',
        tbf: { rate: 10 * MBIT, burst: 80_000, limit: 41_250 },
      },
    ]);
    expect(tbfDifferences(spec, qdiscs[0])).toEqual([]);
    // limit: 1.25 MB/s × 25 ms + 10 000 bytes, as the reference computes it.
    const tc = tcJson<TcQdisc[]>(a, ['qdisc', 'show', 'dev', 'va']);
    expect(tc).toEqual([expect.objectContaining({ kind: 'tbf', handle: '1:', root: true })]);
    expect(tc[0]?.options).toMatchObject({ rate: 1_250_000, burst: 10_000 });

    const shaped = await throughput(a, b, B);
    expect(shaped).toBeGreaterThan(0.5 * 10 * MBIT);
    expect(shaped).toBeLessThan(1.5 * 10 * MBIT);
    expect(unshaped).toBeGreaterThan(20 * shaped);
    // The other direction has no shaper.
    expect(await throughput(b, a, A)).toBeGreaterThan(10 * shaped);

    await ha.replaceQdisc('va', { ...spec, rate: 20 * MBIT });
    expect((await ha.listQdiscs('va')).map((q) => q.tbf?.rate)).toEqual([20 * MBIT]);
    expect(tbfDifferences(spec, (await ha.listQdiscs('va'))[0])).toEqual([
      `rate is ${20 * MBIT} bit/s, not ${10 * MBIT}`,
      `limit is 72500 bytes, not 41250`,
    ]);

    await ha.deleteQdisc('va', 'root');
    expect((await ha.listQdiscs('va')).map((q) => q.kind)).toEqual(['noqueue']);
    expect(await throughput(a, b, B)).toBeGreaterThan(20 * 10 * MBIT);
    await expect(ha.deleteQdisc('va', 'root')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('redirects what arrives on a veth to an IFB with a u32 filter and shapes it there', async () => {
    const { a, b, ha } = await pair();
    await ha.createIfb('ifb0');
    await ha.setLinkUp('ifb0');
    const ifb = (await ha.getLink('ifb0')) as Link;
    const va = (await ha.getLink('va')) as Link;

    await ha.addQdisc('va', { kind: 'ingress' });
    await ha.addFilter('va', {
      kind: 'u32',
      parent: 'ingress',
      priority: 1,
      protocol: 'all',
      classid: '1:1',
      redirectTo: 'ifb0',
    });
    await ha.addQdisc(ifb.index, { kind: 'tbf', handle: '1:', rate: 20 * MBIT, burst: 160_000, latencyMs: 25 });

    expect(await ha.listQdiscs('va')).toEqual(
      expect.arrayContaining([{ index: va.index, kind: 'ingress', handle: 'ffff:', parent: 'ingress' }]),
    );
    expect(await ha.listQdiscs('ifb0')).toEqual([
      expect.objectContaining({ kind: 'tbf', tbf: { rate: 20 * MBIT, burst: 160_000, limit: 82_500 } }),
    ]);
    const filters = await ha.listFilters('va', 'ingress');
    expect(filters).toEqual([
      {
        index: va.index,
        kind: 'u32',
        parent: 'ingress',
        priority: 1,
        protocol: 'all',
        handle: '800::800',
        classid: '1:1',
        matchesAll: true,
        actions: [{ kind: 'mirred', mirred: { direction: 'egress', redirect: true, ifindex: ifb.index } }],
      },
    ]);
    const tcFilters = tcJson<TcFilter[]>(a, ['filter', 'show', 'dev', 'va', 'ingress']);
    const rule = tcFilters.find((f) => f.options?.fh === '800::800');
    expect(rule).toMatchObject({ kind: 'u32', pref: 1, protocol: 'all' });
    expect(rule?.options).toMatchObject({ flowid: '1:1', match: { value: '0', mask: '0' } });
    expect(rule?.options?.actions).toEqual([
      expect.objectContaining({ kind: 'mirred', mirred_action: 'redirect', direction: 'egress', to_dev: 'ifb0' }),
    ]);

    // b sends to a: its packets arrive on va, go through ifb0 and its TBF.
    const shaped = await throughput(b, a, A);
    expect(shaped).toBeGreaterThan(0.5 * 20 * MBIT);
    expect(shaped).toBeLessThan(1.5 * 20 * MBIT);
    expect(await throughput(a, b, B)).toBeGreaterThan(10 * shaped);

    await ha.deleteFilters('va', 'ingress', 1);
    expect(await ha.listFilters('va', 'ingress')).toEqual([]);
    await ha.deleteQdisc('va', 'ingress');
    expect((await ha.listQdiscs('va')).map((q) => q.kind)).toEqual(['noqueue']);
    expect(await throughput(b, a, A)).toBeGreaterThan(10 * shaped);
    await expect(ha.deleteQdisc('va', 'ingress')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('hooks filters on both sides of a clsact qdisc, which takes the ingress qdisc place', async () => {
    const { ha } = await pair();
    await ha.createIfb('ifb1');
    await ha.addQdisc('va', { kind: 'clsact' });
    await expect(ha.addQdisc('va', { kind: 'ingress' })).rejects.toMatchObject({ code: 'EEXIST' });
    await ha.addFilter('va', { kind: 'u32', parent: 'ingress', priority: 1, redirectTo: 'ifb1' });
    await ha.addFilter('va', { kind: 'u32', parent: 'egress', priority: 2, protocol: 'ip' });
    expect(await ha.listQdiscs('va')).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'clsact', handle: 'ffff:', parent: 'ingress' })]),
    );
    expect(await ha.listFilters('va', 'ingress')).toEqual([
      expect.objectContaining({ parent: 'ingress', priority: 1, protocol: 'all', actions: [expect.anything()] }),
    ]);
    expect(await ha.listFilters('va', 'egress')).toEqual([
      expect.objectContaining({ parent: 'egress', priority: 2, protocol: 'ip', matchesAll: true, actions: [] }),
    ]);
    await ha.deleteFilters('va', 'egress');
    expect(await ha.listFilters('va', 'egress')).toEqual([]);
    expect(await ha.listFilters('va', 'ingress')).toHaveLength(1);
    await ha.deleteQdisc('va', 'ingress');
    expect((await ha.listQdiscs('va')).some((q) => q.kind === 'clsact')).toBe(false);
  });

  it('holds rates of 2^32 bytes per second and more through TCA_TBF_RATE64', async () => {
    const { a, ha } = await pair();
    const rate = 40_000 * MBIT; // 5 GB/s
    const spec: TbfSpec = { kind: 'tbf', rate, burst: 8 * 1024 * 1024 * 8, limit: 64 * 1024 * 1024 };
    await ha.addQdisc('va', spec);
    const [tbf] = await ha.listQdiscs('va');
    expect(tbf?.tbf).toMatchObject({ rate, limit: 64 * 1024 * 1024 });
    // At 5 GB/s one 64 ns tick is 320 bytes: the burst comes back within that.
    expect(tbfDifferences(spec, tbf)).toEqual([]);
    expect(tbf?.handle).toMatch(/^[0-9a-f]+:$/); // the kernel picked one
    expect(tcJson<TcQdisc[]>(a, ['qdisc', 'show', 'dev', 'va'])[0]?.options?.rate).toBe(5_000_000_000);
  });

  it('names the missing link, refuses bad rates before the kernel, and says EEXIST for a taken place', async () => {
    const { ha } = await pair();
    const tbf: TbfSpec = { kind: 'tbf', rate: 10 * MBIT, burst: 80_000, latencyMs: 25 };
    await expect(ha.addQdisc('nope0', tbf)).rejects.toThrow(
      "ENODEV: No such device, add tbf qdisc (rate 10000000 bit/s, burst 80000 bits) on 'nope0': no link named 'nope0'",
    );
    await expect(ha.addQdisc(9999, tbf)).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(ha.listQdiscs('nope0')).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(ha.addFilter('va', { kind: 'u32', parent: 'ingress', redirectTo: 'nope1' })).rejects.toThrow(
      "no link named 'nope1'",
    );

    await expect(ha.addQdisc('va', { ...tbf, rate: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(ha.addQdisc('va', { ...tbf, rate: -8 })).rejects.toThrow('invalid TBF rate -8');
    await expect(ha.addQdisc('va', { ...tbf, burst: 0 })).rejects.toThrow('invalid TBF burst 0');
    expect((await ha.listQdiscs('va')).map((q) => q.kind)).toEqual(['noqueue']);

    await ha.addQdisc('va', tbf);
    await expect(ha.addQdisc('va', tbf)).rejects.toMatchObject({ code: 'EEXIST' });
    // A filter needs a qdisc to hang on.
    await expect(ha.addFilter('va', { kind: 'u32', parent: 'ingress' })).rejects.toMatchObject({
      code: 'EINVAL',
      extAck: expect.stringMatching(/parent qdisc/i),
    });
  });
});
