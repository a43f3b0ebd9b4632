import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model.js';
import { hostNet, web } from '../testdata/state.js';
import { type Finding, isHealthy } from './findings.js';
import { analyzeState } from './state-analysis.js';
import type { StateFacts } from './state-facts.js';

const at = '2025-01-01T00:00:00.000Z';
const app: SandboxRecord = {
  name: 'app',
  id: '1',
  mode: 'none',
  netnsPath: '/run/netns/app',
  ownsNetns: true,
  createdAt: at,
};
const side: SandboxRecord = { ...app, name: 'side', id: '2', mode: 'container', shareWith: 'app' };
const tools: SandboxRecord = {
  name: 'tools',
  id: '3',
  mode: 'host',
  netnsPath: '/proc/self/ns/net',
  ownsNetns: false,
  createdAt: at,
};
const appOnWeb: EndpointRecord = {
  name: 'app',
  id: 'bbbbbbbbbbbb',
  network: 'web',
  createdAt: at,
  join: {
    sandbox: 'app',
    netnsPath: '/run/netns/app',
    ifname: 'eth0',
    hostVeth: 'vethbbbbbbbbbbb',
    mac: '02:00:00:00:00:01',
    addresses: ['10.89.0.2/24'],
  },
};
const toolsOnHost: EndpointRecord = {
  name: 'tools',
  id: 'cccccccccccc',
  network: 'hostnet',
  createdAt: at,
  join: { sandbox: 'tools', netnsPath: '/proc/self/ns/net', ifname: 'eth0', hostVeth: '', mac: '', addresses: [] },
};

/** A healthy state: every record matches the kernel. */
function facts(over: Partial<StateFacts> = {}): StateFacts {
  return {
    networks: [web, hostNet],
    sandboxes: [app, side, tools],
    endpoints: [appOnWeb, toolsOnHost],
    reservations: new Map([['web', [{ ip: '10.89.0.2', containerID: 'bbbbbbbbbbbb', ifname: 'eth0' }]]]),
    firewall: [{ owner: { kind: 'network', id: 'web' }, backend: 'nftables' }],
    firewallErrors: [],
    portOwners: [],
    stalePorts: [],
    netnsAlive: new Map([
      ['/run/netns/app', true],
      ['/proc/self/ns/net', true],
    ]),
    hostLinks: ['lo', 'berth-web', 'vethbbbbbbbbbbb'],
    ifbs: [],
    netnsLinks: new Map([['/run/netns/app', ['lo', 'eth0']]]),
    ...over,
  };
}

const lines = (fs: readonly Finding[]) => fs.map((f) => `${f.severity} ${f.message}`);

describe('analyzeState', () => {
  it('finds an IFB whose host end is gone stale, and leaves one that shapes a veth', () => {
    const ifbs = [
      { name: 'bw0000000000001', hostLink: 'vethbbbbbbbbbbb', owner: 'bbbbbbbbbbbb', orphaned: false },
      { name: 'bw0000000000002', hostLink: 'vethgone0000000', owner: 'net/ctr/eth0', orphaned: true },
    ];
    expect(analyzeState(facts({ ifbs }))).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'IFB bw0000000000002 shapes nothing: the host end vethgone0000000 it was made for is gone',
        fix: 'berth gc removes it',
        stale: { kind: 'ifb', name: 'bw0000000000002' },
      },
    ]);
  });

  it('finds a matching state healthy, in one ok line', () => {
    const found = analyzeState(facts());
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'ok',
        message: 'records match the kernel: 2 network(s), 3 sandbox(es), 2 endpoint(s)',
      },
    ]);
    expect(isHealthy(found)).toBe(true);
  });

  it('finds a sandbox whose netns is gone, once, and not its endpoints again', () => {
    const found = analyzeState(facts({ netnsAlive: new Map([['/run/netns/app', false]]), hostLinks: ['berth-web'] }));
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'sandbox app: its netns /run/netns/app is gone',
        fix: 'berth gc removes the sandbox and its endpoints (or: berth sandbox rm app)',
        stale: { kind: 'sandbox', name: 'app' },
      },
      expect.objectContaining({ message: 'sandbox side: its netns /run/netns/app is gone' }),
    ]);
    expect(isHealthy(found)).toBe(false);
  });

  it('does not judge the netns of host-mode sandboxes or of a container-mode one sharing them', () => {
    const shared: SandboxRecord = { ...side, shareWith: 'tools', netnsPath: '/proc/self/ns/net', ownsNetns: false };
    expect(
      analyzeState(facts({ sandboxes: [app, shared, tools], netnsAlive: new Map([['/run/netns/app', true]]) })),
    ).toHaveLength(1);
  });

  it('finds endpoints whose veth or interface is gone, or whose network or sandbox has no record', () => {
    const orphan: EndpointRecord = { ...appOnWeb, name: 'orphan', network: 'gone' };
    const lost: EndpointRecord = {
      ...appOnWeb,
      name: 'lost',
      id: 'dddddddddddd',
      join: { ...appOnWeb.join!, sandbox: 'ghost', netnsPath: '/run/netns/ghost', hostVeth: 'vethddd' },
    };
    expect(
      lines(analyzeState(facts({ hostLinks: ['berth-web'], endpoints: [appOnWeb, toolsOnHost, orphan, lost] }))),
    ).toEqual([
      'fail endpoint app of network web: its veth vethbbbbbbbbbbb is gone from the host netns',
      'fail endpoint orphan of network gone: the network does not exist',
      'fail endpoint lost of network web: its sandbox ghost does not exist',
    ]);
    expect(lines(analyzeState(facts({ netnsLinks: new Map([['/run/netns/app', ['lo']]]) })))).toEqual([
      'fail endpoint app of network web: its interface eth0 is gone from /run/netns/app',
    ]);
    expect(analyzeState(facts({ sandboxes: [app, side] }))[0]).toMatchObject({
      message: 'endpoint tools of network hostnet: its sandbox tools does not exist',
      stale: { kind: 'endpoint', network: 'hostnet', name: 'tools' },
    });
  });

  it('keeps an endpoint whose first sandbox is gone while a container-mode one holds the netns', () => {
    expect(analyzeState(facts({ sandboxes: [side, tools] }))[0]?.severity).toBe('ok');
  });

  it('finds a missing bridge, without a gc fix', () => {
    const found = analyzeState(facts({ hostLinks: ['vethbbbbbbbbbbb'] }));
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'network web: its bridge berth-web is missing from the host netns',
        fix: 'the next berth connect to web creates it again; or remove the network and create it again',
      },
    ]);
  });

  it('finds a macvlan network whose parent is gone, and an endpoint whose macvlan went with it', () => {
    const lan = {
      ...web,
      name: 'lan',
      driver: 'macvlan',
      bridgeName: '',
      mtu: 0,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    } as const;
    const onLan: EndpointRecord = {
      ...appOnWeb,
      name: 'app',
      network: 'lan',
      id: 'eeeeeeeeeeee',
      join: { ...appOnWeb.join!, ifname: 'eth1', hostVeth: '' },
    };
    const state = { networks: [web, hostNet, lan], endpoints: [appOnWeb, toolsOnHost, onLan] };
    const healthy = facts({
      ...state,
      hostLinks: ['lo', 'eth0', 'berth-web', 'vethbbbbbbbbbbb'],
      netnsLinks: new Map([['/run/netns/app', ['lo', 'eth0', 'eth1']]]),
    });
    expect(lines(analyzeState(healthy))).toEqual([
      'ok records match the kernel: 3 network(s), 3 sandbox(es), 3 endpoint(s)',
    ]);
    const found = analyzeState({
      ...healthy,
      hostLinks: ['lo', 'berth-web', 'vethbbbbbbbbbbb'],
      netnsLinks: facts().netnsLinks,
    });
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'network lan: its parent eth0 is gone from the host netns',
        fix: 'bring eth0 back, then reconnect the sandboxes on lan (their macvlans went with it); or remove the network',
      },
      expect.objectContaining({
        message: 'endpoint app of network lan: its interface eth1 is gone from /run/netns/app',
        stale: { kind: 'endpoint', network: 'lan', name: 'app' },
      }),
    ]);
  });

  it('finds reservations that no joined endpoint holds, and those of networks that do not exist', () => {
    const reservations = new Map([
      [
        'web',
        [
          { ip: '10.89.0.2', containerID: 'bbbbbbbbbbbb', ifname: 'eth0' },
          { ip: '10.89.0.9', containerID: 'ghost', ifname: 'eth0' },
          { ip: '10.89.0.10', containerID: 'bbbbbbbbbbbb', ifname: 'eth1' },
        ],
      ],
      ['old', [{ ip: '10.90.0.2', containerID: 'x', ifname: 'eth0' }]],
      ['empty', []],
    ]);
    const found = analyzeState(facts({ reservations }));
    expect(found.map((f) => f.stale)).toEqual([
      { kind: 'ipam-folder', network: 'old' },
      { kind: 'reservation', network: 'web', ip: '10.89.0.9' },
      { kind: 'reservation', network: 'web', ip: '10.89.0.10' },
    ]);
    expect(found[1]?.message).toBe(
      'IPAM reservation 10.89.0.9 of network web is held by ghost/eth0, which is no endpoint',
    );
    expect(found[0]?.message).toBe('IPAM holds 1 reservation(s) for network old, which does not exist');
  });

  it('finds firewall rules whose network or publisher is gone, and leaves CNI attachments to CNI GC', () => {
    const firewall = [
      { owner: { kind: 'network' as const, id: 'web' }, backend: 'nftables' as const },
      { owner: { kind: 'network' as const, id: 'old' }, backend: 'iptables' as const },
      { owner: { kind: 'container' as const, id: 'ports:bbbbbbbbbbbb' }, backend: 'nftables' as const },
      { owner: { kind: 'container' as const, id: 'ports:gone' }, backend: 'nftables' as const },
      { owner: { kind: 'container' as const, id: 'cni-net/abc/eth0' }, backend: 'nftables' as const },
    ];
    const found = analyzeState(facts({ firewall, portOwners: ['bbbbbbbbbbbb'], firewallErrors: ['record x is bad'] }));
    expect(lines(found)).toEqual([
      'fail iptables rules of network old, which does not exist',
      'fail nftables port rules of gone, which publishes nothing any more',
      'fail record x is bad',
    ]);
    expect(found[0]?.stale).toEqual({ kind: 'firewall', owner: { kind: 'network', id: 'old' }, backend: 'iptables' });
    expect(found[2]?.stale).toBeUndefined();
  });
});

describe('analyzeState: records of kernel state that is gone', () => {
  it('finds published ports of a boot that is over, or whose rules and netns are gone, for gc', () => {
    const found = analyzeState(
      facts({
        portOwners: ['web/c1/eth0', 'web/c2/eth0'],
        stalePorts: [
          { owner: 'web/c1/eth0', label: 'container c1 (eth0) on network web', staleness: 'earlier-boot' },
          {
            owner: 'web/c2/eth0',
            label: 'container c2 (eth0) on network web',
            staleness: 'lost',
            netnsPath: '/run/netns/c2',
          },
        ],
        firewall: [
          { owner: { kind: 'network', id: 'web' }, backend: 'nftables' },
          { owner: { kind: 'container', id: 'ports:web/c1/eth0' }, backend: 'nftables', earlierBoot: true },
        ],
      }),
    );
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message:
          'the published ports of container c1 (eth0) on network web were published in a boot that is over: nothing of them is in the kernel',
        fix: 'berth gc removes the record (meanwhile, a new publish of those ports takes them over)',
        stale: { kind: 'ports', owner: 'web/c1/eth0' },
      },
      expect.objectContaining({
        message:
          'the published ports of container c2 (eth0) on network web lost their rules (a flushed firewall table) and their netns /run/netns/c2 is gone',
        stale: { kind: 'ports', owner: 'web/c2/eth0' },
      }),
    ]);
  });

  it("finds firewall records of a boot that is over: a network's for reload, a container's for gc", () => {
    const attachment = { kind: 'container' as const, id: 'cni-net/abc/eth0' };
    const found = analyzeState(
      facts({
        firewall: [
          { owner: { kind: 'network', id: 'web' }, backend: 'nftables', earlierBoot: true },
          { owner: attachment, backend: 'iptables', earlierBoot: true },
          { owner: { kind: 'network', id: 'old' }, backend: 'nftables', earlierBoot: true },
        ],
      }),
    );
    expect(lines(found)).toEqual([
      'fail nftables rules of network web were recorded in a boot that is over and are not in the kernel',
      'fail iptables rules of container cni-net/abc/eth0 were recorded in a boot that is over and are not in the kernel',
      'fail nftables rules of network old, which does not exist',
    ]);
    expect(found.map((f) => [f.fix, f.stale])).toEqual([
      ['`berth firewall reload` puts them back', undefined],
      ['berth gc removes the record', { kind: 'firewall', owner: attachment, backend: 'iptables' }],
      ['berth gc removes them', { kind: 'firewall', owner: { kind: 'network', id: 'old' }, backend: 'nftables' }],
    ]);
  });
});

describe('isHealthy', () => {
  it('fails on a failure only', () => {
    const warn: Finding = { area: 'kernel', severity: 'warn', message: 'ip_forward is 0', fix: 'turn it on' };
    expect(isHealthy([warn])).toBe(true);
    expect(isHealthy([warn, { ...warn, severity: 'fail' }])).toBe(false);
    expect(isHealthy([])).toBe(true);
  });
});

describe('analyzeState: names', () => {
  const named = { ...web, dns: {} };
  const settings = { network: 'web', listen: ['10.89.0.1'], subnets: ['10.89.0.0/24'] };
  const appNames = { owner: 'bbbbbbbbbbbb', names: ['app'], addresses: ['10.89.0.2'], netns: '/run/netns/app' };
  const serving = { pid: 42, listening: { '10.89.0.1': 'web' } };
  const withNames = (names: StateFacts['names'], networks = [named, hostNet]) => facts({ networks, names });

  it('finds names healthy when the service listens for every network with names', () => {
    const found = analyzeState(
      withNames({ networks: [{ network: 'web', settings, records: [appNames] }], service: serving, log: '/l' }),
    );
    expect(isHealthy(found)).toBe(true);
  });

  it('finds the names of a network gone or without names, and of endpoints gone, stale', () => {
    const gone = { owner: 'dddddddddddd', names: ['old', 'alias'], addresses: ['10.89.0.9'] };
    const found = analyzeState(
      withNames({
        networks: [
          { network: 'web', settings, records: [appNames, gone] },
          { network: 'ghost', settings: { ...settings, network: 'ghost' }, records: [] },
        ],
        service: serving,
        log: '/l',
      }),
    );
    expect(found.map((f) => f.stale)).toEqual([
      { kind: 'names-record', network: 'web', owner: 'dddddddddddd' },
      { kind: 'names-network', network: 'ghost' },
    ]);
    expect(lines(found)).toEqual([
      'fail the names old, alias on network web belong to no joined endpoint',
      'fail names of network ghost, which has no names or does not exist',
    ]);
  });

  it('fails when no name service runs for names that are wanted, or it does not listen for a network', () => {
    const networks = [{ network: 'web', settings, records: [appNames] }];
    const down = analyzeState(withNames({ networks, log: '/l' }));
    expect(down.map((f) => f.stale)).toEqual([{ kind: 'names-service' }]);
    expect(lines(down)).toEqual(['fail the name service is not running: names on web are not answered']);
    const deaf = analyzeState(withNames({ networks, service: { pid: 42, listening: {} }, log: '/var/l' }));
    expect(deaf).toMatchObject([
      {
        severity: 'fail',
        message: 'the name service (PID 42) does not listen on 10.89.0.1 for network web',
        fix: 'see its log, /var/l',
      },
    ]);
  });

  it("leaves a CNI network's records to the runtime's GC, and wants a service only while one has attachments", () => {
    const cni = { ...settings, network: 'podman', cni: true };
    expect(
      analyzeState(withNames({ networks: [{ network: 'podman', settings: cni, records: [] }], log: '/l' })),
    ).toHaveLength(1);
    const found = analyzeState(
      withNames({ networks: [{ network: 'podman', settings: cni, records: [appNames] }], log: '/l' }),
    );
    expect(found.map((f) => f.stale)).toEqual([{ kind: 'names-service' }]);
  });
});

describe('analyzeState: names of an overlay network', () => {
  const overlay: NetworkRecord = {
    ...web,
    driver: 'overlay',
    dns: {},
    overlay: { subnet: '10.89.0.0/16', vni: 1, vxlan: 'vx-1' },
  };
  const settings = { network: 'web', listen: ['10.89.0.1'], subnets: ['10.89.0.0/16'] };

  it('wants no name service while this host has no sandbox on it', () => {
    const found = analyzeState(
      facts({
        networks: [overlay, hostNet],
        names: { networks: [{ network: 'web', settings, records: [] }], log: '/l' },
      }),
    );
    expect(found.filter((f) => f.severity !== 'ok')).toEqual([]);
  });
});

describe('analyzeState with attachments made through the CNI plugins', () => {
  const owner = 'cni-net/ctr1/eth0';
  const ctr1: EndpointRecord = {
    name: 'ctr1.eth0',
    id: 'dddddddddddd',
    network: 'cni-net',
    cni: { containerId: 'ctr1', ifName: 'eth0', driver: 'bridge', bridge: 'cni0', owner },
    createdAt: at,
    join: {
      sandbox: 'ctr1',
      netnsPath: '/run/netns/ctr1',
      ifname: 'eth0',
      hostVeth: 'vethddddddddddd',
      mac: '02:00:00:00:00:02',
      addresses: ['10.22.0.2/24'],
    },
  };
  const withCtr1 = (over: Partial<StateFacts> = {}) =>
    facts({
      endpoints: [appOnWeb, toolsOnHost, ctr1],
      // A CNI network has no network record; its reservations are its attachments'.
      reservations: new Map([
        ['web', [{ ip: '10.89.0.2', containerID: 'bbbbbbbbbbbb', ifname: 'eth0' }]],
        ['cni-net', [{ ip: '10.22.0.2', containerID: 'ctr1', ifname: 'eth0' }]],
      ]),
      firewall: [
        { owner: { kind: 'network', id: 'web' }, backend: 'nftables' },
        { owner: { kind: 'container', id: owner }, backend: 'nftables' },
      ],
      portOwners: [owner],
      netnsAlive: new Map([
        ['/run/netns/app', true],
        ['/proc/self/ns/net', true],
        ['/run/netns/ctr1', true],
      ]),
      hostLinks: ['lo', 'berth-web', 'vethbbbbbbbbbbb', 'cni0', 'vethddddddddddd'],
      netnsLinks: new Map([
        ['/run/netns/app', ['lo', 'eth0']],
        ['/run/netns/ctr1', ['lo', 'eth0']],
      ]),
      ...over,
    });

  it('counts a live attachment apart from the endpoints, and finds nothing wrong with it', () => {
    expect(lines(analyzeState(withCtr1()))).toEqual([
      'ok records match the kernel: 2 network(s), 3 sandbox(es), 2 endpoint(s), 1 CNI attachment(s)',
    ]);
  });

  it('is one stale finding once its netns is gone, standing for its own rules too', () => {
    const found = analyzeState(
      withCtr1({
        netnsAlive: new Map([
          ['/run/netns/app', true],
          ['/proc/self/ns/net', true],
          ['/run/netns/ctr1', false],
        ]),
        firewall: [
          { owner: { kind: 'network', id: 'web' }, backend: 'nftables' },
          { owner: { kind: 'container', id: owner }, backend: 'nftables', earlierBoot: true },
          { owner: { kind: 'container', id: `ports:${owner}` }, backend: 'nftables', earlierBoot: true },
        ],
      }),
    );
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'attachment ctr1/eth0 of CNI network cni-net: its netns /run/netns/ctr1 is gone',
        fix: "berth gc removes its veth, rules, ports and record (its addresses are for the runtime's CNI GC)",
        stale: { kind: 'attachment', network: 'cni-net', name: 'ctr1.eth0' },
      },
    ]);
  });

  it("counts an overlay network's reservation held by a CNI attachment to it, by the attachment's owner", () => {
    const onOverlay: EndpointRecord = { ...ctr1, cni: { ...ctr1.cni!, overlay: 'web' } };
    const state = withCtr1({
      endpoints: [appOnWeb, toolsOnHost, onOverlay],
      reservations: new Map([
        [
          'web',
          [
            { ip: '10.89.0.2', containerID: 'bbbbbbbbbbbb', ifname: 'eth0' },
            { ip: '10.89.0.3', containerID: owner, ifname: 'eth0' },
          ],
        ],
      ]),
    });
    expect(lines(analyzeState(state))).toEqual([
      'ok records match the kernel: 2 network(s), 3 sandbox(es), 2 endpoint(s), 1 CNI attachment(s)',
    ]);
    // Without the field (a bridge CNI attachment), the same reservation is no one's.
    expect(lines(analyzeState({ ...state, endpoints: [appOnWeb, toolsOnHost, ctr1] }))).toContain(
      `fail IPAM reservation 10.89.0.3 of network web is held by ${owner}/eth0, which is no endpoint`,
    );
  });

  it("reports a lost link as the runtime's to mend, with nothing for gc to remove", () => {
    const found = analyzeState(withCtr1({ hostLinks: ['lo', 'berth-web', 'vethbbbbbbbbbbb', 'cni0'] }));
    expect(found).toEqual([
      {
        area: 'state',
        severity: 'fail',
        message: 'attachment ctr1/eth0 of CNI network cni-net: its veth vethddddddddddd is gone from the host netns',
        fix: 'DEL and ADD the container again (through its runtime)',
      },
    ]);
  });
});
