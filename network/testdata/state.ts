/** Records of a small berth state (a bridge network, a host network, three sandboxes, three endpoints), shared by the pure tests. */
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model.js';

export const at = '2025-01-01T00:00:00.000Z';
export const web: NetworkRecord = {
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
export const hostNet: NetworkRecord = { ...web, name: 'hostnet', driver: 'host', bridgeName: '', subnets: [] };
export const sandboxes: SandboxRecord[] = [
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
export const endpoints: EndpointRecord[] = [
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
