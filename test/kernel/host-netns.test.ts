/**
 * A CNI_NETNS that is the host's own network namespace is refused with code 4 by every plugin that
 * enters the container's netns (berth-bridge, berth-loopback, the all-in-one berth), on ADD and
 * CHECK, and the host is left as it was: its links, addresses and routes, read through netlink
 * before and after, and no reservation or record. The plugins run in a netns playing the host, so
 * their own netns is that one, under /proc/self/ns/net or its /run/netns path. The machine's own
 * netns (PID 1's) is tried with CHECK alone, which changes nothing even if it were taken.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NetlinkHandle } from '../../netlink/handle.js';
import { netnsIdentity } from '../../netlink/netns.js';
import { type ProcessRun, runPlugin } from '../helpers/cni.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

type Json = Record<string, unknown>;

const VERSION = '1.1.0';
const HOST_IP = '192.0.2.1/24';
const HOST_IP6 = '2001:db8:2::1/64';
const OUT_IP = '192.0.2.2';

interface Host {
  readonly ns: TestNs;
  readonly dir: string;
}

/** The host's links, addresses and routes, in a form that compares as a whole. */
async function snapshot(h: NetlinkHandle): Promise<Json> {
  const links = (await h.listLinks()).map((l) => ({
    index: l.index,
    name: l.name,
    type: l.type,
    mtu: l.mtu,
    mac: l.mac,
    up: l.up,
    masterIndex: l.masterIndex,
  }));
  const addresses = (await h.listAddresses()).map((a) => `${a.index} ${a.cidr}`).sort();
  const routes = [...(await h.listRoutes({ family: 4 })), ...(await h.listRoutes({ family: 6 }))]
    .map((r) => `${r.family} ${r.table} ${r.type} ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`)
    .sort();
  return { links, addresses, routes };
}

/** Every file under dir but lock files: what a refused call must not have left. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name !== 'lock' && d.name !== '.lock')
    .map((d) => join(d.parentPath, d.name));
}

describe.skipIf(notRoot)(kernelSuite("CNI_NETNS naming the host's netns"), () => {
  const netns = new TestNetns();
  const dirs: string[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  /** A host with an eth0 (its uplink to a client), addresses of both families, a default route, and lo down. */
  async function makeHost(): Promise<Host> {
    const ns = await netns.create('host');
    const out = await netns.create('out');
    netns.exec(ns, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out.name]);
    netns.exec(ns, ['ip', 'address', 'add', HOST_IP, 'dev', 'eth0']);
    netns.exec(ns, ['ip', '-6', 'address', 'add', HOST_IP6, 'dev', 'eth0', 'nodad']);
    netns.exec(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    netns.exec(ns, ['ip', 'route', 'add', 'default', 'via', OUT_IP]);
    await netns.handle(ns).setLinkDown('lo');
    const dir = mkdtempSync(join(tmpdir(), 'berth-hostns-'));
    dirs.push(dir);
    return { ns, dir };
  }

  const bridgeKeys = (h: Host): Json => ({
    bridge: 'bthbr0',
    isGateway: true,
    ipMasq: true,
    stateDir: join(h.dir, 'state'),
    ipam: { type: 'berth-ipam', dataDir: join(h.dir, 'ipam'), ranges: [[{ subnet: '10.78.0.0/24' }]] },
  });
  const plugins: readonly { readonly exe: string; readonly conf: (h: Host) => Json }[] = [
    { exe: 'berth-bridge', conf: (h) => ({ type: 'berth-bridge', ...bridgeKeys(h), loopback: true }) },
    { exe: 'berth-loopback', conf: () => ({ type: 'berth-loopback' }) },
    {
      exe: 'berth',
      conf: (h) => ({
        type: 'berth',
        ...bridgeKeys(h),
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      }),
    },
  ];

  const call = (h: Host, exe: string, command: string, cniNetns: string, conf: Json): ProcessRun =>
    runPlugin(
      exe,
      { command, containerId: 'ctr1', netns: cniNetns },
      { cniVersion: VERSION, name: 'bt-hostns', ...conf, ...(command === 'CHECK' ? { prevResult: {} } : {}) },
      { hostNetns: h.ns.path },
    );

  for (const { exe, conf } of plugins) {
    it(`${exe}: ADD and CHECK refuse the plugin's own netns and the host's with code 4, and change nothing`, async () => {
      const h = await makeHost();
      const handle = netns.handle(h.ns);
      const before = await snapshot(handle);
      const own = [
        ['/proc/self/ns/net', 'ADD'],
        ['/proc/self/ns/net', 'CHECK'],
        [h.ns.path, 'ADD'],
        [h.ns.path, 'CHECK'],
      ] as const;
      for (const [path, command] of own) {
        const r = call(h, exe, command, path, conf(h));
        expect([command, path, r.code, r.json]).toEqual([
          command,
          path,
          1,
          {
            cniVersion: VERSION,
            code: 4,
            msg: `CNI_NETNS ${path} is the network namespace the plugin runs in (the host's), not a container's`,
            details: expect.stringContaining("give the container's own netns"),
          },
        ]);
        expect(await snapshot(handle), `the host after ${command} ${path}`).toEqual(before);
      }
      // Where PID 1 may not be looked at (another user's, or not dumpable), neither may its netns be entered.
      const machine = call(h, exe, 'CHECK', '/proc/1/ns/net', conf(h));
      expect(machine.json).toMatchObject({
        code: 4,
        msg:
          netnsIdentity('/proc/1/ns/net') === null
            ? 'CNI_NETNS /proc/1/ns/net may not be looked at (permission denied)'
            : "CNI_NETNS /proc/1/ns/net is the host's network namespace (that of PID 1), not a container's",
      });
      expect(await snapshot(handle)).toEqual(before);
      expect(filesUnder(h.dir)).toEqual([]);
    });
  }

  it("DEL of the host's netns leaves the host's lo up (berth-loopback, berth-bridge with loopback)", async () => {
    const h = await makeHost();
    const handle = netns.handle(h.ns);
    await handle.setLinkUp('lo');
    const before = await snapshot(handle);
    for (const { exe, conf } of plugins.slice(0, 2)) {
      const r = call(h, exe, 'DEL', '/proc/self/ns/net', conf(h));
      expect([exe, r.code, r.stdout]).toEqual([exe, 0, '']);
      expect(r.stderr).toContain("is the host's: nothing to do");
      expect(await snapshot(handle)).toEqual(before);
    }
  });
});
