import { randomBytes } from 'node:crypto';
import * as dns from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { decide, RCODE, reverseAddress, serverFailure, visibleNetworks } from './answer.js';
import type { NamesView } from './model.js';

const web: NamesView = {
  network: 'web',
  listen: ['10.89.0.1'],
  subnets: ['10.89.0.0/24', 'fd00:89::/64'],
  domain: 'dns.berth',
  records: [
    { owner: 'e1', names: ['api', 'backend'], addresses: ['10.89.0.2', 'fd00:89::2'], netns: '/run/netns/api' },
    { owner: 'e2', names: ['db'], addresses: ['10.89.0.3'], netns: '/run/netns/db' },
    { owner: 'e3', names: ['backend'], addresses: ['10.89.0.4'], netns: '/run/netns/api2' },
  ],
};
const other: NamesView = {
  network: 'other',
  listen: ['10.90.0.1'],
  subnets: ['10.90.0.0/24'],
  records: [
    { owner: 'o1', names: ['db'], addresses: ['10.90.0.7'], netns: '/run/netns/db-other' },
    { owner: 'o2', names: ['api'], addresses: ['10.90.0.2'], netns: '/run/netns/api' },
  ],
};

const udp = { transport: 'udp', canForward: true } as const;

function query(name: string, type = 'A', extra: Partial<dns.Packet> = {}): Buffer {
  return dns.encode({
    type: 'query',
    id: 4242,
    flags: dns.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...extra,
  });
}

function answered(d: ReturnType<typeof decide>): dns.DecodedPacket {
  if (d.kind !== 'answer') throw new Error(`expected an answer, got ${d.kind}`);
  return dns.decode(d.response);
}

const data = (p: dns.DecodedPacket) => p.answers.map((a) => a.data as string).sort();

describe('decide', () => {
  it('answers A and AAAA for a name and an alias of the network, with and without its domain', () => {
    const a = answered(decide(query('api'), [web], udp));
    expect(a.id).toBe(4242);
    expect(a.rcode).toBe('NOERROR');
    expect(a.flag_aa).toBe(true);
    expect(a.flag_rd).toBe(true);
    expect(a.questions).toEqual([{ name: 'api', type: 'A', class: 'IN' }]);
    expect(data(a)).toEqual(['10.89.0.2']);
    expect(data(answered(decide(query('API.dns.berth', 'AAAA'), [web], udp)))).toEqual(['fd00:89::2']);
    expect(data(answered(decide(query('backend'), [web], udp)))).toEqual(['10.89.0.2', '10.89.0.4']);
  });

  it('keeps the case of the question as asked (0x20 randomisation)', () => {
    const a = answered(decide(query('ApI'), [web], udp));
    expect(a.questions[0]!.name).toBe('ApI');
    expect(a.answers[0]!.name).toBe('ApI');
  });

  it('answers a known name with no address of the type as NODATA, not NXDOMAIN', () => {
    const a = answered(decide(query('db', 'AAAA'), [web], udp));
    expect(a.rcode).toBe('NOERROR');
    expect(a.answers).toEqual([]);
    expect(answered(decide(query('db', 'MX'), [web], udp)).answers).toEqual([]);
  });

  it('answers ANY with every address', () => {
    expect(data(answered(decide(query('api', 'ANY'), [web], udp)))).toEqual(['10.89.0.2', 'fd00:89::2']);
  });

  it('is NXDOMAIN at once for an unknown name under the network domain, and forwards the rest', () => {
    expect(answered(decide(query('nope.dns.berth'), [web], udp)).rcode).toBe('NXDOMAIN');
    expect(decide(query('nope'), [web], udp)).toEqual({ kind: 'forward' });
    expect(decide(query('example.org'), [web], udp)).toEqual({ kind: 'forward' });
  });

  it('fails other names at once with SERVFAIL when the host has no resolver', () => {
    const a = answered(decide(query('example.org'), [web], { transport: 'udp', canForward: false }));
    expect(a.rcode).toBe('SERVFAIL');
    expect(a.flag_aa).toBe(false);
  });

  it('gives each network its own answer for the same name', () => {
    expect(data(answered(decide(query('db'), [web], udp)))).toEqual(['10.89.0.3']);
    expect(data(answered(decide(query('db'), [other], udp)))).toEqual(['10.90.0.7']);
  });

  it('answers PTR with the first name, qualified by the domain; NXDOMAIN inside the subnets; forwards the rest', () => {
    const a = answered(decide(query('2.0.89.10.in-addr.arpa', 'PTR'), [web], udp));
    expect(a.answers).toMatchObject([{ type: 'PTR', data: 'api.dns.berth' }]);
    const v6 = `2.0.0.0.${'0.'.repeat(20)}9.8.0.0.0.0.d.f.ip6.arpa`;
    expect(answered(decide(query(v6, 'PTR'), [web], udp)).answers).toMatchObject([{ data: 'api.dns.berth' }]);
    expect(answered(decide(query('7.0.90.10.in-addr.arpa', 'PTR'), [other], udp)).answers).toMatchObject([
      { data: 'db' },
    ]);
    expect(answered(decide(query('99.0.89.10.in-addr.arpa', 'PTR'), [web], udp)).rcode).toBe('NXDOMAIN');
    expect(decide(query('1.1.168.192.in-addr.arpa', 'PTR'), [web], udp)).toEqual({ kind: 'forward' });
  });

  it('never answers PTR with a record that has no names: NXDOMAIN in the subnet, or the next record that has one', () => {
    const nameless = { owner: 'c1', names: [], addresses: ['10.89.0.9'] };
    const withDomain: NamesView = { ...web, records: [...web.records, nameless] };
    const noDomain: NamesView = { ...other, domain: undefined, records: [{ ...nameless, addresses: ['10.90.0.9'] }] };
    const ptr = (name: string, nets: NamesView[]) => answered(decide(query(name, 'PTR'), nets, udp));
    expect(ptr('9.0.89.10.in-addr.arpa', [withDomain])).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
    expect(ptr('9.0.90.10.in-addr.arpa', [noDomain])).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
    const named: NamesView = { ...other, records: [{ owner: 'o3', names: ['late'], addresses: ['10.89.0.9'] }] };
    expect(ptr('9.0.89.10.in-addr.arpa', [withDomain, named]).answers).toMatchObject([{ data: 'late' }]);
  });

  it('answers with EDNS when asked with EDNS', () => {
    const q = query('api', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0 }] });
    const a = answered(decide(q, [web], udp));
    expect(a.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
  });

  it('truncates an answer too big for UDP, and gives it whole over TCP', () => {
    const many: NamesView = {
      ...web,
      records: Array.from({ length: 40 }, (_, i) => ({
        owner: `m${i}`,
        names: ['many'],
        addresses: [`10.89.0.${i + 10}`],
      })),
    };
    const overUdp = answered(decide(query('many'), [many], udp));
    expect(overUdp.flag_tc).toBe(true);
    expect(overUdp.answers).toEqual([]);
    const overTcp = answered(decide(query('many'), [many], { transport: 'tcp', canForward: true }));
    expect(overTcp.flag_tc).toBe(false);
    expect(overTcp.answers).toHaveLength(40);
  });

  it('answers FORMERR to garbage with a header, and drops what is shorter or a response', () => {
    const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x05]), randomBytes(40)]);
    const f = decide(garbage, [web], udp);
    expect(f.kind).toBe('answer');
    if (f.kind !== 'answer') return;
    expect(f.response.readUInt16BE(0)).toBe(0x1234);
    expect(f.response.readUInt16BE(2) & 0xf).toBe(RCODE.FORMERR);
    expect(f.response.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(decide(Buffer.from([1, 2, 3]), [web], udp)).toEqual({ kind: 'drop' });
    const response = dns.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'api' }] });
    expect(decide(response, [web], udp)).toEqual({ kind: 'drop' });
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(1 + (i % 300));
      expect(['answer', 'drop', 'forward']).toContain(decide(bytes, [web], udp).kind);
    }
  });

  it('answers two questions with FORMERR, and another opcode with NOTIMP', () => {
    const two = dns.encode({
      type: 'query',
      id: 7,
      questions: [
        { type: 'A', name: 'api' },
        { type: 'A', name: 'db' },
      ],
    });
    expect(answered(decide(two, [web], udp)).rcode).toBe('FORMERR');
    const update = query('api');
    update.writeUInt16BE(update.readUInt16BE(2) | (5 << 11), 2);
    expect(answered(decide(update, [web], udp)).rcode).toBe('NOTIMP');
  });

  it('refuses a client that sees no network here', () => {
    const a = answered(decide(query('api'), [], udp));
    expect(a.rcode).toBe('REFUSED');
    expect(a.answers).toEqual([]);
  });
});

describe('visibleNetworks', () => {
  it('is the arrival network, with the other networks of the client sandbox', () => {
    expect(visibleNetworks([web, other], 'web', '10.89.0.2').map((n) => n.network)).toEqual(['web', 'other']);
    expect(visibleNetworks([web, other], 'other', '10.90.0.2').map((n) => n.network)).toEqual(['other', 'web']);
    expect(visibleNetworks([web, other], 'web', '10.89.0.3').map((n) => n.network)).toEqual(['web']);
    expect(visibleNetworks([web, other], 'web', '10.89.0.200').map((n) => n.network)).toEqual(['web']);
    expect(visibleNetworks([web, other], 'gone', '10.89.0.2')).toEqual([]);
    // A client of another network sending to this network's gateway sees nothing here.
    expect(visibleNetworks([web, other], 'web', '10.90.0.2')).toEqual([]);
    expect(visibleNetworks([web, other], 'web', 'fd00:89::99').map((n) => n.network)).toEqual(['web']);
  });
});

describe('serverFailure', () => {
  it('is SERVFAIL for the query, or for its header when it cannot be read', () => {
    expect(dns.decode(serverFailure(query('example.org'))!).rcode).toBe('SERVFAIL');
    expect(serverFailure(Buffer.alloc(3))).toBeUndefined();
  });
});

describe('reverseAddress', () => {
  it.each([
    ['4.3.2.1.in-addr.arpa', '1.2.3.4'],
    ['4.3.2.1.IN-ADDR.ARPA.', '1.2.3.4'],
    [`1.0.0.0.${'0.'.repeat(24)}0.0.d.f.ip6.arpa`, 'fd00::1'],
    ['3.2.1.in-addr.arpa', undefined],
    ['x.3.2.1.in-addr.arpa', undefined],
    ['1.ip6.arpa', undefined],
    ['example.org', undefined],
  ])('%s is %s', (name, address) => {
    expect(reverseAddress(name)).toBe(address);
  });
});
