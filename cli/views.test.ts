import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../network/model.js';
import { networkView, sandboxView } from '../network/views.js';
import { fields, table } from './output.js';
import { networkTable, networkText, sandboxTable, sandboxText } from './views.js';

const at = '2025-01-01T00:00:00.000Z';
const web: NetworkRecord = {
  name: 'web',
  id: 'aaaaaaaaaaaa',
  driver: 'bridge',
  bridgeName: 'berth-web',
  subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1', prefixLength: 24 }],
  mtu: 1500,
  masquerade: true,
  isolate: false,
  hairpin: true,
  promiscuous: false,
  createdAt: at,
};
const app: SandboxRecord = {
  name: 'app',
  id: 'f00',
  mode: 'none',
  netnsPath: '/run/netns/app',
  ownsNetns: true,
  createdAt: at,
};
const joined: EndpointRecord = {
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
const idle: EndpointRecord = { name: 'idle', id: 'cccccccccccc', network: 'web', createdAt: at };

describe('views', () => {
  it('shows a network with its endpoints; an endpoint not joined has nulls', () => {
    expect(networkView(web, [joined, idle, { ...idle, network: 'other' }])).toEqual({
      name: 'web',
      id: 'aaaaaaaaaaaa',
      driver: 'bridge',
      bridge: 'berth-web',
      subnets: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }],
      mtu: 1500,
      masquerade: true,
      isolate: false,
      createdAt: at,
      overlay: null,
      endpoints: [
        {
          network: 'web',
          name: 'app',
          id: 'bbbbbbbbbbbb',
          sandbox: 'app',
          ifname: 'eth0',
          addresses: ['10.89.0.2/24'],
          mac: '02:00:00:00:00:01',
          hostVeth: 'vethbbbbbbbbbbb',
          bandwidth: null,
        },
        {
          network: 'web',
          name: 'idle',
          id: 'cccccccccccc',
          sandbox: null,
          ifname: null,
          addresses: [],
          mac: null,
          hostVeth: null,
          bandwidth: null,
        },
      ],
      dns: null,
      macvlan: null,
    });
  });

  it("shows a macvlan network's parent and mode, and its MTU as the parent's when it has none of its own", () => {
    const lan: NetworkRecord = {
      ...web,
      name: 'lan',
      driver: 'macvlan',
      bridgeName: '',
      mtu: 0,
      masquerade: false,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    };
    const view = networkView(lan, []);
    expect(view).toMatchObject({ driver: 'macvlan', bridge: null, macvlan: { parent: 'eth0', mode: 'bridge' } });
    const text = networkText(view);
    expect(text).toContain('bridge:     -\nparent:     eth0\nmode:       bridge\n');
    expect(text).toContain("mtu:        the parent's\n");
  });

  it('shows the names of a network with names, and says when they are off', () => {
    const named = { ...web, dns: { domain: 'dns.berth' } };
    const records = [
      { owner: 'bbbbbbbbbbbb', names: ['app', 'api'], addresses: ['10.89.0.2'], netns: '/run/netns/app' },
    ];
    expect(networkView(named, [joined], records).dns).toEqual({
      domain: 'dns.berth',
      records: [{ names: ['app', 'api'], addresses: ['10.89.0.2'], imported: false, node: null }],
    });
    const text = networkText(networkView(named, [joined], records));
    expect(text).toContain('dns:        on, domain dns.berth\n');
    expect(text).toContain('name:       app api: 10.89.0.2\n');
    expect(networkText(networkView(web, [joined]))).toContain('dns:        off\n');
  });

  it("shows the names other hosts published on an overlay network after this host's, with the node each came from", () => {
    const apps: NetworkRecord = { ...web, name: 'apps', driver: 'overlay', dns: {} };
    const own = [{ owner: 'bbbbbbbbbbbb', names: ['app'], addresses: ['10.89.0.2'], netns: '/run/netns/app' }];
    const imported = [
      { owner: 'n2/dddddddddddd', names: ['db', 'sql'], addresses: ['10.89.1.2'], node: 'n2' },
      { owner: 'n3/c3/eth0', names: ['cache'], addresses: ['10.89.2.2'] },
    ];
    const view = networkView(apps, [joined], own, imported);
    expect(view.dns?.records).toEqual([
      { names: ['app'], addresses: ['10.89.0.2'], imported: false, node: null },
      { names: ['db', 'sql'], addresses: ['10.89.1.2'], imported: true, node: 'n2' },
      { names: ['cache'], addresses: ['10.89.2.2'], imported: true, node: null },
    ]);
    expect(networkText(view)).toContain(
      'name:       app: 10.89.0.2\n' +
        'name:       db sql: 10.89.1.2 (from node n2)\n' +
        'name:       cache: 10.89.2.2 (from another host)\n',
    );
  });

  it("shows an endpoint's limits, a default burst as null", () => {
    const limited = { ...joined, bandwidth: { ingress: { rate: 20e6 }, egress: { rate: 1e6, burst: 100_000 } } };
    const view = networkView(web, [limited]);
    expect(view.endpoints[0]?.bandwidth).toEqual({
      ingress: { rate: 20e6, burst: null },
      egress: { rate: 1e6, burst: 100_000 },
    });
    expect(networkText(view)).toContain(
      'endpoint:   app in sandbox app: eth0 10.89.0.2/24 (host side vethbbbbbbbbbbb), ingress 20mbit, egress 1mbit burst 100kbit\n',
    );
    expect(sandboxText(sandboxView(app, [limited]))).toContain(', ingress 20mbit, egress 1mbit burst 100kbit\n');
  });

  it('shows a sandbox with the interfaces in its netns', () => {
    const v = sandboxView(app, [joined, idle]);
    expect(v).toMatchObject({ name: 'app', mode: 'none', netns: '/run/netns/app', shareWith: null });
    expect(v.endpoints.map((e) => e.name)).toEqual(['app']);
    const host = sandboxView({ ...app, name: 'h', mode: 'host', netnsPath: '/proc/self/ns/net' }, [joined]);
    expect(host).toMatchObject({ netns: null, endpoints: [] });
  });

  it('prints tables and fields aligned', () => {
    expect(networkTable([networkView(web, [joined])])).toBe(
      'NAME  DRIVER  BRIDGE     SUBNETS       ENDPOINTS\nweb   bridge  berth-web  10.89.0.0/24  1\n',
    );
    expect(sandboxTable([sandboxView(app, [joined])])).toBe(
      'NAME  MODE  NETNS           INTERFACES\napp   none  /run/netns/app  web:eth0 10.89.0.2/24\n',
    );
    expect(networkText(networkView(web, [joined]))).toContain(
      'endpoint:   app in sandbox app: eth0 10.89.0.2/24 (host side vethbbbbbbbbbbb)\n',
    );
    expect(table(['A', 'B'], [])).toBe('A  B\n');
    expect(
      fields([
        ['a', '1'],
        ['long', ''],
      ]),
    ).toBe('a:    1\nlong:\n');
  });
});
