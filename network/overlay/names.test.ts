import { describe, expect, it } from 'vitest';
import type { NameRecord } from '../names/model.js';
import { ClusterKeys } from './model.js';
import {
  importedOwnerOf,
  ownerKeyOf,
  type PublishedName,
  parsePublishedValue,
  planImport,
  planPublish,
  publishedValueOf,
} from './names.js';

const web: NameRecord = { owner: 'ep1', names: ['web', 'www'], addresses: ['10.240.1.2'], netns: '/run/netns/web' };
const db: NameRecord = { owner: 'ns/c2/eth0', names: ['db'], addresses: ['10.240.1.3'] };
const published = (node: string, r: NameRecord, lease = '7', network = 'apps'): PublishedName => ({
  network,
  node,
  lease,
  ...publishedValueOf(r),
});

describe('name keys and values', () => {
  const keys = new ClusterKeys();

  it('puts a record under its network, node and hashed owner, and reads the key back', () => {
    const key = keys.name('apps', 'node2', ownerKeyOf('ns/c2/eth0'));
    expect(key).toMatch(/^\/berth\/names\/apps\/node2\/[0-9a-f]{24}$/);
    expect(keys.parseName(key)).toEqual({ network: 'apps', node: 'node2' });
    expect(keys.parseName('/berth/names/apps/node2')).toBeUndefined();
    expect(keys.parseName('/berth/blocks/apps/10.240.1.0-24')).toBeUndefined();
    expect(keys.parseBlock(key)).toBeUndefined();
    expect(keys.parseNetwork(key)).toBeUndefined();
  });

  it('publishes a record without its netns, and reads only well-formed values', () => {
    expect(publishedValueOf(web)).toEqual({ owner: 'ep1', names: ['web', 'www'], addresses: ['10.240.1.2'] });
    expect(parsePublishedValue(JSON.parse(JSON.stringify(publishedValueOf(db))))).toEqual(publishedValueOf(db));
    for (const bad of [
      null,
      'x',
      {},
      { owner: 'a', names: 'web', addresses: [] },
      { owner: 1, names: [], addresses: [] },
      { owner: 'a', names: [], addresses: ['10.240.1.2'] },
      { owner: 'a', names: ['web'], addresses: [] },
      { owner: '', names: ['web'], addresses: ['10.240.1.2'] },
      { owner: 'a', names: [''], addresses: ['10.240.1.2'] },
      { owner: 'a', names: ['Web'], addresses: ['10.240.1.2'] },
      { owner: 'a', names: ['web', 'not a name'], addresses: ['10.240.1.2'] },
      { owner: 'a', names: ['web'], addresses: ['10.240.1.300'] },
      { owner: 'a', names: ['web'], addresses: ['web'] },
    ])
      expect(parsePublishedValue(bad)).toBeUndefined();
  });
});

describe('planPublish', () => {
  it('puts what is missing, changed or under another lease, and removes what is no longer here', () => {
    const moved = { ...db, addresses: ['10.240.1.9'] };
    const gone: NameRecord = { owner: 'ep9', names: ['old'], addresses: ['10.240.1.8'] };
    const plan = planPublish([web, moved], [published('n2', db), published('n2', gone)], '7');
    expect(plan.put).toEqual([publishedValueOf(web), publishedValueOf(moved)]);
    expect(plan.remove).toEqual(['ep9']);
    expect(planPublish([web], [published('n2', web, '6')], '7').put).toEqual([publishedValueOf(web)]);
  });

  it('never publishes a record without names, and withdraws one published before', () => {
    const nameless: NameRecord = { owner: 'c9/eth0', names: [], addresses: ['10.240.1.7'] };
    expect(planPublish([web, nameless], [], '7').put).toEqual([publishedValueOf(web)]);
    expect(planPublish([nameless], [published('n2', nameless)], '7')).toEqual({ put: [], remove: ['c9/eth0'] });
  });

  it('writes nothing when etcd holds the local records under the lease', () => {
    expect(planPublish([web, db], [published('n2', db), published('n2', web)], '7')).toEqual({ put: [], remove: [] });
    expect(planPublish([], [], '7')).toEqual({ put: [], remove: [] });
  });
});

describe('planImport', () => {
  const imported = (node: string, r: NameRecord): NameRecord => ({
    owner: importedOwnerOf(node, r.owner),
    names: r.names,
    addresses: r.addresses,
    node,
  });

  it("imports the other nodes' records, never its own, under owners that name their node", () => {
    const plan = planImport([published('n1', db), published('n2', web)], 'n1', []);
    expect(plan).toEqual({ put: [imported('n2', web)], remove: [] });
    expect(plan.put[0]!.owner).toBe('n2/ep1');
    expect(plan.put[0]!.node).toBe('n2');
    expect(plan.put[0]).not.toHaveProperty('netns');
  });

  it('rewrites a record imported without the node it came from', () => {
    const { node: _, ...unnamed } = imported('n2', web);
    expect(planImport([published('n2', web)], 'n1', [unnamed])).toEqual({ put: [imported('n2', web)], remove: [] });
  });

  it('removes the records of a node that is gone, and rewrites only what changed', () => {
    const present = [imported('n2', web), imported('n3', db)];
    expect(planImport([published('n2', web)], 'n1', present)).toEqual({ put: [], remove: ['n3/ns/c2/eth0'] });
    const renamed = { ...web, names: ['web'] };
    expect(planImport([published('n2', renamed), published('n3', db)], 'n1', present)).toEqual({
      put: [imported('n2', renamed)],
      remove: [],
    });
    expect(planImport([], 'n1', present).remove).toEqual(['n2/ep1', 'n3/ns/c2/eth0']);
  });
});
