import { describe, expect, it } from 'vitest';
import type { SandboxRecord } from './model.js';
import { endpoints, hostNet, sandboxes, web } from './testdata/state.js';
import { buildTopology, sandboxEndpoints } from './topology.js';

describe('buildTopology', () => {
  const t = buildTopology({ networks: [web, hostNet], sandboxes, endpoints });

  it('has a node per network, bridge, sandbox and endpoint, and the host when something uses it', () => {
    expect(t.nodes.map((n) => n.id)).toEqual([
      'host:host',
      'network:hostnet',
      'network:web',
      'bridge:berth-web',
      'sandbox:db',
      'sandbox:h',
      'sandbox:side',
      'endpoint:hostnet.h',
      'endpoint:web.db',
      'endpoint:web.idle',
    ]);
    expect(t.nodes.find((n) => n.id === 'network:web')?.details).toEqual(['bridge', '10.89.0.0/24 via 10.89.0.1']);
    expect(t.nodes.find((n) => n.id === 'endpoint:web.db')?.details).toEqual([
      'eth0',
      '10.89.0.2/24',
      '02:00:00:00:00:01',
    ]);
    expect(t.nodes.find((n) => n.id === 'endpoint:web.idle')?.details).toEqual(['not joined']);
  });

  it('links bridges, endpoints, sandboxes and shared netns', () => {
    expect(t.edges).toEqual(
      expect.arrayContaining([
        { from: 'network:web', to: 'bridge:berth-web', kind: 'bridge' },
        { from: 'network:hostnet', to: 'host:host', kind: 'attached' },
        { from: 'sandbox:side', to: 'sandbox:db', kind: 'shares' },
        { from: 'sandbox:h', to: 'host:host', kind: 'shares' },
        { from: 'endpoint:web.db', to: 'bridge:berth-web', kind: 'attached', label: 'vethbbbbbbbbbbb' },
        { from: 'endpoint:web.db', to: 'sandbox:db', kind: 'joined', label: 'eth0' },
        { from: 'endpoint:web.idle', to: 'bridge:berth-web', kind: 'attached' },
        { from: 'endpoint:hostnet.h', to: 'network:hostnet', kind: 'attached' },
      ]),
    );
    expect(t.edges).toHaveLength(9);
  });

  it('joins an endpoint to the container-mode sandbox still holding the netns after its first sandbox is gone', () => {
    const t2 = buildTopology({ networks: [web], sandboxes: sandboxes.filter((s) => s.name === 'side'), endpoints });
    expect(t2.edges).toContainEqual({ from: 'endpoint:web.db', to: 'sandbox:side', kind: 'joined', label: 'eth0' });
  });

  it("shows an endpoint's bandwidth limits among its details", () => {
    const limited = {
      ...endpoints.find((e) => e.name === 'db')!,
      bandwidth: { ingress: { rate: 20e6 }, egress: { rate: 1e6, burst: 100_000 } },
    };
    const t3 = buildTopology({ networks: [web], sandboxes, endpoints: [limited] });
    expect(t3.nodes.find((n) => n.id === 'endpoint:web.db')?.details).toEqual([
      'eth0',
      '10.89.0.2/24',
      '02:00:00:00:00:01',
      'ingress 20mbit',
      'egress 1mbit burst 100kbit',
    ]);
  });

  it('is empty without records', () => {
    expect(buildTopology({ networks: [], sandboxes: [], endpoints: [] })).toEqual({ nodes: [], edges: [] });
  });
});

describe('sandboxEndpoints', () => {
  it('finds the interfaces in the netns: by netns for none and container mode, by name for host mode', () => {
    const names = (sb: SandboxRecord) => sandboxEndpoints(sb, endpoints).map((e) => `${e.network}.${e.name}`);
    expect(names(sandboxes[0]!)).toEqual(['web.db']);
    expect(names(sandboxes[1]!)).toEqual(['web.db']);
    expect(names(sandboxes[2]!)).toEqual(['hostnet.h']);
  });
});
