import { describe, expect, it } from 'vitest';
import type { HostOverlay } from './agent.js';
import { analyzeOverlay } from './doctor.js';
import { overlayRecordOf } from './local.js';
import type { ClusterSnapshot, OverlayNetwork } from './model.js';

const web: OverlayNetwork = { name: 'web', subnet: '10.240.0.0/16', blockPrefix: 24, vni: 1, mtu: 0, createdAt: '' };
const db: OverlayNetwork = { ...web, name: 'db', subnet: '10.241.0.0/16', vni: 2 };
const view: HostOverlay = {
  network: web,
  node: 'n1',
  address: '192.168.77.1',
  block: '10.240.3.0/24',
  vxlan: 'vx-web',
  vtepMac: '02:00:00:00:00:01',
  vxlanMtu: 1450,
};
const rec = overlayRecordOf(web, view);
const held = {
  network: 'web',
  block: '10.240.3.0/24',
  node: 'n1',
  address: '192.168.77.1',
  vtepMac: '',
  lease: '1',
  modRevision: '1',
};
const up = new Map([['vx-web', { vni: 1, up: true }]]);
const lines = (f: ReturnType<typeof analyzeOverlay>) => f.map((x) => `${x.severity} ${x.message}`);

describe('analyzeOverlay', () => {
  it('is content with the device up and the block held in etcd', () => {
    const cluster: ClusterSnapshot = { networks: [web], blocks: [held] };
    expect(lines(analyzeOverlay({ records: [rec], vxlans: up, cluster, etcd: 'http://e:2379' }))).toEqual([
      'ok overlay network web: block 10.240.3.0/24 on vx-web (VNI 1)',
      'ok etcd at http://e:2379: 1 overlay network(s), 1 block(s) held',
    ]);
  });

  it('fails a missing, other or down VXLAN device, naming berth agent as the fix', () => {
    for (const vxlans of [
      new Map(),
      new Map([['vx-web', { vni: 9, up: true }]]),
      new Map([['vx-web', { vni: 1, up: false }]]),
    ]) {
      const [f] = analyzeOverlay({ records: [rec], vxlans });
      expect(f).toMatchObject({ severity: 'fail', fix: expect.stringContaining('berth agent') });
    }
  });

  it('fails a block no longer held (no agent, lease run out), warns of networks gone or not here, and of an etcd it could not read', () => {
    const cluster: ClusterSnapshot = { networks: [web, db], blocks: [] };
    expect(lines(analyzeOverlay({ records: [rec], vxlans: up, cluster, etcd: 'e' })).slice(2)).toEqual([
      "fail overlay network web: this host's block 10.240.3.0/24 is not held in etcd (no agent running, or its lease ran out): the other hosts do not route to it",
      'warn overlay network db (10.241.0.0/16) has no block on this host',
    ]);
    expect(
      lines(analyzeOverlay({ records: [rec], vxlans: up, cluster: { networks: [], blocks: [] }, etcd: 'e' }))[2],
    ).toBe('warn overlay network web is gone from the cluster; it stays on this host while endpoints here use it');
    expect(lines(analyzeOverlay({ records: [rec], vxlans: up, cluster: new Error('down'), etcd: 'e' }))[1]).toBe(
      'fail etcd at e: down',
    );
    expect(lines(analyzeOverlay({ records: [rec], vxlans: up }))[1]).toBe(
      'warn overlay networks were not checked against the cluster: no etcd given',
    );
  });
});
