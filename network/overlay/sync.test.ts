import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot, HeldBlock } from './model.js';
import { isEmptyPlan, type Programmed, planSync, remotesOf } from './sync.js';

const block = (node: string, i: number, over: Partial<HeldBlock> = {}): HeldBlock => ({
  network: 'web',
  block: `10.240.${i}.0/24`,
  node,
  address: `192.168.77.${i}`,
  vtepMac: `02:00:00:00:00:0${i}`,
  lease: '1',
  modRevision: '1',
  ...over,
});
const snapshot: ClusterSnapshot = {
  networks: [{ name: 'web', subnet: '10.240.0.0/16', blockPrefix: 24, vni: 1, mtu: 0, createdAt: '' }],
  blocks: [block('n1', 1), block('n2', 2), block('n3', 3), block('n9', 9, { network: 'db' })],
};
const nothing: Programmed = { routes: [], neighbours: [], fdb: [] };

/** What the kernel holds once a plan is applied to `present`. */
function applied(present: Programmed, plan: ReturnType<typeof planSync>): Programmed {
  const routes = present.routes.filter(
    (r) => !plan.deleteRoutes.some((d) => d.dst === r.dst && d.gateway === r.gateway),
  );
  const neighbours = present.neighbours.filter(
    (n) => !plan.deleteNeighbours.includes(n.ip) && !plan.setNeighbours.some((s) => s.ip === n.ip),
  );
  const fdb = present.fdb.filter((e) => !plan.deleteFdb.some((d) => d.mac === e.mac && d.dst === e.dst));
  return {
    routes: [...routes, ...plan.addRoutes],
    neighbours: [...neighbours, ...plan.setNeighbours],
    fdb: [...fdb, ...plan.setFdb],
  };
}

describe('remotesOf', () => {
  it("lists the other hosts' blocks of the network, not this host's nor another network's", () => {
    expect(remotesOf(snapshot, 'web', 'n1')).toEqual([
      {
        block: '10.240.2.0/24',
        node: 'n2',
        vtepIp: '10.240.2.0',
        vtepMac: '02:00:00:00:00:02',
        underlay: '192.168.77.2',
      },
      {
        block: '10.240.3.0/24',
        node: 'n3',
        vtepIp: '10.240.3.0',
        vtepMac: '02:00:00:00:00:03',
        underlay: '192.168.77.3',
      },
    ]);
  });
});

describe('planSync', () => {
  const remotes = remotesOf(snapshot, 'web', 'n1');

  it('adds a route, a neighbour and an FDB entry per remote on an empty device', () => {
    expect(planSync(remotes, nothing)).toEqual({
      deleteRoutes: [],
      deleteNeighbours: [],
      deleteFdb: [],
      setFdb: [
        { mac: '02:00:00:00:00:02', dst: '192.168.77.2' },
        { mac: '02:00:00:00:00:03', dst: '192.168.77.3' },
      ],
      setNeighbours: [
        { ip: '10.240.2.0', mac: '02:00:00:00:00:02' },
        { ip: '10.240.3.0', mac: '02:00:00:00:00:03' },
      ],
      addRoutes: [
        { dst: '10.240.2.0/24', gateway: '10.240.2.0' },
        { dst: '10.240.3.0/24', gateway: '10.240.3.0' },
      ],
    });
  });

  it('plans nothing once applied: idempotent', () => {
    const once = applied(nothing, planSync(remotes, nothing));
    expect(isEmptyPlan(planSync(remotes, once))).toBe(true);
  });

  it('removes a host that left, and only its entries', () => {
    const full = applied(nothing, planSync(remotes, nothing));
    const plan = planSync(remotes.slice(0, 1), full);
    expect(plan).toMatchObject({
      deleteRoutes: [{ dst: '10.240.3.0/24', gateway: '10.240.3.0' }],
      deleteNeighbours: ['10.240.3.0'],
      deleteFdb: [{ mac: '02:00:00:00:00:03', dst: '192.168.77.3' }],
      setFdb: [],
      setNeighbours: [],
      addRoutes: [],
    });
    expect(isEmptyPlan(planSync([], applied(full, planSync([], full))))).toBe(true);
  });

  it('follows a host to a new underlay address and a new MAC, case aside', () => {
    const full = applied(nothing, planSync(remotes, nothing));
    const moved = remotesOf(
      { ...snapshot, blocks: [block('n2', 2, { address: '192.168.77.22', vtepMac: '02:00:00:00:00:AA' })] },
      'web',
      'n1',
    );
    const plan = planSync(moved, full);
    expect(plan.deleteFdb).toEqual([
      { mac: '02:00:00:00:00:02', dst: '192.168.77.2' },
      { mac: '02:00:00:00:00:03', dst: '192.168.77.3' },
    ]);
    expect(plan.setFdb).toEqual([{ mac: '02:00:00:00:00:aa', dst: '192.168.77.22' }]);
    expect(plan.setNeighbours).toEqual([{ ip: '10.240.2.0', mac: '02:00:00:00:00:aa' }]);
    expect(plan.addRoutes).toEqual([]);
  });

  it('replaces a route to a block through a wrong gateway', () => {
    const plan = planSync(remotes.slice(0, 1), {
      ...nothing,
      routes: [{ dst: '10.240.2.0/24', gateway: '10.240.2.9' }],
    });
    expect(plan.deleteRoutes).toEqual([{ dst: '10.240.2.0/24', gateway: '10.240.2.9' }]);
    expect(plan.addRoutes).toEqual([{ dst: '10.240.2.0/24', gateway: '10.240.2.0' }]);
  });
});
