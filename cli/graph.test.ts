import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../network/model.js';
import { buildTopology } from '../network/topology.js';
import { dotString, toDot, toTree } from './graph.js';

const at = '2025-01-01T00:00:00.000Z';
const web: NetworkRecord = {
  name: 'web',
  id: 'aaaaaaaaaaaa',
  driver: 'bridge',
  bridgeName: 'berth-web',
  subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1', prefixLength: 24 }],
  mtu: 1500,
  masquerade: true,
  isolate: true,
  hairpin: true,
  promiscuous: false,
  createdAt: at,
};
const hostNet: NetworkRecord = { ...web, name: 'hostnet', driver: 'host', bridgeName: '', subnets: [] };
const sandboxes: SandboxRecord[] = [
  { name: 'db', id: '1', mode: 'none', netnsPath: '/run/netns/db', ownsNetns: true, createdAt: at },
  {
    name: 'side',
    id: '2',
    mode: 'container',
    netnsPath: '/run/netns/db',
    ownsNetns: true,
    shareWith: 'db',
    createdAt: at,
  },
  { name: 'h', id: '3', mode: 'host', netnsPath: '/proc/self/ns/net', ownsNetns: false, createdAt: at },
];
const endpoints: EndpointRecord[] = [
  {
    name: 'db',
    id: 'bbbbbbbbbbbb',
    network: 'web',
    createdAt: at,
    join: {
      sandbox: 'db',
      netnsPath: '/run/netns/db',
      ifname: 'eth0',
      hostVeth: 'vethbbbbbbbbbbb',
      mac: '02:00:00:00:00:01',
      addresses: ['10.89.0.2/24'],
    },
  },
  { name: 'idle', id: 'cccccccccccc', network: 'web', createdAt: at },
  {
    name: 'h',
    id: 'dddddddddddd',
    network: 'hostnet',
    createdAt: at,
    join: { sandbox: 'h', netnsPath: '/proc/self/ns/net', ifname: 'eth0', hostVeth: '', mac: '', addresses: [] },
  },
];

describe('toDot', () => {
  it('draws every node and edge', () => {
    const dot = toDot(
      buildTopology({ networks: [web], sandboxes: sandboxes.slice(0, 1), endpoints: endpoints.slice(0, 1) }),
    );
    expect(dot).toBe(
      [
        'graph berth {',
        '  graph [rankdir=LR, fontname="sans-serif"];',
        '  node [fontname="sans-serif"];',
        '  edge [fontname="sans-serif", fontsize=10];',
        '  "network:web" [shape=box, style="rounded,bold", label="network web\\nbridge\\n10.89.0.0/24 via 10.89.0.1"];',
        '  "bridge:berth-web" [shape=box, label="bridge berth-web\\nmtu 1500\\n10.89.0.1/24"];',
        '  "sandbox:db" [shape=box3d, label="sandbox db\\nnone\\n/run/netns/db"];',
        '  "endpoint:web.db" [shape=ellipse, label="endpoint db\\neth0\\n10.89.0.2/24\\n02:00:00:00:00:01"];',
        '  "network:web" -- "bridge:berth-web" [style=bold];',
        '  "endpoint:web.db" -- "bridge:berth-web" [label="vethbbbbbbbbbbb"];',
        '  "endpoint:web.db" -- "sandbox:db" [label="eth0"];',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('escapes quotes, backslashes and line breaks', () => {
    expect(dotString('a"b\\c\nd')).toBe('"a\\"b\\\\c\\nd"');
  });

  it('is an empty graph without records', () => {
    expect(toDot({ nodes: [], edges: [] })).toContain('graph berth {');
  });
});

describe('toTree', () => {
  it('outlines networks with their endpoints, then sandboxes', () => {
    expect(toTree(buildTopology({ networks: [web, hostNet], sandboxes, endpoints }))).toBe(
      [
        'network hostnet (host)',
        '  endpoint h (eth0) in sandbox h',
        'network web (bridge, 10.89.0.0/24 via 10.89.0.1) on bridge berth-web',
        '  endpoint db (eth0, 10.89.0.2/24, 02:00:00:00:00:01) in sandbox db via vethbbbbbbbbbbb',
        '  endpoint idle (not joined)',
        'sandbox db (none, /run/netns/db)',
        'sandbox h (host)',
        'sandbox side (container, /run/netns/db) sharing the netns of db',
        '',
      ].join('\n'),
    );
  });

  it('says when there is nothing', () => {
    expect(toTree({ nodes: [], edges: [] })).toBe('no networks and no sandboxes\n');
  });
});
