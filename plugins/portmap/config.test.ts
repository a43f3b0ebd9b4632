import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { parseNetConf } from '../skel/config.js';
import { parsePortmapConf, parsePortmapConfForDel } from './config.js';

const parse = (extra: Record<string, unknown>) =>
  parsePortmapConf(parseNetConf({ cniVersion: '1.0.0', name: 'net', type: 'berth-portmap', ...extra }, 'ADD'));

describe('parsePortmapConf', () => {
  it("takes the reference's defaults and the portMappings capability", () => {
    expect(
      parse({
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
            { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
          ],
        },
      }),
    ).toEqual({
      snat: true,
      stateDir: '/var/lib/berth',
      specs: [
        { protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 },
        {
          protocol: 'udp',
          hostIP: '127.0.0.1',
          hostPort: 53,
          hostPortEnd: 53,
          containerPort: 53,
          containerPortEnd: 53,
        },
      ],
    });
  });

  it('takes a mapping named twice once; two targets for one host port stay for the conflict check', () => {
    const m = (containerPort: number, extra: Record<string, unknown> = {}) => ({
      hostPort: 8080,
      containerPort,
      protocol: 'tcp',
      ...extra,
    });
    const specs = (mappings: unknown[]) => parse({ runtimeConfig: { portMappings: mappings } }).specs;
    expect(specs([m(80), m(80, { hostIP: '' }), m(80, { protocol: 'TCP' })])).toEqual([
      { protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 },
    ]);
    expect(specs([m(80), m(81), m(80)]).map((s) => s.containerPort)).toEqual([80, 81]);
  });

  it('needs no portMappings (DEL gets none)', () => {
    expect(parse({}).specs).toEqual([]);
  });

  it('accepts markMasqBit and an empty conditions list, which berth does not need', () => {
    expect(() => parse({ markMasqBit: 13, conditionsV4: [] })).not.toThrow();
  });

  it.each([
    [{ conditionsV4: ['-s', '1.2.3.4'] }, 2, 'berth-portmap does not support "conditionsV4"'],
    [{ masqAll: true }, 2, 'does not support "masqAll": true'],
    [{ markMasqBit: 40 }, 7, '"markMasqBit" 40 is not a bit number'],
    [{ markMasqBit: 13, externalSetMarkChain: 'KUBE-MARK-MASQ' }, 7, 'are both set'],
    [{ backend: 'pf' }, 7, 'invalid "backend" "pf"'],
    [{ snat: 'no' }, 7, '"snat" must be true or false'],
    [
      { runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } },
      7,
      'runtimeConfig.portMappings[0]: hostPort 0 is not a port',
    ],
    [
      { runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }] } },
      7,
      'unknown protocol "icmp"',
    ],
    [
      { runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, hostIP: 'localhost' }] } },
      7,
      'hostIP "localhost" is not an IP address',
    ],
  ])('refuses %j with code %i', (extra, code, msg) => {
    const e = failure(() => parse(extra));
    expect(e.code).toBe(code);
    expect(e.msg).toContain(msg);
  });
});

describe('parsePortmapConfForDel', () => {
  it('reads what DEL needs from a config ADD refused, taking the mappings from the records', () => {
    const broken = parseNetConf(
      {
        cniVersion: '1.0.0',
        name: 'net',
        type: 'berth-portmap',
        masqAll: true,
        backend: 'iptables',
        stateDir: '/tmp/s',
        runtimeConfig: { portMappings: [{ hostPort: 0 }] },
      },
      'DEL',
    );
    expect(parsePortmapConfForDel(broken)).toEqual({ snat: true, stateDir: '/tmp/s', specs: [], backend: 'iptables' });
  });
});
