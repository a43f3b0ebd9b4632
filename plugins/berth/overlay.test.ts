import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { NetworkRecord } from '../../network/model.js';
import { NamesStore } from '../../network/names/store.js';
import type { AddRequest, CheckRequest, NetConf } from '../types.js';
import { addOverlayNames, checkOverlayNames, overlayNames, parseNetworkRef, parseNetworkRefForDel } from './overlay.js';

// The service's launch is the kernel tests' (it binds port 53 in the host's netns): here, that it is asked for.
const launched = vi.hoisted(() => [] as string[]);
vi.mock('../../network/names/launch.js', () => ({
  ensureNameService: async (_stateDir: string, options: { network: string }) => void launched.push(options.network),
}));

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

describe('addOverlayNames', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    launched.splice(0);
  });
  const result = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }],
    ips: [{ address: '10.240.1.5/24', gateway: '10.240.1.1', interface: 0 }],
  };
  const request = (args: [string, string][], runtimeConfig: Record<string, unknown> = {}) =>
    ({
      command: 'ADD',
      containerId: 'c1',
      netns: '/run/netns/c1',
      ifName: 'eth0',
      args: new Map(args),
      path: [],
      config: { ...conf({}), runtimeConfig, prevResult: result },
    }) as unknown as AddRequest;
  const check = (req: AddRequest) => ({ ...req, command: 'CHECK' }) as unknown as CheckRequest;
  const setup = () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'berth-plugin-ovadd-'));
    dirs.push(stateDir);
    NamesStore.in(stateDir).setNetwork({ network: 'web', listen: ['10.240.1.1'], subnets: ['10.240.0.0/16'] });
    return { driver: 'overlay' as const, name: 'web', stateDir, loopback: false };
  };

  it('writes no record for a container with neither name nor alias, starts the service, and CHECK passes', async () => {
    const ref = setup();
    const req = request([]);
    await addOverlayNames(ref, req, result);
    expect(NamesStore.in(ref.stateDir).records('web')).toEqual([]);
    expect(launched).toEqual(['web']);
    await expect(checkOverlayNames(ref, check(req))).resolves.toBeUndefined();
  });

  it('writes the record of a named container, and CHECK fails when it is gone', async () => {
    const ref = setup();
    const req = request([['K8S_POD_NAME', 'Api']], { aliases: { ovcni: ['backend'] } });
    await addOverlayNames(ref, req, result);
    expect(NamesStore.in(ref.stateDir).records('web')).toMatchObject([
      { names: ['api', 'backend'], addresses: ['10.240.1.5'], netns: '/run/netns/c1' },
    ]);
    await expect(checkOverlayNames(ref, check(req))).resolves.toBeUndefined();
    NamesStore.in(ref.stateDir).removeNetwork('web');
    await expect(checkOverlayNames(ref, check(req))).rejects.toThrow(/holds no names/);
  });
});
