import { describe, expect, it } from 'vitest';
import { planClaims } from './claims.js';
import type { BlockHolder, ClusterSnapshot, HeldBlock, OverlayNetwork } from './model.js';

const web: OverlayNetwork = { name: 'web', subnet: '10.240.0.0/16', blockPrefix: 24, vni: 1, mtu: 0, createdAt: '' };
const tiny: OverlayNetwork = { name: 'tiny', subnet: '10.9.0.0/24', blockPrefix: 24, vni: 2, mtu: 0, createdAt: '' };
const holderOf = (network: string): BlockHolder => ({
  node: 'n1',
  address: '192.168.77.1',
  vtepMac: `02:00:00:00:00:0${network.length}`,
});
const held = (block: string, over: Partial<HeldBlock> = {}): HeldBlock => ({
  network: 'web',
  block,
  ...holderOf('web'),
  lease: '100',
  modRevision: '5',
  ...over,
});
const none = () => undefined;
const snapshot = (networks: OverlayNetwork[], blocks: HeldBlock[]): ClusterSnapshot => ({ networks, blocks });

describe('planClaims', () => {
  it('claims the first free block of a network it holds none of', () => {
    const s = snapshot([web], [held('10.240.0.0/24', { node: 'n2', address: '192.168.77.2' })]);
    expect(planClaims(s, holderOf, '100', none)).toEqual([{ kind: 'claim', network: 'web', block: '10.240.1.0/24' }]);
  });

  it('asks for the block it had before a restart when that one is free', () => {
    expect(planClaims(snapshot([web], []), holderOf, '100', () => '10.240.7.0/24')).toEqual([
      { kind: 'claim', network: 'web', block: '10.240.7.0/24' },
    ]);
  });

  it('does nothing for a block it holds under its lease with its address and MAC', () => {
    expect(planClaims(snapshot([web], [held('10.240.3.0/24')]), holderOf, '100', none)).toEqual([
      { kind: 'held', network: 'web', block: '10.240.3.0/24' },
    ]);
  });

  it('renews its block from an earlier lease or address under the current one', () => {
    for (const over of [{ lease: '99' }, { address: '192.168.77.9' }, { vtepMac: '02:00:00:00:00:99' }]) {
      expect(planClaims(snapshot([web], [held('10.240.3.0/24', over)]), holderOf, '100', none)).toEqual([
        { kind: 'renew', network: 'web', block: '10.240.3.0/24', modRevision: '5' },
      ]);
    }
  });

  it('keeps one block per network and gives back the others, the preferred one kept', () => {
    const s = snapshot([web], [held('10.240.1.0/24'), held('10.240.2.0/24', { modRevision: '8', lease: '99' })]);
    expect(planClaims(s, holderOf, '100', () => '10.240.2.0/24')).toEqual([
      { kind: 'renew', network: 'web', block: '10.240.2.0/24', modRevision: '8' },
      { kind: 'release', network: 'web', block: '10.240.1.0/24', modRevision: '5' },
    ]);
  });

  it('says so when every block is held by others, and plans each network on its own', () => {
    const s = snapshot([web, tiny], [held('10.9.0.0/24', { network: 'tiny', node: 'n2' })]);
    expect(planClaims(s, holderOf, '100', none)).toEqual([
      { kind: 'claim', network: 'web', block: '10.240.0.0/24' },
      { kind: 'full', network: 'tiny' },
    ]);
  });
});
