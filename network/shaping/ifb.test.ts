import { describe, expect, it } from 'vitest';
import { ifbAlias, ifbName, parseIfbAlias, shapingIfbs } from './ifb.js';

describe('the IFB of an attachment', () => {
  it('is named after its owner alone, in 15 bytes', () => {
    expect(ifbName('net/ctr1/eth0')).toMatch(/^bw[0-9a-f]{13}$/);
    expect(ifbName('net/ctr1/eth0')).toBe(ifbName('net/ctr1/eth0'));
    expect(ifbName('net/ctr1/eth1')).not.toBe(ifbName('net/ctr1/eth0'));
    expect(ifbName(`net/${'c'.repeat(500)}/eth0`)).toHaveLength(15);
  });

  it('says in its alias that it is berth’s, its host end and its owner, the owner left out when too long', () => {
    expect(ifbAlias('veth0123456789a', 'net/ctr1/eth0')).toBe('berth-bandwidth veth0123456789a net/ctr1/eth0');
    expect(parseIfbAlias('berth-bandwidth veth0123456789a net/ctr1/eth0')).toEqual({
      hostLink: 'veth0123456789a',
      owner: 'net/ctr1/eth0',
    });
    const long = `net/${'c'.repeat(300)}/eth0`;
    expect(ifbAlias('veth0', long)).toBe('berth-bandwidth veth0');
    expect(parseIfbAlias(ifbAlias('veth0', long))).toEqual({ hostLink: 'veth0' });
    for (const other of [undefined, '', 'mine', 'berth-bandwidth', 'berth-bandwidth a b c'])
      expect(parseIfbAlias(other)).toBeUndefined();
  });

  it('is found among the links by its alias, orphaned when its host end is gone', () => {
    const links = [
      { name: 'veth0', type: 'veth' },
      { name: 'bw1', type: 'ifb', alias: 'berth-bandwidth veth0 n/a/eth0' },
      { name: 'bw2', type: 'ifb', alias: 'berth-bandwidth veth9 n/b/eth0' },
      { name: 'ifb0', type: 'ifb' },
      { name: 'dummy', type: 'veth', alias: 'berth-bandwidth veth0 n/c/eth0' },
    ];
    expect(shapingIfbs(links)).toEqual([
      { name: 'bw1', hostLink: 'veth0', owner: 'n/a/eth0', orphaned: false },
      { name: 'bw2', hostLink: 'veth9', owner: 'n/b/eth0', orphaned: true },
    ]);
  });
});
