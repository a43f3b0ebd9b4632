import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Controller } from '../controller.js';
import type { NameRecord } from '../names/model.js';
import { NamesStore } from '../names/store.js';
import { type NamesSide, OverlayAgent } from './agent.js';
import type { Cluster, ReadSnapshot } from './etcd.js';
import { controllerSide } from './local.js';
import type { OverlayNetwork } from './model.js';
import { ownerKeyOf, type PublishedName, type PublishedValue } from './names.js';

// One block, held by node2: this host (node1) holds none, so a sync touches no kernel.
const apps: OverlayNetwork = {
  name: 'apps',
  subnet: '10.240.0.0/24',
  blockPrefix: 24,
  vni: 4242,
  mtu: 0,
  dns: {},
  createdAt: '2026-01-01T00:00:00.000Z',
};
const held = {
  network: 'apps',
  block: '10.240.0.0/24',
  node: 'node2',
  address: '192.0.2.2',
  vtepMac: '02:00:00:00:00:02',
  lease: '2',
  modRevision: '5',
};
const mineBefore: PublishedName = {
  network: 'apps',
  node: 'node1',
  lease: '1',
  owner: 'ep1',
  names: ['web'],
  addresses: ['10.240.0.9'],
};
const theirs: PublishedName = {
  network: 'apps',
  node: 'node2',
  lease: '2',
  owner: 'ep7',
  names: ['db'],
  addresses: ['10.240.0.7'],
};

interface Published {
  readonly network: string;
  readonly put: readonly PublishedValue[];
  readonly remove: readonly string[];
}

function fakeCluster(snapshot: ReadSnapshot, accept = true) {
  const published: Published[] = [];
  const cluster = {
    grantLease: async () => ({ id: '1', revoke: async () => undefined, release: () => undefined }),
    snapshot: async () => snapshot,
    publishNames: async (network: string, _node: string, put: PublishedValue[], remove: string[]) => {
      published.push({ network, put, remove });
      return accept;
    },
  } as unknown as Cluster;
  return { cluster, published };
}

function fakeNames(local: NameRecord[] | undefined, imported: NameRecord[] = []) {
  const calls: { put: readonly NameRecord[]; remove: readonly string[] }[] = [];
  let changedAt: () => number | undefined = () => 1;
  const side: NamesSide = {
    local: () => local,
    imported: () => imported,
    importNames: (_network, put, remove) => void calls.push({ put, remove }),
    changedAt: () => changedAt(),
  };
  return {
    side,
    calls,
    failChangedAt: (fn: () => number | undefined) => {
      changedAt = fn;
    },
  };
}

const agentOf = (cluster: Cluster, names: NamesSide, log: string[]) =>
  new OverlayAgent({
    cluster,
    node: 'node1',
    address: '192.0.2.1',
    local: { adopted: () => [], adopt: async () => undefined, drop: async () => undefined, names },
    log: (line) => log.push(line),
  });

const snapshotOf = (names: PublishedName[], rejectedNames: string[] = []): ReadSnapshot => ({
  networks: [apps],
  blocks: [held],
  names,
  rejectedNames,
  revision: '9',
});

describe('OverlayAgent names without a block here', () => {
  it('withdraws what this host published and drops what it imported when it has no names settings of the network', async () => {
    const { cluster, published } = fakeCluster(snapshotOf([mineBefore, theirs]));
    const stale: NameRecord = { owner: 'node2/ep7', names: ['db'], addresses: ['10.240.0.7'], node: 'node2' };
    const names = fakeNames(undefined, [stale]);
    const log: string[] = [];
    const agent = agentOf(cluster, names.side, log);
    await agent.syncNow();
    expect(agent.status().problems).toEqual(['no block of apps is free for node1']);
    expect(published).toEqual([{ network: 'apps', put: [], remove: ['ep1'] }]);
    expect(names.calls).toEqual([{ put: [], remove: ['node2/ep7'] }]);
  });

  it("keeps publishing and importing while the host has the network's names, and logs a refused publish", async () => {
    const { cluster, published } = fakeCluster(snapshotOf([theirs]), false);
    const local: NameRecord = { owner: 'ep1', names: ['web'], addresses: ['10.240.0.9'], netns: '/run/netns/w' };
    const names = fakeNames([local]);
    const log: string[] = [];
    await agentOf(cluster, names.side, log).syncNow();
    expect(published).toEqual([
      { network: 'apps', put: [{ owner: 'ep1', names: ['web'], addresses: ['10.240.0.9'] }], remove: [] },
    ]);
    expect(names.calls).toEqual([
      { put: [{ owner: 'node2/ep7', names: ['db'], addresses: ['10.240.0.7'], node: 'node2' }], remove: [] },
    ]);
    expect(log.filter((l) => l.includes('was refused'))).toHaveLength(1);
  });

  it('logs each name key whose value is no record once', async () => {
    const bad = `/berth/names/apps/node2/${ownerKeyOf('x')}`;
    const { cluster } = fakeCluster(snapshotOf([], [bad]));
    const log: string[] = [];
    const agent = agentOf(cluster, fakeNames(undefined).side, log);
    await agent.syncNow();
    await agent.syncNow();
    expect(log.filter((l) => l.includes(bad))).toHaveLength(1);
  });
});

describe('OverlayAgent looking at the name records', () => {
  it('logs a failure to read them once, without throwing out of the timer', async () => {
    const { cluster } = fakeCluster(snapshotOf([]));
    const names = fakeNames([{ owner: 'ep1', names: ['web'], addresses: ['10.240.0.9'] }]);
    const log: string[] = [];
    const agent = agentOf(cluster, names.side, log);
    await agent.syncNow();
    names.failChangedAt(() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    const look = () => (agent as unknown as { lookAtNames(): void }).lookAtNames();
    for (let i = 0; i < 3; i++) expect(look).not.toThrow();
    expect(log.filter((l) => l.includes('EACCES'))).toHaveLength(1);
  });
});

describe('controllerSide names', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("has no local records of a CNI network's names that share the overlay network's name", () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-overlay-side-'));
    dirs.push(dir);
    const store = NamesStore.in(dir);
    const side = controllerSide({ names: store } as unknown as Controller).names!;
    store.setNetwork({ network: 'apps', listen: ['10.88.0.1'], subnets: ['10.88.0.0/16'], cni: true });
    store.put('apps', { owner: 'c1/eth0', names: ['web'], addresses: ['10.88.0.2'] });
    expect(side.local('apps')).toBeUndefined();
    store.setNetwork({ network: 'apps', listen: ['10.240.0.1'], subnets: ['10.240.0.0/16'] });
    expect(side.local('apps')).toEqual([{ owner: 'c1/eth0', names: ['web'], addresses: ['10.88.0.2'] }]);
  });
});
