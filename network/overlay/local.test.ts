import { describe, expect, it } from 'vitest';
import { resolveNetwork } from '../config.js';
import { networkRules } from '../firewall.js';
import type { NetworkRecord } from '../model.js';
import { namesNetworkOf } from '../names/network.js';
import type { HostOverlay } from './agent.js';
import { localClash, overlayRecordOf } from './local.js';
import type { OverlayNetwork } from './model.js';

const web: OverlayNetwork = {
  name: 'web',
  subnet: '10.240.0.0/16',
  blockPrefix: 24,
  vni: 1,
  mtu: 0,
  createdAt: 'then',
};
const view: HostOverlay = {
  network: web,
  node: 'n1',
  address: '192.168.77.1',
  block: '10.240.3.0/24',
  vxlan: 'vx-0123456789ab',
  vtepMac: '02:00:00:00:00:01',
  vxlanMtu: 1450,
};
const bridge = (name: string, subnet: string): NetworkRecord => ({
  ...resolveNetwork({ name, subnet }, []),
  createdAt: 'then',
});

describe('overlayRecordOf', () => {
  it("makes this host's block the network's subnet here, the bridge its gateway, the MTU the VXLAN device's", () => {
    const rec = overlayRecordOf(web, view);
    expect(rec).toMatchObject({
      name: 'web',
      driver: 'overlay',
      bridgeName: 'berth-web',
      subnets: [{ subnet: '10.240.3.0/24', gateway: '10.240.3.1', prefixLength: 24 }],
      mtu: 1450,
      masquerade: true,
      overlay: {
        subnet: '10.240.0.0/16',
        vni: 1,
        vxlan: 'vx-0123456789ab',
        host: { node: 'n1', block: '10.240.3.0/24', underlay: '192.168.77.1', vtepMac: '02:00:00:00:00:01' },
      },
    });
    expect(overlayRecordOf({ ...web, mtu: 1400 }, view).mtu).toBe(1400);
  });

  it("gives a network with names a name service on this host's block gateway, answering for the whole overlay", () => {
    expect(overlayRecordOf(web, view)).not.toHaveProperty('dns');
    const rec = overlayRecordOf({ ...web, dns: { domain: 'ovl.berth' } }, view);
    expect(rec.dns).toEqual({ domain: 'ovl.berth' });
    expect(namesNetworkOf(rec)).toEqual({
      network: 'web',
      listen: ['10.240.3.1'],
      subnets: ['10.240.0.0/16'],
      domain: 'ovl.berth',
    });
  });

  it('has no subnet and no host before this host holds a block', () => {
    const rec = overlayRecordOf(web);
    expect(rec.subnets).toEqual([]);
    expect(rec.overlay).toEqual({ subnet: '10.240.0.0/16', vni: 1, vxlan: '' });
  });

  it('masquerades the block only leaving the whole overlay', () => {
    expect(networkRules(overlayRecordOf(web, view)).masquerade).toEqual([
      { source: '10.240.3.0/24', subnet: '10.240.0.0/16' },
    ]);
  });
});

describe('localClash', () => {
  it('refuses a local network of the same name, or one whose subnet overlaps the overlay', () => {
    expect(localClash([bridge('web', '10.9.0.0/24')], web)?.msg).toBe(
      'a bridge network named "web" exists on this host',
    );
    expect(localClash([bridge('db', '10.240.7.0/24')], web)?.msg).toBe(
      'overlay subnet 10.240.0.0/16 overlaps network "db" of this host (10.240.7.0/24)',
    );
    expect(localClash([bridge('db', '10.9.0.0/24'), overlayRecordOf(web, view)], web)).toBeUndefined();
  });

  it("keeps a new bridge network out of an overlay's whole subnet, not only this host's block", () => {
    expect(() => resolveNetwork({ name: 'db', subnet: '10.240.9.0/24' }, [overlayRecordOf(web, view)])).toThrow(
      'subnet 10.240.9.0/24 overlaps network "web" (10.240.0.0/16)',
    );
  });
});
