import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { NetworkRecord } from '../../network/model.js';
import { NamesStore } from '../../network/names/store.js';
import type { NetConf } from '../types.js';
import { overlayNames, parseNetworkRef, parseNetworkRefForDel } from './overlay.js';

const conf = (raw: Record<string, unknown>): NetConf =>
  ({ cniVersion: '1.0.0', name: 'ovcni', type: 'berth', raw, args: {}, runtimeConfig: {} }) as unknown as NetConf;

describe('parseNetworkRef', () => {
  it('reads "network" with the state dir and lo', () => {
    expect(parseNetworkRef(conf({ network: { driver: 'overlay', name: 'web' } }))).toEqual({
      driver: 'overlay',
      name: 'web',
      stateDir: '/var/lib/berth',
      loopback: false,
    });
    expect(
      parseNetworkRef(conf({ network: { driver: 'overlay', name: 'web' }, stateDir: '/s', loopback: true })),
    ).toMatchObject({
      stateDir: '/s',
      loopback: true,
    });
    expect(parseNetworkRef(conf({ bridge: 'cni0' }))).toBeUndefined();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a string', { network: 'web' }, '"network" must be an object, not "web"'],
    [
      'another driver',
      { network: { driver: 'bridge', name: 'web' } },
      '"network.driver" "bridge" is not one the plugin attaches to',
    ],
    ['no name', { network: { driver: 'overlay' } }, '"network.name" must name the overlay network, not undefined'],
    ['a bad name', { network: { driver: 'overlay', name: '../x' } }, 'invalid network name "../x"'],
    [
      'bridge keys beside it',
      { network: { driver: 'overlay', name: 'web' }, ipam: {}, mtu: 1400 },
      'with "network", the config may not give "ipam", "mtu"',
    ],
  ])('refuses %s with code 7', (_, raw, msg) => {
    expect(failure(() => parseNetworkRef(conf(raw)))).toMatchObject({ code: 7, msg });
  });

  it('lets DEL through a "network" that ADD refused, when it names a network', () => {
    expect(parseNetworkRefForDel(conf({ network: { driver: 'overlay', name: 'web' }, mtu: 1 }))?.name).toBe('web');
    expect(parseNetworkRefForDel(conf({ network: { name: '../x' } }))).toBeUndefined();
    expect(parseNetworkRefForDel(conf({ network: 7 }))).toBeUndefined();
  });
});

describe('overlayNames', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const settings = { network: 'web', listen: ['10.240.1.1'], subnets: ['10.240.0.0/16'], domain: 'ovl.berth' };
  /** A state dir where the agent made overlay network web, with names or without. */
  const setup = (names: boolean) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-plugin-ovnames-'));
    dirs.push(stateDir);
    if (names) NamesStore.in(stateDir).setNetwork(settings);
    const rec = { name: 'web', driver: 'overlay', ...(names ? { dns: { domain: 'ovl.berth' } } : {}) } as NetworkRecord;
    return { ref: { driver: 'overlay' as const, name: 'web', stateDir, loopback: false }, rec };
  };

  it('takes "dns" beside "network" and gives the network\'s own name service and domain', () => {
    const { ref, rec } = setup(true);
    const raw = { network: { driver: 'overlay', name: 'web' }, dns: true };
    expect(parseNetworkRef(conf(raw))?.name).toBe('web');
    expect(overlayNames(ref, rec, raw)).toEqual(settings);
    expect(overlayNames(ref, rec, { ...raw, dns: { domainName: 'ovl.berth' } })).toEqual(settings);
  });

  it("refuses names on a network without them, and another domain than the network's, with code 7", () => {
    const without = setup(false);
    expect(failure(() => overlayNames(without.ref, without.rec, { dns: true }))).toMatchObject({
      code: 7,
      msg: 'overlay network web has no names',
    });
    const { ref, rec } = setup(true);
    expect(failure(() => overlayNames(ref, rec, { dns: { domainName: 'other.test' } }))).toMatchObject({
      code: 7,
      msg: '"dns.domainName" "other.test" is not the domain of overlay network web (ovl.berth)',
    });
  });
});
