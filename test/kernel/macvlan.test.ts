/**
 * macvlan networks against the kernel, through the library, the `berth` command and CNI (libcni's
 * cnitool and single plugin calls). A throwaway netns plays the host, with an uplink `eth0` to a
 * netns that plays the LAN: a bridge there holds the LAN's router (the gateway) and a peer. The
 * sandboxes' macvlans sit on the host's eth0. In bridge mode the host itself cannot reach its
 * sandboxes through eth0, so every check of traffic runs between sandboxes and the LAN.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NetlinkHandle } from '../../netlink/handle.js';
import { deleteNamedNetns, netnsExists } from '../../netlink/netns.js';
import { Controller } from '../../network/controller.js';
import { StateStore } from '../../network/state.js';
import { CniWorkspace, type ProcessRun, ROOT, runCnitool, runPlugin } from '../helpers/cni.js';
import type { IpAddr, IpLink, IpRoute } from '../helpers/ip-json.js';
import { ipamReservations } from '../helpers/ipam.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll, serveInNetns } from '../helpers/servers.js';

const SUBNET = '192.168.77.0/24';
const GATEWAY = '192.168.77.1';
const PEER = '192.168.77.250';
/** The host's own address on the LAN, with its default route through the gateway. */
const HOST_ADDRESS = '192.168.77.254';
const PEER_PORT = 7007;
const BERTH = join(ROOT, 'dist', 'bin', 'berth');
const RUN_TIMEOUT_MS = 30_000;
/** A TCP client of the LAN peer that prints its answer: the address the peer saw. */
const ASK_PEER = `const s = require('node:net').connect(${PEER_PORT}, '${PEER}'); let t = ''; s.on('data', (d) => (t += d)); s.on('end', () => console.log(t)); s.setTimeout(5000, () => process.exit(3));`;

type Json = Record<string, unknown>;

/** The host netns, the LAN's, and the temp dirs of this test. */
interface Lan {
  readonly host: TestNs;
  readonly lan: TestNs;
  readonly hh: NetlinkHandle;
  readonly dir: string;
  readonly stateDir: string;
  readonly dataDir: string;
}

let seq = 0;
/** A sandbox name under this run's prefix, so TestNetns.removeStale() finds what a killed run left. */
const unique = (label: string) => `bt-${process.pid}-mv${++seq}-${label}`;

describe.skipIf(notRoot)(kernelSuite('macvlan networks'), () => {
  const netns = new TestNetns();
  const workspaces: CniWorkspace[] = [];
  const servers: ChildProcess[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    killAll(servers);
    for (const ws of workspaces.splice(0)) ws.remove();
    // The sandboxes the library and the command made, whatever state the test left.
    for (const name of readdirSync('/run/netns')) {
      if (name.startsWith(`bt-${process.pid}-mv`)) deleteNamedNetns(name);
    }
    for (const name of existsSync('/etc/netns') ? readdirSync('/etc/netns') : []) {
      if (name.startsWith(`bt-${process.pid}-mv`)) rmSync(join('/etc/netns', name), { recursive: true, force: true });
    }
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  async function makeLan(): Promise<Lan> {
    const { ns: host, dir, stateDir, dataDir } = await netns.host('mvhost');
    const lan = await netns.create('mvlan');
    const hh = netns.handle(host);
    const hl = netns.handle(lan);
    await hh.createVeth('eth0', 'lan0', { peerNetnsPath: lan.path });
    await hh.addAddress('eth0', `${HOST_ADDRESS}/24`);
    await hh.setLinkUp('eth0');
    await hh.addRoute({ dst: 'default', gateway: GATEWAY });
    await hl.createBridge('br0');
    await hl.setMaster('lan0', 'br0');
    await hl.setLinkUp('lan0');
    await hl.addAddress('br0', `${GATEWAY}/24`, { noDad: true });
    await hl.addAddress('br0', `${PEER}/24`, { noDad: true });
    await hl.setLinkUp('br0');
    return { host, lan, hh, dir, stateDir, dataDir };
  }

  /** A second link from a container to the LAN's bridge: a parent inside the container, for linkInContainer. */
  async function lanLinkInto(l: Lan, c: TestNs, name: string): Promise<void> {
    const hl = netns.handle(l.lan);
    await hl.createVeth('lan1', name, { peerNetnsPath: c.path });
    await hl.setMaster('lan1', 'br0');
    await hl.setLinkUp('lan1');
    await netns.handle(c).setLinkUp(name);
  }

  // --- what the kernel holds, and traffic

  const sandboxNs = (name: string): TestNs => ({ name, path: `/run/netns/${name}` });
  const links = (ns: TestNs) => netns.ipJson<IpLink[]>(ns, ['-d', 'link', 'show']);
  const linkNames = (ns: TestNs) =>
    links(ns)
      .map((l) => l.ifname)
      .sort();
  const link = (ns: TestNs, name: string) => links(ns).find((l) => l.ifname === name);
  const addressesOf = (ns: TestNs, dev: string) =>
    netns
      .ipJson<IpAddr[]>(ns, ['-4', 'address', 'show', 'dev', dev])
      .flatMap((a) => a.addr_info)
      .map((a) => `${a.local}/${a.prefixlen}`);
  const routesOf = (ns: TestNs) =>
    netns.ipJson<IpRoute[]>(ns, ['-4', 'route', 'show']).map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`);

  /** One echo, two seconds to answer; a second try for the first ARP. */
  function pings(from: TestNs, address: string): boolean {
    for (let i = 0; i < 2; i++) {
      try {
        netns.exec(from, ['ping', '-n', '-q', '-c1', '-W2', address]);
        return true;
      } catch {}
    }
    return false;
  }

  /** A TCP server on the LAN peer's address that answers each connection with the address it came from. */
  async function servePeer(l: Lan): Promise<void> {
    const code = `require('node:net').createServer((s) => s.end('from ' + s.remoteAddress)).listen(${PEER_PORT}, '${PEER}', () => console.log('ready'));`;
    await serveInNetns(l.lan.path, code, servers);
  }

  /** What the LAN peer answers a TCP connection from `from`: the address it saw. */
  const askPeer = (from: TestNs) => netns.exec(from, [process.execPath, '-e', ASK_PEER]).trim();

  /** The addresses reserved in an IPAM data dir (host-local's layout), for the network. */
  const reserved = (dataDir: string, network: string) => Object.keys(ipamReservations(dataDir, network)).sort();

  const endpointRecords = (stateDir: string) => new StateStore(stateDir).list('endpoints');

  // --- the library

  it('the library: two sandboxes reach each other, the LAN peer and its router; leaving and removing leave nothing', async () => {
    const l = await makeLan();
    await servePeer(l);
    const ctl = await Controller.open({ stateDir: l.stateDir, hostNetnsPath: l.host.path });
    const net = await ctl.createNetwork({
      name: 'lan',
      driver: 'macvlan',
      subnet: SUBNET,
      gateway: GATEWAY,
      macvlan: { parent: 'eth0' },
    });
    expect(net.record).toMatchObject({
      driver: 'macvlan',
      bridgeName: '',
      mtu: 0,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    });

    const joined = [];
    for (const label of ['a', 'b']) {
      const sb = await ctl.createSandbox({ name: unique(label) });
      const ep = await net.createEndpoint({ name: label });
      await ep.join(sb, { ifname: 'eth0' });
      joined.push({ sb, ep, ns: sandboxNs(sb.name) });
    }
    const [a, b] = joined as [(typeof joined)[0], (typeof joined)[0]];
    expect(a.ep.addresses).toEqual(['192.168.77.2/24']);
    expect(b.ep.addresses).toEqual(['192.168.77.3/24']);
    expect(a.ep.record.join).toMatchObject({ hostVeth: '', ifname: 'eth0' });
    const eth0 = link(a.ns, 'eth0');
    expect(eth0?.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
    expect(eth0?.mtu).toBe(1500); // the parent's
    expect(addressesOf(a.ns, 'eth0')).toEqual(['192.168.77.2/24']);
    expect(routesOf(a.ns)).toEqual([`default via ${GATEWAY}`, SUBNET]);
    // Nothing of it on the host: no bridge, no veth, no firewall table.
    expect(linkNames(l.host)).toEqual(['eth0', 'lo']);
    expect(netns.exec(l.host, ['nft', 'list', 'tables']).trim()).toBe('');

    expect(pings(a.ns, '192.168.77.3')).toBe(true);
    expect(pings(b.ns, '192.168.77.2')).toBe(true);
    expect(pings(a.ns, GATEWAY)).toBe(true);
    expect(pings(b.ns, PEER)).toBe(true);
    expect(askPeer(a.ns)).toBe('from 192.168.77.2');
    expect(askPeer(b.ns)).toBe('from 192.168.77.3');

    await expect(a.ep.publish([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }])).rejects.toMatchObject({
      msg: 'endpoint a of network lan has no address to publish ports to',
    });

    for (const { sb, ep, ns } of joined) {
      await ep.delete();
      expect(linkNames(ns)).toEqual(['lo']);
      await sb.destroy();
      expect(netnsExists(ns.path)).toBe(false);
    }
    expect(reserved(join(l.stateDir, 'ipam'), 'lan')).toEqual([]);
    await net.delete();
    expect(ctl.networks()).toEqual([]);
    expect(linkNames(l.host)).toEqual(['eth0', 'lo']);
  });

  it('the library refuses a parent that is missing, a macvlan in another mode, or with a lower MTU, and a bridge subnet', async () => {
    const l = await makeLan();
    await l.hh.createMacvlan('mvp', 'eth0', { mode: 'vepa' });
    const ctl = await Controller.open({ stateDir: l.stateDir, hostNetnsPath: l.host.path });
    await ctl.createNetwork({ name: 'web', subnet: '10.89.0.0/24', bridgeName: 'bmv0' });
    const lan = { name: 'lan', driver: 'macvlan', subnet: SUBNET, gateway: GATEWAY } as const;
    for (const [opts, msg] of [
      [{ ...lan, macvlan: { parent: 'eth9' } }, 'parent eth9 does not exist in the host netns'],
      [{ ...lan, macvlan: { parent: 'mvp' } }, 'parent mvp is itself a macvlan in vepa mode, not bridge'],
      [{ ...lan, mtu: 9000, macvlan: { parent: 'eth0' } }, 'MTU 9000 is above the MTU 1500 of parent eth0'],
      [
        { ...lan, subnet: '10.89.0.0/16', gateway: '10.89.1.1', macvlan: { parent: 'eth0' } },
        'subnet 10.89.0.0/16 overlaps network "web" (10.89.0.0/24)',
      ],
    ] as const) {
      await expect(ctl.createNetwork(opts)).rejects.toMatchObject({ code: 7, msg });
    }
    expect(ctl.networks().map((n) => n.name)).toEqual(['web']);
    // A macvlan on a macvlan in its own mode is the kernel's to stack.
    await ctl.createNetwork({ ...lan, macvlan: { parent: 'mvp', mode: 'vepa' } });
    await ctl.network('lan').delete();
    await ctl.network('web').delete();
  });

  // --- CNI

  function conflist(type: string, dataDir: string, stateDir: string, plugin: Json = {}, ipamType = 'host-local'): Json {
    return {
      cniVersion: '1.0.0',
      name: 'mvnet',
      plugins: [
        {
          type,
          master: 'eth0',
          capabilities: { mac: true },
          stateDir,
          ipam: {
            type: ipamType,
            subnet: SUBNET,
            rangeStart: '192.168.77.10',
            rangeEnd: '192.168.77.50',
            gateway: GATEWAY,
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir,
          },
          ...plugin,
        },
      ],
    };
  }

  /** ADD, CHECK, traffic and DEL of two containers through libcni; what each ADD printed. */
  async function throughCnitool(l: Lan, type: string): Promise<{ adds: Json[]; routes: string[] }> {
    const ws = new CniWorkspace('macvlan');
    workspaces.push(ws);
    const dataDir = join(l.dir, `${type}-ipam`);
    const stateDir = join(l.dir, `${type}-state`);
    ws.writeConflist(conflist(type, dataDir, stateDir) as { name: string });
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    const opts = (id: string, more = {}) => ws.options({ hostNetns: l.host.path, containerId: id, ...more });
    const mac = { mac: '02:42:c0:a8:4d:0a' };
    const add1 = runCnitool('add', 'mvnet', c1.path, opts('ctr1', { capArgs: mac }));
    expect(add1.code, `${type} ADD: ${add1.stdout}${add1.stderr}`).toBe(0);
    const add2 = runCnitool('add', 'mvnet', c2.path, opts('ctr2'));
    expect(add2.code, `${type} ADD: ${add2.stdout}${add2.stderr}`).toBe(0);
    for (const [c, id] of [
      [c1, 'ctr1'],
      [c2, 'ctr2'],
    ] as const) {
      const check = runCnitool('check', 'mvnet', c.path, opts(id));
      expect(check.code, `${type} CHECK: ${check.stdout}${check.stderr}`).toBe(0);
    }
    expect(link(c1, 'eth0')).toMatchObject({
      address: mac.mac,
      linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } },
    });
    expect(reserved(dataDir, 'mvnet')).toEqual(['192.168.77.10', '192.168.77.11']);
    expect(pings(c1, '192.168.77.11')).toBe(true);
    expect(pings(c2, '192.168.77.10')).toBe(true);
    expect(pings(c1, GATEWAY)).toBe(true);
    expect(askPeer(c2)).toBe('from 192.168.77.11');
    const routes = routesOf(c1);

    for (const [c, id] of [
      [c1, 'ctr1'],
      [c2, 'ctr2'],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const del = runCnitool('del', 'mvnet', c.path, opts(id));
        expect(del.code, `${type} DEL: ${del.stdout}${del.stderr}`).toBe(0);
      }
      expect(linkNames(c)).toEqual(['lo']);
    }
    expect(reserved(dataDir, 'mvnet')).toEqual([]);
    expect(existsSync(stateDir) ? endpointRecords(stateDir) : []).toEqual([]);
    expect(linkNames(l.host)).toEqual(['eth0', 'lo']);
    return { adds: [add1.json as Json, add2.json as Json], routes };
  }

  it('through cnitool, the same conflist gives the same addresses, routes and reachability with the reference macvlan and berth-macvlan', async () => {
    const l = await makeLan();
    await servePeer(l);
    const reference = await throughCnitool(l, 'macvlan');
    const berth = await throughCnitool(l, 'berth-macvlan');
    const shape = (r: Json) => ({
      interfaces: (r.interfaces as Json[]).map((i) => ({ name: i.name, sandbox: typeof i.sandbox })),
      ips: r.ips,
    });
    expect(berth.adds.map(shape)).toEqual(reference.adds.map(shape));
    expect(berth.adds[0]).toMatchObject({
      interfaces: [{ name: 'eth0', mac: '02:42:c0:a8:4d:0a' }],
      ips: [{ address: '192.168.77.10/24', gateway: GATEWAY, interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: GATEWAY }],
    });
    expect(berth.routes).toEqual(reference.routes);
    expect(berth.routes).toEqual([`default via ${GATEWAY}`, SUBNET]);
  });

  /** One plugin call in the host netns. */
  function call(l: Lan, exe: string, command: string, c: TestNs | undefined, config: Json, args?: string): ProcessRun {
    return runPlugin(
      exe,
      { command, containerId: 'ctr', ...(c ? { netns: c.path } : {}), ...(args ? { args } : {}) },
      config,
      { hostNetns: l.host.path },
    );
  }

  function pluginConf(l: Lan, type: string, extra: Json = {}, ipam: Json = {}): Json {
    const plugin = (conflist(type, l.dataDir, l.stateDir, {}, 'berth-ipam').plugins as Json[])[0]!;
    const { capabilities: _, ...rest } = plugin;
    return {
      cniVersion: '1.1.0',
      name: 'mvnet',
      ...rest,
      ipam: { ...(rest.ipam as Json), ...ipam },
      ...extra,
    };
  }

  it('berth-macvlan takes the device of the default route for a missing master, a MAC from CNI_ARGS, and a parent inside the container', async () => {
    const l = await makeLan();
    const c = await netns.create('c');
    // The example conflist's plugin, on this test's LAN, with its master left out.
    const example = JSON.parse(readFileSync(join(ROOT, 'conf', 'berth-macvlan.conflist'), 'utf8')) as {
      plugins: Json[];
    };
    const { master: _, capabilities: __, ...plugin } = example.plugins[0]!;
    const range = { subnet: SUBNET, rangeStart: '192.168.77.10', rangeEnd: '192.168.77.50', gateway: GATEWAY };
    const noMaster = {
      cniVersion: '1.1.0',
      name: 'mvnet',
      ...plugin,
      stateDir: l.stateDir,
      ipam: { ...(plugin.ipam as Json), ranges: [[range]], dataDir: l.dataDir },
    };
    const add = call(l, 'berth-macvlan', 'ADD', c, noMaster, 'IgnoreUnknown=1;MAC=02:42:c0:a8:4d:21');
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json).toMatchObject({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '02:42:c0:a8:4d:21', sandbox: c.path }],
      ips: [{ address: '192.168.77.10/24', gateway: GATEWAY, interface: 0 }],
    });
    expect(pings(c, PEER)).toBe(true);
    const check = call(l, 'berth-macvlan', 'CHECK', c, { ...noMaster, prevResult: add.json });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    // CHECK names what changed: the mode the config says is not the one the kernel holds.
    const otherMode = call(l, 'berth-macvlan', 'CHECK', c, { ...noMaster, mode: 'vepa', prevResult: add.json });
    expect(otherMode.json).toMatchObject({
      code: 999,
      msg: `macvlan eth0 in ${c.path} is in bridge mode, the config says vepa`,
    });
    expect(call(l, 'berth-macvlan', 'DEL', c, noMaster).code).toBe(0);
    expect(linkNames(c)).toEqual(['lo']);
    // The example's "loopback": true: lo went down with the attachment, as a loopback plugin's DEL does.
    expect(link(c, 'lo')?.flags).not.toContain('UP');
    await netns.handle(c).setLinkUp('lo');

    await lanLinkInto(l, c, 'lanc');
    const inside = pluginConf(l, 'berth-macvlan', { master: 'lanc', linkInContainer: true, mode: 'private' });
    const add2 = call(l, 'berth-macvlan', 'ADD', c, inside);
    expect(add2.code, add2.stdout + add2.stderr).toBe(0);
    expect(link(c, 'eth0')?.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'private' } });
    expect(pings(c, GATEWAY)).toBe(true);
    expect(call(l, 'berth-macvlan', 'CHECK', c, { ...inside, prevResult: add2.json }).code).toBe(0);
    expect(call(l, 'berth-macvlan', 'DEL', c, inside).code).toBe(0);
    expect(linkNames(c)).toEqual(['lanc', 'lo']);
    expect(reserved(l.dataDir, 'mvnet')).toEqual([]);
    // DEL without the netns, and again: success.
    expect(call(l, 'berth-macvlan', 'DEL', undefined, inside).code).toBe(0);
  });

  it('the all-in-one plugin takes "macvlan", refuses published ports on it, and leaves nothing', async () => {
    const l = await makeLan();
    const [c1, c2] = [await netns.create('c1'), await netns.create('c2')];
    const { master: _, ...rest } = pluginConf(l, 'berth');
    const conf = { ...rest, macvlan: { master: 'eth0', mode: 'bridge' }, loopback: true };
    const add = call(l, 'berth', 'ADD', c1, conf);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json).toMatchObject({
      interfaces: [{ name: 'eth0', sandbox: c1.path }],
      ips: [{ address: '192.168.77.10/24' }],
    });
    expect(pings(c1, PEER)).toBe(true);
    expect(call(l, 'berth', 'CHECK', c1, { ...conf, prevResult: add.json }).code).toBe(0);
    expect(endpointRecords(l.stateDir)).toMatchObject([{ cni: { driver: 'macvlan', containerId: 'ctr' } }]);

    const ports = { runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } };
    const refused = call(l, 'berth', 'ADD', c2, { ...conf, ...ports });
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({
      code: 7,
      msg: 'portMappings on macvlan network mvnet: its containers are on the LAN with addresses of their own, and no host port leads to them',
    });
    expect(linkNames(c2)).toEqual(['lo']);

    expect(call(l, 'berth', 'DEL', c1, conf).code).toBe(0);
    expect(linkNames(c1)).toEqual(['lo']);
    expect(reserved(l.dataDir, 'mvnet')).toEqual([]);
    expect(endpointRecords(l.stateDir)).toEqual([]);
  });

  it('berth-macvlan refuses bad input with code 7 naming the value, and leaves nothing', async () => {
    const l = await makeLan();
    const c = await netns.create('c');
    await l.hh.createMacvlan('mvp', 'eth0', { mode: 'vepa' });
    const ctl = await Controller.open({ stateDir: join(l.dir, 'lib'), hostNetnsPath: l.host.path });
    await ctl.createNetwork({ name: 'web', subnet: '10.89.0.0/24', bridgeName: 'bmv0' });
    const cases: [string, Json, string][] = [
      [
        'a missing parent',
        pluginConf(l, 'berth-macvlan', { master: 'eth9' }),
        'parent eth9 does not exist in the host netns',
      ],
      [
        'a parent that is a macvlan in another mode',
        pluginConf(l, 'berth-macvlan', { master: 'mvp' }),
        'parent mvp is itself a macvlan in vepa mode, not bridge',
      ],
      [
        "a berth bridge network's subnet",
        pluginConf(
          l,
          'berth-macvlan',
          {},
          { subnet: '10.89.0.0/24', rangeStart: '10.89.0.10', rangeEnd: '10.89.0.20', gateway: '10.89.0.1' },
        ),
        'address 10.89.0.10/24 is in 10.89.0.0/24, which this host routes to bridge bmv0',
      ],
      [
        "an MTU above the parent's",
        pluginConf(l, 'berth-macvlan', { mtu: 9000 }),
        'MTU 9000 is above the MTU 1500 of parent eth0',
      ],
      [
        'an unknown mode',
        pluginConf(l, 'berth-macvlan', { mode: 'passthrough' }),
        'unknown macvlan mode "passthrough"',
      ],
    ];
    for (const [what, conf, msg] of cases) {
      const r = call(l, 'berth-macvlan', 'ADD', c, conf);
      expect([what, r.code, r.json], r.stderr).toMatchObject([what, 1, { code: 7, msg: expect.stringContaining(msg) }]);
      expect(linkNames(c)).toEqual(['lo']);
      expect(reserved(l.dataDir, 'mvnet')).toEqual([]);
      expect(existsSync(l.stateDir) ? endpointRecords(l.stateDir) : []).toEqual([]);
      // DEL after the failed ADD succeeds, as a runtime sends it.
      expect(call(l, 'berth-macvlan', 'DEL', c, conf).code).toBe(0);
    }
    expect(linkNames(l.host)).toEqual(['bmv0', 'eth0', 'lo', 'mvp']);
    await ctl.network('web').delete();
  });

  // --- the command

  it('the berth command: create, inspect, connect, run; -p and bad input refused in one line; doctor finds a parent gone', async () => {
    const l = await makeLan();
    await servePeer(l);
    await l.hh.createMacvlan('mvp', 'eth0', { mode: 'vepa' });
    const berth = (args: readonly string[]) => {
      const r = spawnSync(BERTH, ['--state-dir', l.stateDir, '--host-netns', l.host.path, ...args], {
        encoding: 'utf8',
        timeout: RUN_TIMEOUT_MS,
      });
      if (r.error) throw r.error;
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (args: readonly string[]) => {
      const r = berth(args);
      expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const refused = (args: readonly string[], code: number, line: RegExp) => {
      const r = berth(args);
      expect([args.join(' '), r.code], r.stderr).toEqual([args.join(' '), code]);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(line);
    };
    const create = ['network', 'create', 'lan', '--driver', 'macvlan', '--subnet', SUBNET, '--gateway', GATEWAY];

    ok(['network', 'create', 'web', '--subnet', '10.89.0.0/24', '--bridge', 'bmv0', '--no-dns']);
    refused([...create, '--parent', 'eth9'], 1, /^berth: parent eth9 does not exist in the host netns/);
    refused([...create, '--parent', 'mvp'], 1, /^berth: parent mvp is itself a macvlan in vepa mode, not bridge/);
    refused(
      [...create, '--parent', 'eth0', '--mtu', '9000'],
      1,
      /^berth: MTU 9000 is above the MTU 1500 of parent eth0/,
    );
    refused(
      ['network', 'create', 'lan', '--driver', 'macvlan', '--parent', 'eth0', '--subnet', '10.89.0.0/24'],
      1,
      /^berth: subnet 10\.89\.0\.0\/24 overlaps network "web" \(10\.89\.0\.0\/24\)/,
    );
    refused(
      ['network', 'create', 'x', '--parent', 'eth0'],
      2,
      /^berth: --parent is for a macvlan network, and --driver is bridge/,
    );
    expect(ok([...create, '--parent', 'eth0'])).toBe('lan\n');

    const [view] = JSON.parse(ok(['network', 'inspect', 'lan', '--json'])) as Json[];
    expect(view).toMatchObject({
      driver: 'macvlan',
      bridge: null,
      mtu: 0,
      macvlan: { parent: 'eth0', mode: 'bridge' },
    });
    const text = ok(['network', 'inspect', 'lan']);
    expect(text).toContain('parent:     eth0\n');
    expect(text).toContain('mode:       bridge\n');

    const a = unique('a');
    ok(['sandbox', 'create', a]);
    expect(ok(['connect', 'lan', a])).toBe(`${a} eth0 192.168.77.2/24\n`);
    expect(pings(sandboxNs(a), PEER)).toBe(true);
    expect(
      ok(['run', '--network', 'lan', '--name', unique('r'), '--', 'ping', '-n', '-q', '-c1', '-W2', '192.168.77.2']),
    ).toContain('1 received');
    expect(ok(['run', '--network', 'lan', '--name', unique('r'), '--', process.execPath, '-e', ASK_PEER])).toMatch(
      /^from 192\.168\.77\.(?!2\n)\d+\n$/,
    );
    refused(
      ['run', '--network', 'lan', '-p', '8080:80', '--', 'true'],
      2,
      /^berth: -p publishes ports of a bridge network, and --network lan is not one/,
    );
    const healthy = berth(['doctor', '--no-kernel']);
    expect(healthy.code, healthy.stdout).toBe(0);

    // The parent goes: the kernel takes the sandbox's macvlan with it, and doctor says so.
    await l.hh.deleteLink('eth0');
    const sick = berth(['doctor', '--no-kernel']);
    expect(sick.code).toBe(1);
    expect(sick.stdout).toContain(
      'FAIL state: network lan: its parent eth0 is gone from the host netns; fix: bring eth0 back, then reconnect the sandboxes on lan (their macvlans went with it); or remove the network',
    );
    expect(sick.stdout).toContain(
      `FAIL state: endpoint ${a} of network lan: its interface eth0 is gone from /run/netns/${a}`,
    );
    ok(['disconnect', 'lan', a]);
    ok(['sandbox', 'rm', a]);
    ok(['network', 'rm', 'lan', 'web']);
    expect(JSON.parse(ok(['network', 'ls', '--json']))).toEqual([]);
  });
});
