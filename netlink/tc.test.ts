import { describe, expect, it } from 'vitest';
import { NlWriter, parseMessages } from './codec.js';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, RTM_NEWQDISC } from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { datagram, doneFor, FakeKernel, hex, requestsOf } from './fake-kernel.js';
import { NetlinkHandle } from './handle.js';
import { NetlinkSocket } from './socket.js';
import {
  filterRequest,
  formatTcHandle,
  parseFilter,
  parseQdisc,
  parseTcHandle,
  type Qdisc,
  qdiscRequest,
  type TbfSpec,
  tbfDifferences,
  tbfParams,
  writeQdisc,
} from './tc.js';

/**
 * Traffic control, byte for byte. The expected requests are written out field
 * by field; the ingress qdisc and the u32 filter are what `tc` sends for the
 * same thing. The replies are what kernel 6.18 sent for qdiscs and a filter
 * that `tc` made (`tbf rate 10mbit burst 10000 latency 25ms` on ifindex 3,
 * `tbf rate 40gbit burst 1mb limit 64mb` and `ingress` on 2, a u32 redirect
 * from 2 to the IFB at 4). Little-endian hosts.
 */

const TBF_10MBIT: TbfSpec = { kind: 'tbf', handle: '1:', rate: 10_000_000, burst: 16_384 * 8, latencyMs: 25 };

// Kernel replies, from a dump of RTM_GETQDISC and of RTM_GETTFILTER on ffff: of ifindex 2. Each qdisc
// ends in TCA_HW_OFFLOAD, TCA_STATS2 and TCA_STATS, its counters.
const TBF_REPLY = hex(`
  bc000000 2400 0200 01000000 d62a0000   // len 188, RTM_NEWQDISC, NLM_F_MULTI
  00 000000 03000000 00000100 ffffffff 03000000  // ifindex 3, handle 1:, parent root, info (refcnt) 3
  0800 0100 74626600                     // TCA_KIND "tbf"
  2c00 0200                              // TCA_OPTIONS
    2800 0100                            //   TCA_TBF_PARMS
      00 01 0000 0000 0000 d0121300      //     rate 1 250 000 bytes/s
      00000000 00000000 00000000         //     no peakrate
      22a10000                           //     limit 41 250
      48e80100                           //     buffer 125 000 ticks = 8 ms = 10 000 bytes at the rate
      00000000                           //     mtu
  05000c00 00000000
  30000700 14000100 90020000 00000000 08000000 00000000 18000300 00000000 00000000 00000000 00000000 00000000
  2c000300 90020000 00000000 08000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
`);
const TBF64_REPLY = hex(`
  c8000000 2400 0200 01000000 d62a0000
  00 000000 02000000 00000100 ffffffff 03000000  // ifindex 2, 1:, root
  0800 0100 74626600
  3800 0200
    2800 0100
      00 01 0000 0000 0000 ffffffff      //     rate: does not fit, see TCA_TBF_RATE64
      00000000 00000000 00000000
      00000004                           //     limit 64 MiB
      cc0c0000                           //     buffer 3276 ticks
      00000000
    0c00 0400 00f2052a 01000000          //   TCA_TBF_RATE64 5 000 000 000 bytes/s
  05000c00 00000000
  30000700 14000100 36020000 00000000 07000000 00000000 18000300 00000000 00000000 00000000 00000000 00000000
  2c000300 36020000 00000000 07000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
`);
const INGRESS_REPLY = hex(`
  98000000 2400 0200 01000000 d62a0000
  00 000000 02000000 0000ffff f1ffffff 01000000  // ifindex 2, handle ffff:, parent ffff:fff1
  0c00 0100 696e6772 65737300           // TCA_KIND "ingress"
  0400 0200                              // TCA_OPTIONS, empty
  05000c00 00000000
  30000700 14000100 d4010000 00000000 07000000 00000000 18000300 00000000 00000000 00000000 00000000 00000000
  2c000300 d4010000 00000000 07000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
`);
const PFIFO_REPLY = hex(`
  b0000000 2400 0200 01000000 d62a0000
  00 000000 04000000 00000000 ffffffff 02000000  // ifindex 4, handle 0: (the kernel's default), root
  0f00 0100 70666966 6f5f6661 737400 00  // TCA_KIND "pfifo_fast"
  1800 0200 03000000 01020202 01020000 01010101 01010101
  05000c00 00000000
  30000700 14000100 08030000 00000000 0a000000 00000000 18000300 00000000 00000000 00000000 00000000 00000000
  2c000300 08030000 00000000 0a000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
`);
const U32_CLASSIFIER_REPLY = hex(`
  34000000 2c00 0200 02000000 d62a0000   // RTM_NEWTFILTER
  00 000000 02000000 00000000 0000ffff 00030100  // handle 0: the classifier itself; priority 1, ETH_P_ALL
  0800 0100 75333200                     // "u32"
  0800 0b00 00000000                     // TCA_CHAIN 0
`);
const U32_HASH_TABLE_REPLY = hex(`
  40000000 2c00 0200 02000000 d62a0000
  00 000000 02000000 00000080 0000ffff 00030100  // handle 800:, the root hash table
  0800 0100 75333200
  0800 0b00 00000000
  0c00 0200 0800 0400 01000000           // TCA_OPTIONS: TCA_U32_DIVISOR 1
`);
const U32_RULE_REPLY = hex(`
  1c010000 2c00 0200 02000000 d62a0000
  00 000000 02000000 00080080 0000ffff 00030100  // handle 800::800
  0800 0100 75333200
  0800 0b00 00000000
  e800 0200                              // TCA_OPTIONS
    2400 0500 01000100 00000000 00000000 00000000 00000000 00000000 00000000 00000000  // TCA_U32_SEL, one key 0/0
    0800 0200 00000080                   //   TCA_U32_HASH
    0800 0100 01000100                   //   TCA_U32_CLASSID 1:1
    0800 0b00 08000000                   //   TCA_U32_FLAGS: not in hardware
    a800 0700                            //   TCA_U32_ACT
      a400 0100                          //     the first action
        0b00 0100 6d697272 656400 00     //       "mirred"
        4400 0400 14000100 d4010000 00000000 07000000 00000000 14000700 00000000 00000000 00000000 00000000
        18000300 00000000 00000000 00000000 00000000 00000000  // TCA_ACT_STATS
        0800 0a00 00000000               //       TCA_ACT_IN_HW_COUNT
        4800 0200                        //       TCA_ACT_OPTIONS
          2000 0200 01000000 00000000 04000000 01000000 01000000 01000000 04000000  // egress redirect to 4
          2400 0100 43060000 00000000 98000000 00000000 00000000 00000000 1f060000 00000000  // TCA_MIRRED_TM
`);

/** A captured reply with the sequence number of the request it answers. */
function withSeq(reply: Buffer, seq: number): Buffer {
  const copy = Buffer.from(reply);
  copy.writeUInt32LE(seq, 8);
  return copy;
}

describe('qdisc requests', () => {
  it('adds a TBF in bytes per second with its burst in TCA_TBF_BURST and no rate table', async () => {
    const [sent] = await requestsOf((h) => h.addQdisc(3, TBF_10MBIT));
    // tc sends the same but for the rate table (TCA_TBF_RTAB, 1024 bytes), cell_log and cell_align in the
    // rate, which only that table uses, and a buffer a few ticks shorter from its floating point.
    expect(sent).toEqual(
      hex(`
        60000000 2400 0506 01000000 00000000   // len 96, RTM_NEWQDISC, REQUEST|ACK|EXCL|CREATE
        00 000000 03000000 00000100 ffffffff 00000000  // tcmsg: ifindex 3, handle 1:, parent root (TC_H_ROOT)
        0800 0100 74626600                     // TCA_KIND "tbf\\0"
        3400 0200                              // TCA_OPTIONS, 52 bytes
          2800 0100                            //   TCA_TBF_PARMS: struct tc_tbf_qopt
            00 01 0000 0000 0000 d0121300      //     rate: cell_log 0, TC_LINKLAYER_ETHERNET, 1 250 000 bytes/s
            00000000 00000000 00000000         //     peakrate: none
            12ba0000                           //     limit 47 634 = 1 250 000 B/s × 25 ms + 16 384
            00200300                           //     buffer 204 800 ticks: 16 384 bytes take 13.1 ms
            00000000                           //     mtu: only for a peak rate
          0800 0600 00400000                   //   TCA_TBF_BURST 16 384 bytes
      `),
    );
  });

  it('replaces with NLM_F_REPLACE and puts a rate of 2^32 bytes/s or more in TCA_TBF_RATE64', async () => {
    const [sent] = await requestsOf((h) =>
      h.replaceQdisc(3, { kind: 'tbf', rate: 40e9, burst: 8e6, limit: 64 * 1024 * 1024 }),
    );
    expect(sent).toEqual(
      hex(`
        6c000000 2400 0505 01000000 00000000   // len 108, REQUEST|ACK|REPLACE|CREATE
        00 000000 03000000 00000000 ffffffff 00000000  // handle 0: the kernel picks one
        0800 0100 74626600
        4000 0200
          2800 0100
            00 01 0000 0000 0000 ffffffff      //     rate: all ones, the real one follows
            00000000 00000000 00000000
            00000004                           //     limit 64 MiB as given
            350c0000                           //     buffer 3125 ticks = 200 µs
            00000000
          0800 0600 40420f00                   //   TCA_TBF_BURST 1 000 000
          0c00 0400 00f2052a 01000000          //   TCA_TBF_RATE64 5 000 000 000 bytes/s
      `),
    );
  });

  it('adds the ingress and clsact qdiscs as `tc qdisc add dev X ingress|clsact` does', async () => {
    const sent = await requestsOf(async (h) => {
      await h.addQdisc(3, { kind: 'ingress' });
      await h.addQdisc(3, { kind: 'clsact' });
    });
    expect(sent).toEqual([
      hex(`
        30000000 2400 0506 01000000 00000000
        00 000000 03000000 0000ffff f1ffffff 00000000  // handle ffff:, parent ffff:fff1 (TC_H_INGRESS)
        0c00 0100 696e6772 65737300           // TCA_KIND "ingress\\0"
      `),
      hex(`
        30000000 2400 0506 02000000 00000000
        00 000000 03000000 0000ffff f1ffffff 00000000
        0b00 0100 636c7361 637400 00          // TCA_KIND "clsact\\0"
      `),
    ]);
  });

  it('deletes whatever qdisc is at root or ingress, by parent with handle 0', async () => {
    const sent = await requestsOf(async (h) => {
      await h.deleteQdisc(3, 'root');
      await h.deleteQdisc(3, 'ingress');
      await h.deleteQdisc(3, '1:2');
    });
    expect(sent).toEqual([
      hex(`24000000 2500 0500 01000000 00000000   00 000000 03000000 00000000 ffffffff 00000000`),
      hex(`24000000 2500 0500 02000000 00000000   00 000000 03000000 00000000 f1ffffff 00000000`),
      hex(`24000000 2500 0500 03000000 00000000   00 000000 03000000 00000000 02000100 00000000`),
    ]);
  });

  it("dumps every link's qdiscs and keeps those of the link asked for", async () => {
    const kernel = new FakeKernel((req) => [
      datagram(
        withSeq(TBF64_REPLY, req.seq),
        withSeq(INGRESS_REPLY, req.seq),
        withSeq(TBF_REPLY, req.seq),
        withSeq(PFIFO_REPLY, req.seq),
      ),
      doneFor(req),
    ]);
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    expect(await h.listQdiscs(3)).toEqual([
      { index: 3, kind: 'tbf', handle: '1:', parent: 'root', tbf: { rate: 10_000_000, burst: 80_000, limit: 41_250 } },
    ]);
    expect((await h.listQdiscs()).map((q) => `${q.index} ${q.kind}`)).toEqual([
      '2 tbf',
      '2 ingress',
      '3 tbf',
      '4 pfifo_fast',
    ]);
    expect(kernel.sent[0]).toEqual(
      hex(`
        24000000 2600 0103 01000000 00000000   // len 36, RTM_GETQDISC, REQUEST|DUMP
        00 000000 00000000 00000000 00000000 00000000
      `),
    );
  });
});

describe('qdisc replies', () => {
  const parse = (reply: Buffer) => parseQdisc(parseMessages(reply)[0]!);

  it('reads a TBF: rate, burst from the buffer time at the rate, limit', () => {
    expect(parse(TBF_REPLY)).toEqual({
      index: 3,
      kind: 'tbf',
      handle: '1:',
      parent: 'root',
      tbf: { rate: 10_000_000, burst: 80_000, limit: 41_250 },
    });
  });

  it('reads a 64-bit rate from TCA_TBF_RATE64', () => {
    // 3276 ticks × 64 ns at 5 GB/s: 1 048 320 bytes (tc asked for 1 MiB, and prints 1045000b).
    expect(parse(TBF64_REPLY)?.tbf).toEqual({ rate: 40e9, burst: 1_048_320 * 8, limit: 64 * 1024 * 1024 });
  });

  it('reads the ingress qdisc and the kernel default, without TBF numbers', () => {
    expect(parse(INGRESS_REPLY)).toEqual({ index: 2, kind: 'ingress', handle: 'ffff:', parent: 'ingress' });
    expect(parse(PFIFO_REPLY)).toEqual({ index: 4, kind: 'pfifo_fast', handle: '0:', parent: 'root' });
  });

  it('skips other messages and other links', () => {
    expect(parseQdisc(parseMessages(U32_RULE_REPLY)[0]!)).toBeUndefined();
    expect(parseQdisc(parseMessages(TBF_REPLY)[0]!, 2)).toBeUndefined();
  });
});

describe('filter requests', () => {
  it('adds a u32 match-all filter with a mirred redirect exactly as tc does', async () => {
    // tc filter add dev <2> parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1
    //   action mirred egress redirect dev <4>
    const [sent] = await requestsOf((h) =>
      h.addFilter(2, { kind: 'u32', parent: 'ffff:', priority: 1, protocol: 'all', classid: '1:1', redirectTo: 4 }),
    );
    expect(sent).toEqual(
      hex(`
        94000000 2c00 0506 01000000 00000000   // len 148, RTM_NEWTFILTER, REQUEST|ACK|EXCL|CREATE
        00 000000 02000000 00000000 0000ffff   // tcmsg: ifindex 2, handle 0 (the kernel picks), parent ffff:
        00030100                               //   info: priority 1 << 16 | htons(ETH_P_ALL)
        0800 0100 75333200                     // TCA_KIND "u32\\0"
        6800 0200                              // TCA_OPTIONS, 104 bytes
          0800 0100 01000100                   //   TCA_U32_CLASSID 1:1
          3800 0700                            //   TCA_U32_ACT
            3400 0100                          //     the first action
              0b00 0100 6d697272 656400 00     //       TCA_ACT_KIND "mirred\\0"
              2400 0280                        //       TCA_ACT_OPTIONS | NLA_F_NESTED
                2000 0200                      //         TCA_MIRRED_PARMS: struct tc_mirred
                  00000000 00000000            //           index, capab
                  04000000                     //           action TC_ACT_STOLEN
                  00000000 00000000            //           refcnt, bindcnt
                  01000000 04000000            //           eaction TCA_EGRESS_REDIR, ifindex 4
          2400 0500                            //   TCA_U32_SEL
            01 00 01 00 0000 0000 0000 0000    //     flags TC_U32_TERMINAL, nkeys 1
            00000000                           //     hmask
            00000000 00000000 00000000 00000000  //   key: mask 0, value 0, at offset 0
      `),
    );
  });

  it('resolves both links by name and hooks on ffff:fff2 for ingress and ffff:fff3 for egress', async () => {
    const sent = await requestsOf(
      async (h) => {
        await h.addFilter('vb', { kind: 'u32', parent: 'ingress', priority: 1, redirectTo: 'ifb9' });
        await h.addFilter(2, { kind: 'u32', parent: 'egress', protocol: 'ipv6' });
      },
      { vb: 2, ifb9: 4 },
    );
    expect(sent.slice(2)).toEqual([
      hex(`
        8c000000 2c00 0506 03000000 00000000   // len 140, seq 3: after looking up vb and ifb9
        00 000000 02000000 00000000 f2ffffff 00030100  // parent ffff:fff2, the ingress hook
        0800 0100 75333200
        6000 0200
          3800 0700 3400 0100 0b00 0100 6d697272 656400 00 2400 0280
            2000 0200 00000000 00000000 04000000 00000000 00000000 01000000 04000000
          2400 0500 01000100 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      `),
      hex(`
        54000000 2c00 0506 04000000 00000000
        00 000000 02000000 00000000 f3ffffff 86dd0000  // parent ffff:fff3 (egress), priority 0: the kernel picks
        0800 0100 75333200                             //   one; protocol htons(ETH_P_IPV6)
        2800 0200
          2400 0500 01000100 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      `),
    ]);
  });

  it('deletes the filters of one priority, or all on the parent, and dumps those of one parent', async () => {
    const sent = await requestsOf(async (h) => {
      await h.deleteFilters(3, 'ingress', 1);
      await h.deleteFilters(3, 'ffff:');
    });
    expect(sent).toEqual([
      hex(`24000000 2d00 0500 01000000 00000000   00 000000 03000000 00000000 f2ffffff 00000100`),
      hex(`24000000 2d00 0500 02000000 00000000   00 000000 03000000 00000000 0000ffff 00000000`),
    ]);
    const kernel = new FakeKernel((req) => [
      datagram(
        withSeq(U32_CLASSIFIER_REPLY, req.seq),
        withSeq(U32_HASH_TABLE_REPLY, req.seq),
        withSeq(U32_RULE_REPLY, req.seq),
      ),
      doneFor(req),
    ]);
    const filters = await new NetlinkHandle(new NetlinkSocket(kernel)).listFilters(2, 'ffff:');
    expect(kernel.sent[0]).toEqual(
      hex(`24000000 2e00 0103 01000000 00000000   00 000000 02000000 00000000 0000ffff 00000000`),
    );
    expect(filters).toHaveLength(1);
  });
});

describe('filter replies', () => {
  it('reads a u32 rule with its class, its match and its mirred redirect; classifiers and hash tables are no rules', () => {
    expect(parseFilter(parseMessages(U32_CLASSIFIER_REPLY)[0]!)).toBeUndefined();
    expect(parseFilter(parseMessages(U32_HASH_TABLE_REPLY)[0]!)).toBeUndefined();
    expect(parseFilter(parseMessages(U32_RULE_REPLY)[0]!)).toEqual({
      index: 2,
      kind: 'u32',
      parent: 'ffff:',
      priority: 1,
      protocol: 'all',
      handle: '800::800',
      classid: '1:1',
      matchesAll: true,
      actions: [{ kind: 'mirred', mirred: { direction: 'egress', redirect: true, ifindex: 4 } }],
    });
    expect(parseFilter(parseMessages(TBF_REPLY)[0]!)).toBeUndefined();
  });
});

describe('TBF numbers', () => {
  it('follows the reference: bytes from bits, limit = rate × latency + burst, the burst as time in 64 ns ticks', () => {
    expect(tbfParams(TBF_10MBIT)).toEqual({
      rateBytes: 1_250_000,
      burstBytes: 16_384,
      limitBytes: 47_634,
      bufferTicks: 204_800,
    });
    expect(tbfParams({ kind: 'tbf', rate: 12, burst: 15, limit: 100 })).toEqual({
      rateBytes: 1,
      burstBytes: 1,
      limitBytes: 100,
      bufferTicks: 15_625_000,
    });
  });

  it('refuses what the kernel cannot hold, naming the value', () => {
    const bad = (change: Partial<TbfSpec>) => () => tbfParams({ ...TBF_10MBIT, ...change });
    expect(bad({ rate: 0 })).toThrow(InvalidArgumentError);
    expect(bad({ rate: 0 })).toThrow('invalid TBF rate 0: must be a whole number of bits per second from 8');
    expect(bad({ rate: -10_000_000 })).toThrow('invalid TBF rate -10000000');
    expect(bad({ rate: 7 })).toThrow('invalid TBF rate 7');
    expect(bad({ rate: 1.5e6 + 0.5 })).toThrow('invalid TBF rate 1500000.5');
    expect(bad({ rate: Number.NaN })).toThrow('invalid TBF rate NaN');
    expect(bad({ rate: 2 ** 60 })).toThrow('invalid TBF rate');
    expect(bad({ burst: 0 })).toThrow('invalid TBF burst 0: must be a whole number of bits from 8 to 34359738360');
    expect(bad({ burst: 2 ** 32 * 8 })).toThrow('invalid TBF burst 34359738368');
    expect(bad({ rate: 8, burst: 8 * 300 })).toThrow('at 8 bit/s it lasts 300 s, the kernel holds at most 274 s');
    expect(bad({ latencyMs: undefined })).toThrow('a TBF needs either latencyMs or limit');
    expect(bad({ limit: 1000 })).toThrow('a TBF needs either latencyMs or limit');
    expect(bad({ latencyMs: -1 })).toThrow('invalid TBF latency -1 ms');
    expect(bad({ rate: 1e12, latencyMs: 100_000 })).toThrow('the queue would hold 12500000016384 bytes');
    expect(bad({ latencyMs: undefined, limit: 0 })).toThrow('invalid TBF limit 0');
  });

  it('refuses a bad TBF before anything reaches the kernel', async () => {
    const kernel = new FakeKernel();
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await expect(h.addQdisc('va', { ...TBF_10MBIT, rate: 0 })).rejects.toThrow('invalid TBF rate 0');
    await expect(h.replaceQdisc('va', { ...TBF_10MBIT, burst: -8 })).rejects.toThrow('invalid TBF burst -8');
    await expect(h.addQdisc('va', { ...TBF_10MBIT, handle: '1:1' })).rejects.toThrow("a qdisc's handle is 'major:'");
    await expect(h.addFilter('va', { kind: 'u32', parent: 'ingress', priority: 0 })).rejects.toThrow(
      'invalid filter priority 0',
    );
    await expect(h.deleteFilters('va', 'nowhere')).rejects.toThrow("invalid filter parent 'nowhere'");
    await expect(h.deleteQdisc('va', 'top')).rejects.toThrow("invalid qdisc parent 'top'");
    expect(kernel.sent).toEqual([]);
  });

  it('compares a qdisc read back with a TBF spec, allowing the burst one tick of rounding', () => {
    const want = tbfParams(TBF_10MBIT);
    const tbf = { rate: 10_000_000, burst: (want.burstBytes - 1) * 8, limit: want.limitBytes };
    const same: Qdisc = { index: 3, kind: 'tbf', handle: '1:', parent: 'root', tbf };
    expect(tbfDifferences(TBF_10MBIT, same)).toEqual([]);
    expect(tbfDifferences(TBF_10MBIT, { ...same, tbf: { ...tbf, burst: (want.burstBytes + 3) * 8 } })).toEqual([
      'burst is 131096 bits, not 131072',
    ]);
    expect(tbfDifferences(TBF_10MBIT, { ...same, tbf: { rate: 20_000_000, burst: 131_072, limit: 1 } })).toEqual([
      'rate is 20000000 bit/s, not 10000000',
      'limit is 1 bytes, not 47634',
    ]);
    expect(tbfDifferences(TBF_10MBIT, { ...same, handle: '2:', parent: '1:1' })).toEqual([
      'parent is 1:1, not root',
      'handle is 2:, not 1:',
    ]);
    expect(tbfDifferences({ ...TBF_10MBIT, handle: '01:' }, same)).toEqual([]);
    // A rate that is no multiple of 8 comes back rounded down, and is no difference.
    expect(tbfDifferences({ ...TBF_10MBIT, rate: 10_000_007 }, same)).toEqual([]);
    expect(tbfDifferences(TBF_10MBIT, { index: 3, kind: 'noqueue', handle: '0:', parent: 'root' })).toEqual([
      'the qdisc is noqueue, not tbf',
    ]);
    expect(tbfDifferences(TBF_10MBIT, undefined)).toEqual(['there is no qdisc']);
  });
});

describe('handles and checks', () => {
  it("parses and prints handles as tc does, 'major:minor' in hex", () => {
    expect(parseTcHandle('1:', 'h')).toBe(0x10000);
    expect(parseTcHandle('1:10', 'h')).toBe(0x10010);
    expect(parseTcHandle('ffff:fff1', 'h')).toBe(0xfffffff1);
    expect(parseTcHandle('FFFF:', 'h')).toBe(0xffff0000);
    for (const bad of ['1', ':1', '10000:', '1:10000', 'x:', '', ' 1:']) {
      expect(() => parseTcHandle(bad, 'qdisc handle')).toThrow(`invalid qdisc handle '${bad}'`);
    }
    expect([0x10000, 0x10001, 0xffff0000, 0xfffffff1, 0].map(formatTcHandle)).toEqual([
      '1:',
      '1:1',
      'ffff:',
      'ffff:fff1',
      '0:',
    ]);
  });

  it('refuses unknown kinds and protocols', () => {
    expect(() => qdiscRequest({ kind: 'htb' } as never)).toThrow(
      "unknown qdisc kind 'htb': use tbf, ingress or clsact",
    );
    expect(() => filterRequest({ kind: 'matchall', parent: 'ingress' } as never)).toThrow(
      "unknown filter kind 'matchall': use u32",
    );
    expect(() => filterRequest({ kind: 'u32', parent: 'ingress', protocol: 'arp' as never })).toThrow(
      "invalid filter protocol 'arp': use all, ip or ipv6",
    );
    expect(() => filterRequest({ kind: 'u32', parent: 'ingress', priority: 65_536 })).toThrow(
      'invalid filter priority 65536',
    );
  });

  it('writes into a reused writer without leftovers', () => {
    const w = new NlWriter(8);
    w.begin(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1);
    writeQdisc(w, 3, qdiscRequest({ ...TBF_10MBIT, rate: 40e9 }));
    const long = Buffer.from(w.finish());
    w.begin(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1);
    writeQdisc(w, 3, qdiscRequest({ kind: 'ingress' }));
    expect(long.length).toBe(108);
    expect(w.finish()).toEqual(
      hex(
        `30000000 2400 0506 01000000 00000000 00 000000 03000000 0000ffff f1ffffff 00000000 0c00 0100 696e6772 65737300`,
      ),
    );
  });
});
