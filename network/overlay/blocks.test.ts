import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import {
  blockAt,
  gatewayOf,
  isBlockOf,
  overlayMtu,
  parseLayout,
  pickBlock,
  vtepAddressOf,
  vtepMacOf,
} from './blocks.js';

const layout = parseLayout('10.240.0.0/16');

describe('parseLayout', () => {
  it('cuts a /16 into 256 blocks of /24 by default', () => {
    expect(layout).toEqual({ subnet: '10.240.0.0/16', blockPrefix: 24, blocks: 256 });
    expect(parseLayout('10.240.0.0/24')).toEqual({ subnet: '10.240.0.0/24', blockPrefix: 24, blocks: 1 });
    expect(parseLayout('10.0.0.0/8').blocks).toBe(65536);
  });

  it.each<[string, string, number | undefined, string]>([
    [
      'a subnet too small for a block',
      '10.240.0.0/25',
      undefined,
      'overlay subnet 10.240.0.0/25 is too small for a block of /24',
    ],
    ['host bits', '10.240.1.0/16', undefined, 'overlay subnet 10.240.1.0/16 has host bits set'],
    ['IPv6', 'fd00::/48', undefined, 'overlay subnet fd00::/48 is not IPv4'],
    ['no prefix', '10.240.0.0', undefined, 'invalid overlay subnet "10.240.0.0"'],
    ['a block with no room for a container', '10.240.0.0/16', 30, 'invalid block size /30'],
    ['too many blocks', '10.0.0.0/8', 28, 'overlay subnet 10.0.0.0/8 holds 1048576 blocks of /28, more than 65536'],
  ])('refuses %s with code 7', (_, subnet, blockPrefix, msg) => {
    const f = failure(() => parseLayout(subnet, blockPrefix));
    expect(f.code).toBe(7);
    expect(f.msg).toBe(msg);
    expect(f.details).not.toBe('');
  });
});

describe('blocks', () => {
  it('numbers the blocks in address order', () => {
    expect(blockAt(layout, 0)).toBe('10.240.0.0/24');
    expect(blockAt(layout, 255)).toBe('10.240.255.0/24');
    expect(blockAt(parseLayout('10.8.0.0/22', 26), 5)).toBe('10.8.1.64/26');
  });

  it('knows its own blocks: aligned, of its size, inside', () => {
    expect(isBlockOf(layout, '10.240.7.0/24')).toBe(true);
    expect(isBlockOf(layout, '10.240.7.128/24')).toBe(false);
    expect(isBlockOf(layout, '10.240.7.0/25')).toBe(false);
    expect(isBlockOf(layout, '10.241.0.0/24')).toBe(false);
    expect(isBlockOf(layout, 'nonsense')).toBe(false);
  });

  it('picks the preferred block when free, else the first free one, else none', () => {
    expect(pickBlock(layout, new Set())).toBe('10.240.0.0/24');
    expect(pickBlock(layout, new Set(['10.240.0.0/24', '10.240.1.0/24']))).toBe('10.240.2.0/24');
    expect(pickBlock(layout, new Set(['10.240.0.0/24']), '10.240.9.0/24')).toBe('10.240.9.0/24');
    expect(pickBlock(layout, new Set(['10.240.9.0/24']), '10.240.9.0/24')).toBe('10.240.0.0/24');
    // A preference from another layout (the network was made again with another subnet) is not taken.
    expect(pickBlock(layout, new Set(), '10.99.0.0/24')).toBe('10.240.0.0/24');
    const one = parseLayout('10.240.0.0/24');
    expect(pickBlock(one, new Set(['10.240.0.0/24']))).toBeUndefined();
  });

  it('gives two hosts that pick from what the other holds disjoint blocks', () => {
    const taken = new Set<string>();
    const picked = ['a', 'b', 'c'].map(() => {
      const block = pickBlock(layout, taken)!;
      taken.add(block);
      return block;
    });
    expect(new Set(picked).size).toBe(3);
  });

  it('puts the VTEP on the network address, the gateway on the first host', () => {
    expect(vtepAddressOf('10.240.3.0/24')).toBe('10.240.3.0');
    expect(gatewayOf('10.240.3.0/24')).toBe('10.240.3.1');
  });

  it('derives a stable, locally administered unicast VTEP MAC per network and node', () => {
    const mac = vtepMacOf('web', 'node1');
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(vtepMacOf('web', 'node1')).toBe(mac);
    expect(vtepMacOf('web', 'node2')).not.toBe(mac);
    expect(vtepMacOf('db', 'node1')).not.toBe(mac);
  });

  it('leaves 50 bytes of the underlay MTU to VXLAN', () => {
    expect(overlayMtu(1500)).toBe(1450);
    expect(overlayMtu(9000)).toBe(8950);
  });
});
