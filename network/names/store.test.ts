import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NamesStore } from './store.js';

describe('NamesStore: imported records', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const store = () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-names-store-'));
    dirs.push(dir);
    const s = NamesStore.in(dir);
    s.setNetwork({ network: 'apps', listen: ['10.240.0.1'], subnets: ['10.240.0.0/16'] });
    return s;
  };
  const local = { owner: 'ep1', names: ['a'], addresses: ['10.240.0.2'], netns: '/run/netns/a' };
  const remote = { owner: 'node2/ep1', names: ['web'], addresses: ['10.240.1.2'] };

  it('keeps them apart from the local records, and serves both', () => {
    const s = store();
    s.put('apps', local);
    s.putImported('apps', remote);
    expect(s.records('apps')).toEqual([local]);
    expect(s.imported('apps')).toEqual([remote]);
    expect(s.view('apps')?.records).toEqual([local, remote]);
  });

  it('removes an imported record by its owner, never a local one of the same owner', () => {
    const s = store();
    s.put('apps', { ...local, owner: remote.owner });
    s.putImported('apps', remote);
    s.removeImported('apps', remote.owner);
    expect(s.imported('apps')).toEqual([]);
    expect(s.records('apps')).toHaveLength(1);
    s.removeImported('apps', 'nobody');
  });

  it('loses them with the network', () => {
    const s = store();
    s.putImported('apps', remote);
    s.removeNetwork('apps');
    expect(s.imported('apps')).toEqual([]);
    expect(s.view('apps')).toBeNull();
  });
});
