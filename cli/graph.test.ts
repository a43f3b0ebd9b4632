import { describe, expect, it } from 'vitest';
import { endpoints, hostNet, sandboxes, web } from '../network/testdata/state.js';
import { buildTopology } from '../network/topology.js';
import { dotString, toDot, toTree } from './graph.js';

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
