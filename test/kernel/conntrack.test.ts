import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConntrackHandle } from '../../netlink/conntrack.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

/**
 * Conntrack over ctnetlink against the kernel: a client netns and a server
 * netns joined by a veth, UDP datagrams from the client, and `conntrack -L`
 * inside the client as the independent witness of what the table holds.
 */

const CLIENT4 = '10.123.0.1';
const SERVER4 = '10.123.0.2';
const CLIENT6 = 'fd12:3::1';
const SERVER6 = 'fd12:3::2';

describe.skipIf(notRoot)(kernelSuite('conntrack over ctnetlink in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const handles: ConntrackHandle[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    for (const h of handles.splice(0)) h.close();
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  /** A client and a server netns on one veth; conntrack is active in the client through an nft `ct` rule. */
  async function pair(): Promise<{ client: TestNs; server: TestNs; ct: ConntrackHandle }> {
    const client = await netns.create('cli');
    const server = await netns.create('srv');
    const hc = netns.handle(client);
    const hs = netns.handle(server);
    await hc.createVeth('vc', 'vs', { peerNetnsPath: server.path });
    await hc.addAddress('vc', `${CLIENT4}/24`);
    await hs.addAddress('vs', `${SERVER4}/24`);
    await hc.addAddress('vc', `${CLIENT6}/64`, { noDad: true });
    await hs.addAddress('vs', `${SERVER6}/64`, { noDad: true });
    await hc.setLinkUp('vc');
    await hs.setLinkUp('vs');
    netns.exec(client, ['nft', 'add', 'table', 'inet', 'bt']);
    netns.exec(client, ['nft', 'add', 'chain', 'inet', 'bt', 'out', '{ type filter hook output priority 0 ; }']);
    netns.exec(client, ['nft', 'add', 'rule', 'inet', 'bt', 'out', 'ct', 'state', 'new', 'accept']);
    const ct = ConntrackHandle.open(client.path);
    handles.push(ct);
    return { client, server, ct };
  }

  /** One datagram from a fixed source port, so the tuple is known; a child node process started in the netns. */
  function sendUdp(ns: TestNs, src: string, sport: number, dst: string, dport: number): void {
    const type = dst.includes(':') ? 'udp6' : 'udp4';
    const script = `const s = require('node:dgram').createSocket('${type}');
      s.bind(${sport}, '${src}', () => s.send('berth', ${dport}, '${dst}', (e) => { s.close(); if (e) throw e; }));`;
    netns.exec(ns, [process.execPath, '-e', script]);
  }

  /** `conntrack -L` lines inside ns for the protocol and original destination port. */
  function conntrackTool(ns: TestNs, family: 'ipv4' | 'ipv6', proto: string, dport: number): string[] {
    const out = netns.exec(ns, ['conntrack', '-L', '-f', family, '-p', proto, '--dport', String(dport)]);
    return out.split('\n').filter((l) => l.trim() !== '');
  }

  it('lists a UDP flow as `conntrack -L` sees it, and flushes it by protocol and port, leaving others', async () => {
    const { client, ct } = await pair();
    sendUdp(client, CLIENT4, 40001, SERVER4, 5353);
    sendUdp(client, CLIENT4, 40002, SERVER4, 5354);
    expect(conntrackTool(client, 'ipv4', 'udp', 5353)).toEqual([
      expect.stringMatching(/src=10\.123\.0\.1 dst=10\.123\.0\.2 sport=40001 dport=5353 .*\[UNREPLIED\]/),
    ]);

    const entries = await ct.list({ protocol: 'udp', origDstPort: 5353 });
    expect(entries).toEqual([
      {
        family: 4,
        protocol: 'udp',
        orig: { src: CLIENT4, dst: SERVER4, sport: 40001, dport: 5353 },
        reply: { src: SERVER4, dst: CLIENT4, sport: 5353, dport: 40001 },
        mark: 0,
      },
    ]);
    expect((await ct.list({ protocol: 'udp' })).map((e) => e.orig.dport).sort()).toEqual([5353, 5354]);

    expect(await ct.flush({ protocol: 'udp', origDstPort: 5353 })).toBe(1);
    expect(conntrackTool(client, 'ipv4', 'udp', 5353)).toEqual([]);
    expect(await ct.list({ protocol: 'udp', origDstPort: 5353 })).toEqual([]);
    expect(conntrackTool(client, 'ipv4', 'udp', 5354)).toHaveLength(1); // the other port's flow is left alone
    expect(await ct.flush({ protocol: 'udp', origDstPort: 5353 })).toBe(0);
  });

  it('deletes one entry by its original tuple, then says ENOENT for it', async () => {
    const { client, ct } = await pair();
    sendUdp(client, CLIENT4, 40003, SERVER4, 6000);
    const [entry] = await ct.list({ origDstPort: 6000 });
    expect(entry).toBeDefined();
    await ct.delete(entry!);
    expect(conntrackTool(client, 'ipv4', 'udp', 6000)).toEqual([]);
    await expect(ct.delete(entry!)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('flushes IPv6 flows by address, not by spelling, and keeps to the family asked for', async () => {
    const { client, ct } = await pair();
    sendUdp(client, CLIENT6, 40004, SERVER6, 5353);
    sendUdp(client, CLIENT4, 40005, SERVER4, 5353);
    const [v6] = await ct.list({ family: 6 });
    expect(v6).toMatchObject({ family: 6, orig: { src: CLIENT6, dst: SERVER6, sport: 40004, dport: 5353 } });

    expect(await ct.flush({ family: 6, origDst: 'FD12:3:0::2', replySrc: SERVER6, origDstPort: 5353 })).toBe(1);
    expect(conntrackTool(client, 'ipv6', 'udp', 5353)).toEqual([]);
    expect(conntrackTool(client, 'ipv4', 'udp', 5353)).toHaveLength(1);
  });

  it('sees only the table of its own netns', async () => {
    const { client, server, ct } = await pair();
    sendUdp(client, CLIENT4, 40006, SERVER4, 7000);
    expect(await ct.list({ origDstPort: 7000 })).toHaveLength(1);
    const serverCt = ConntrackHandle.open(server.path);
    handles.push(serverCt);
    expect(await serverCt.list({ origDstPort: 7000 })).toEqual([]);
  });
});
